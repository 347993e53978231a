"""Gaussian-proposal kernels: random-walk Metropolis, MALA, ULA and SGLD.

All four share one proposal

    y = x + δ (ε²/2) M ∇log p(x) + ε L ξ,        ξ ~ N(0, I),  M = L Lᵀ,

with δ = 1 (Langevin drift) or δ = 0 (random walk), so q(·|x) = N(x + δ(ε²/2)M∇log p(x), ε²M).
φ = [log step_size, θ] (θ: :mod:`.precond` layout). For RWM/MALA/ULA step_size = ε. For SGLD
step_size is the Welling–Teh step ε_WT (y = x + (ε_WT/2) M ĝ + √ε_WT L ξ), i.e. ε = √ε_WT.

Metropolis ratio without any solve: with s = ∇log p(x) + ∇log p(y) and
w = ξ + δ(ε/2) Lᵀ s, one has L⁻¹(x − μ(y))/ε = −w, hence

    log r = log p(y) − log p(x) − ½‖w‖² + ½‖ξ‖².
"""

import numpy as np

from .._validation import check_columns, positive_float, positive_int
from ..errors import InputError
from ._diag_numba import gaussian_move, gaussian_reverse_noise, row_weighted_colsums
from .base import Proposal, collapsed, evaluate, hvp_rows, minibatch, zero_hessian
from .precond import L_rows, LT_rows, M_rows
from .preconditioned import PreconditionedTransition


class _GaussianProposal(PreconditionedTransition):
    _drift = 1.0  # δ
    _kappa = 1.0  # ε = exp(κ φ[0])

    def _eps(self, phi):
        return np.exp(self._kappa * phi[0])  # numpy float: overflow gives inf, not an exception

    def propose(self, model, state, phi, noise):
        """Proposal for every chain; one gradient evaluation per chain (at y)."""
        n, d = self._check_state(model, state)
        phi = self._check_phi(phi, d)
        self._check_noise(noise, n, d)
        _, theta, _ = self._split(phi, d)
        F = self._pre(d).factor(theta)
        eps = self._eps(phi)
        batch = minibatch(model, self.batch_size, noise.batch_seed)
        diagonal = F.ndim == 1
        with np.errstate(over="ignore", invalid="ignore"):
            if diagonal:
                y = gaussian_move(state.x, noise.xi, state.grad, F, float(eps),
                                  float(0.5 * eps**2) if self._drift else 0.0)
            else:
                y = state.x + eps * L_rows(F, noise.xi)
                if self._drift:
                    y += (0.5 * eps**2) * M_rows(F, state.grad)
            lp_y, g_y, ok, evaluated = evaluate(model, y, batch=batch)
        cache = {}
        if self.metropolis:
            if diagonal:
                s, w = gaussian_reverse_noise(noise.xi, state.grad, g_y, F,
                                              float(0.5 * eps * self._drift))
            else:
                s = state.grad + g_y
                w = noise.xi + (0.5 * eps * self._drift) * LT_rows(F, s)
            with np.errstate(over="ignore", invalid="ignore"):
                logr = (
                    lp_y - state.logp - 0.5 * np.einsum("ij,ij->i", w, w)
                    + 0.5 * np.einsum("ij,ij->i", noise.xi, noise.xi)
                )
            ok &= np.isfinite(logr)
            cache = {"s": s, "w": w}
        else:
            ok &= ~collapsed(lp_y, state.logp, batch)
            logr = np.zeros(n)
        div = ~ok
        if div.any():
            y[div] = state.x[div]
            lp_y[div] = state.logp[div]
            g_y[div] = state.grad[div]
            logr[div] = -np.inf
        return Proposal(
            y=y, logp_y=lp_y, grad_y=g_y, log_accept_ratio=logr,
            n_grad=evaluated.astype(np.int64), diverging=div, cache=cache,
        )

    def _phi_vjp(self, pre, state, F, eps, noise, r, A):
        """L-gradient accumulator of Σᵢ cᵢᵀyᵢ for the cotangents cᵢ = rᵢ aᵢ (row weights
        r (n,), A (n, d)). y depends on L through ε L ξ and δ(ε²/2) L Lᵀ g, whose
        L-gradient is outer(c, Lᵀg) + outer(g, Lᵀc). The log ε part follows from it, see
        :meth:`_dphi`."""
        g = state.grad
        if pre.kind != "dense":
            # diagonal L: both drift terms are F ⊙ Σᵢ cᵢ ⊙ gᵢ; one fused pass
            S = row_weighted_colsums(r, A, noise.xi, g)
            return eps * S[0] + (self._drift * eps**2) * F * S[1]
        C = r[:, None] * A
        G = eps * pre.outer(C, noise.xi)
        if self._drift:
            G = G + (0.5 * eps**2) * (pre.outer_LT(F, C, g) + pre.outer_LT(F, g, C))
        return G

    def _dphi(self, pre, F, G):
        """φ-gradient from an accumulated L-gradient G. Everything here depends on (ε, L)
        only through the products εL (the drift through (εL)(εL)ᵀ, the log ratio through
        ε Lᵀ), so by Euler's theorem ∂/∂log ε = ⟨G, L⟩ (Frobenius; L vanishes where G is
        not accumulated): one dot product instead of a pass over the population."""
        dlog = float(np.vdot(G, F))
        return np.concatenate([[self._kappa * dlog], pre.grad(F, G), np.zeros(self._n_extra)])

    def _setup(self, model, state, phi, noise, proposal):
        n, d = self._check_state(model, state)
        phi = self._check_phi(phi, d)
        self._check_noise(noise, n, d)
        if proposal.y.shape != (n, d):
            raise InputError(
                f"proposal.y has shape {proposal.y.shape} but the state is ({n}, {d}); pass the "
                "proposal that propose() returned for this state."
            )
        _, theta, _ = self._split(phi, d)
        pre = self._pre(d)
        return n, d, phi, pre, pre.factor(theta), self._eps(phi)

    def proposal_vjp(self, model, state, phi, noise, proposal, cot_y, need_x=True):
        """(∂/∂φ, ∂/∂x or None) of Σᵢ cot_yᵢ · yᵢ with the noise held fixed.

        ∂y/∂x = I + δ(ε²/2) M H(x): one Hessian-vector product per chain (none for RWM).
        Diverging chains (y = x) pass their cotangent to x and add nothing to ∂/∂φ."""
        n, d, phi, pre, F, eps = self._setup(model, state, phi, noise, proposal)
        cot_y = self._check_cot(cot_y, (n, d), "cot_y")
        live = ~proposal.diverging
        dphi = self._dphi(pre, F, self._phi_vjp(pre, state, F, eps, noise,
                                                live.astype(np.float64), cot_y))
        if not need_x:
            return dphi, None
        dx = cot_y.copy()
        if self._drift and not zero_hessian(model):
            dx += (0.5 * eps**2) * hvp_rows(model, state.x, M_rows(F, cot_y), live)
        return dphi, dx

    def column_vjp(self, model, state, phi, noise, proposal, cot, columns):
        """See :meth:`.base.Transition.column_vjp`. A diagonal preconditioner's L-gradient is
        one column sum per coordinate, so only the m listed columns are read."""
        if self.precond == "dense":
            return super().column_vjp(model, state, phi, noise, proposal, cot, columns)
        n, d, phi, pre, F, eps = self._setup(model, state, phi, noise, proposal)
        columns = check_columns(columns, d)
        cot = self._check_cot(cot, (n, columns.size), "cot")
        live = (~proposal.diverging).astype(np.float64)
        S = row_weighted_colsums(live, cot, noise.xi[:, columns], state.grad[:, columns])
        G = np.zeros(d)
        G[columns] = eps * S[0] + (self._drift * eps**2) * F[columns] * S[1]
        return self._dphi(pre, F, G)

    def log_ratio_vjp(self, model, state, phi, noise, proposal, cot_r):
        """∂/∂φ of Σᵢ cot_rᵢ log rᵢ, total derivative through y (x and noise fixed).

        With ρ = cot_r: the cotangent on y is ρ(∇log p(y) − δ(ε/2) H(y) L w) (one HVP at y per
        chain for MALA), plus the direct terms of −½‖w‖²: −δ(ε/2)ρ wᵀLᵀs for log ε and
        −δ(ε/2)ρ s wᵀ for L."""
        if not self.metropolis:
            return super().log_ratio_vjp(model, state, phi, noise, proposal, cot_r)
        n, d, phi, pre, F, eps = self._setup(model, state, phi, noise, proposal)
        cot_r = self._check_cot(cot_r, (n,), "cot_r")
        live = ~proposal.diverging
        rho = np.where(live, cot_r, 0.0)
        A = proposal.grad_y
        G_direct = 0.0
        if self._drift:
            w, s = proposal.cache["w"], proposal.cache["s"]
            half = 0.5 * eps
            if not zero_hessian(model):
                A = A - half * hvp_rows(model, proposal.y, L_rows(F, w), live)
            G_direct = -half * (row_weighted_colsums(rho, s, w, w)[0] if pre.kind != "dense"
                                else pre.outer(rho[:, None] * s, w))
        return self._dphi(pre, F, self._phi_vjp(pre, state, F, eps, noise, rho, A) + G_direct)

    def proposal_entropy(self, phi, dim=None):
        """Entropy of q(·|x) = N(·, ε²M) up to its constant, d log ε + log det L (the same for
        every chain), and its φ-gradient."""
        d = self._dim_from_phi(phi, dim, required=True)
        phi = self._check_phi(phi, d)
        pre = self._pre(d)
        _, theta, _ = self._split(phi, d)
        H = d * self._kappa * phi[0] + pre.logdet(theta)
        grad = np.concatenate([[d * self._kappa], pre.logdet_grad(), np.zeros(self._n_extra)])
        return float(H), grad


class RWM(_GaussianProposal):
    """Random-walk Metropolis, y = x + ε L ξ, with diagonal (``scale="diag"``) or Cholesky
    (``scale="dense"``) scale L. Default initial ε = 2.38/√d (optimal for a unit-scale
    Gaussian)."""

    name = "rwm"
    metropolis = True
    _drift = 0.0

    def __init__(self, scale="diag"):
        super().__init__(scale)

    def __repr__(self):
        return f"RWM(scale={self.precond!r})"

    def config(self):
        return {"scale": self.precond}

    def _default_step_size(self, dim):
        return 2.38 / np.sqrt(dim)


class MALA(_GaussianProposal):
    """Metropolis-adjusted Langevin, y = x + (ε²/2) M ∇log p(x) + ε L ξ. Default initial
    ε = 1.65 d^(-1/6) (optimal scaling for a unit-scale Gaussian)."""

    name = "mala"
    metropolis = True

    def _default_step_size(self, dim):
        return 1.65 * dim ** (-1.0 / 6.0)


class ULA(_GaussianProposal):
    """Unadjusted Langevin, the MALA proposal always accepted. Default initial
    ε = 0.5 d^(-1/6) (stationary variance inflation ≈ 6% on a unit Gaussian)."""

    name = "ula"
    metropolis = False

    def _default_step_size(self, dim):
        return 0.5 * dim ** (-1.0 / 6.0)

    def metropolis_twin(self, phi, dim):
        return MALA(self.precond), phi


class SGLD(_GaussianProposal):
    """Stochastic-gradient Langevin dynamics (Welling & Teh 2011):
    y = x + (ε_WT/2) M ĝ(x) + √ε_WT L ξ with ĝ the model's unbiased minibatch gradient.

    ``step_size`` (ε_WT) is the initial value init_params uses; φ = [log ε_WT, θ]. Minibatches
    of ``batch_size`` data points are drawn without replacement, one per step, shared by all
    chains; the gradient at y is evaluated on that batch and becomes the drift of the next step.
    Models without ``n_data`` (or a batch covering all data) get full gradients. ``precond``
    None means M = I (φ has one entry; pass ``dim=`` to describe/proposal_entropy). The
    x-VJP uses the full-data Hessian (model.hvp), i.e. the expected Jacobian."""

    name = "sgld"
    metropolis = False
    _kappa = 0.5

    def __init__(self, step_size=1e-5, batch_size=100, precond=None):
        if precond is None:
            self.precond = "identity"  # M = I, no parameters (see .precond)
        else:
            super().__init__(precond)
        self.step_size = positive_float(step_size, "step_size")
        self.batch_size = None if batch_size is None else positive_int(batch_size, "batch_size")

    def __repr__(self):
        pre = None if self.precond == "identity" else self.precond
        return f"SGLD(step_size={self.step_size!r}, batch_size={self.batch_size!r}, precond={pre!r})"

    def config(self):
        return {"step_size": self.step_size, "batch_size": self.batch_size,
                "precond": None if self.precond == "identity" else self.precond}

    def _default_step_size(self, dim):
        return self.step_size

    def metropolis_twin(self, phi, dim):
        """MALA with ε = √ε_WT and the same preconditioner (the identity as a unit diagonal)."""
        phi = self._check_phi(phi, dim)
        _, theta, _ = self._split(phi, dim)
        if self.precond == "identity":
            return MALA("diag"), np.concatenate([[0.5 * phi[0]], np.zeros(dim)])
        return MALA(self.precond), np.concatenate([[0.5 * phi[0]], theta])

    def step_size_from_twin(self, phi, eps):
        return self.set_step_size(phi, positive_float(eps, "step_size") ** 2)
