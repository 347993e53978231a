"""The learned coordinate-wise sampler of Li & Turner (2018, Sec. 4.2), unadjusted.

    y_j = x_j + ζ Δ_φ(x_j, g_j) + σ_φ(x_j, g_j) ξ_j,   g = ∇log p(x),  ξ ~ N(0, I),

applied to every coordinate j with the same tiny network: inputs (x_j, g_j), one hidden layer
of H softplus units a = softplus(w_x x_j + w_g g_j + b), a linear drift head Δ = aᵀw_Δ + b_Δ and
a variance head σ² = softplus(aᵀw_σ + b_σ). The paper's variance head is a ReLU; softplus is
used instead because a ReLU that goes negative on all inputs kills its gradient and makes σ = 0
non-differentiable. φ holds only network weights, so it transfers across dimensions:

    φ = [w_x (H), w_g (H), b (H), w_Δ (H), b_Δ, w_σ (H), b_σ],   p = 5H + 2.

``init_params`` starts from the Langevin step y = x + s g + √(2s) ξ (s = step_size, default ζ):
two hidden units compute softplus(g) − softplus(−g) = g exactly, the other units start with
seeded random input weights and zero output weights.

The network and its reverse-mode derivative run as fused compiled passes over the n·d
coordinates (:mod:`._learned_numba`): nothing of size (n·d, H) is stored.
"""

import numpy as np

from .._validation import all_finite, as_particles, check_columns, positive_float, positive_int
from ..errors import InputError
from ._learned_numba import gather_columns, learned_update, learned_vjp
from .base import (Proposal, Transition, collapsed, evaluate, hvp_rows, minibatch, model_dim,
                   zero_hessian)


def _inverse_softplus(v):
    """log(eᵛ − 1), the u with softplus(u) = v > 0: by expm1 (exact for the paper's tiny
    steps), and as v + log1p(−e⁻ᵛ) where eᵛ would overflow."""
    return float(np.log(np.expm1(v)) if v < 30.0 else v + np.log1p(-np.exp(-v)))


class Learned(Transition):
    """Learned(hidden=20, zeta=1e-5, batch_size=None, seed=0); ``seed`` fixes the random
    initial input weights of ``init_params``; ``batch_size`` evaluates the gradient at y on a
    minibatch as SGLD does (None: full data)."""

    name = "learned"
    metropolis = False

    def __init__(self, hidden=20, zeta=1e-5, batch_size=None, seed=0):
        # two units represent the Langevin drift
        self.hidden = positive_int(hidden, "hidden", minimum=2)
        self.zeta = positive_float(zeta, "zeta")
        self.batch_size = None if batch_size is None else positive_int(batch_size, "batch_size")
        self.seed = seed

    def __repr__(self):
        return f"Learned(hidden={self.hidden}, zeta={self.zeta!r}, batch_size={self.batch_size!r})"

    def n_params(self, dim=None):
        return 5 * self.hidden + 2

    def config(self):
        """As the base's, with ``seed`` None unless an int: it only drew the initial
        weights of :meth:`init_params`, which a tuned φ no longer needs."""
        seed = self.seed if isinstance(self.seed, (int, np.integer)) else None
        return {"hidden": self.hidden, "zeta": self.zeta, "batch_size": self.batch_size,
                "seed": None if seed is None else int(seed)}

    def _unpack(self, phi):
        H = self.hidden
        return (phi[:H], phi[H:2 * H], phi[2 * H:3 * H], phi[3 * H:4 * H], phi[4 * H],
                phi[4 * H + 1:5 * H + 1], phi[5 * H + 1])

    def init_params(self, model, X=None, step_size=None):
        d = model_dim(model)
        if X is not None:
            as_particles(X, name="X", min_rows=1, dim=d)
        s = self.zeta if step_size is None else positive_float(step_size, "step_size")
        H = self.hidden
        rng = np.random.default_rng(self.seed)
        w_x, w_g, b = rng.standard_normal((3, H))
        w_x[:2], w_g[:2], b[:2] = 0.0, (1.0, -1.0), 0.0
        w_d = np.zeros(H)
        w_d[:2] = (s / self.zeta, -s / self.zeta)
        b_v = _inverse_softplus(2.0 * s)
        return np.concatenate([w_x, w_g, b, w_d, [0.0], np.zeros(H), [b_v]])

    def langevin_step(self, phi):
        """s when φ is the Langevin update y = x + s g + √(2s) ξ that ``init_params`` builds
        (only the two drift units and the variance bias set), else None."""
        phi = self._check_phi(phi, None)
        w_x, w_g, b, w_d, b_d, w_v, b_v = self._unpack(phi)
        s = w_d[0] * self.zeta
        langevin = (np.all(w_x[:2] == 0.0) and w_g[0] == 1.0 and w_g[1] == -1.0
                    and np.all(b[:2] == 0.0) and w_d[1] == -w_d[0] and np.all(w_d[2:] == 0.0)
                    and b_d == 0.0 and np.all(w_v == 0.0) and s > 0.0)
        return float(s) if langevin else None

    def metropolis_twin(self, phi, dim):
        """MALA with a unit diagonal preconditioner and ε = √(2s) while φ is still the
        Langevin update of step s (at the start of tuning), else None."""
        s = self.langevin_step(phi)
        if s is None:
            return None
        from .gaussian import MALA

        return MALA("diag"), np.concatenate([[0.5 * np.log(2.0 * s)], np.zeros(dim)])

    def step_size_from_twin(self, phi, eps):
        """φ as the Langevin update of step s = ε²/2 (φ must be one, see
        :meth:`langevin_step`)."""
        if self.langevin_step(phi) is None:
            raise InputError("step_size_from_twin needs φ in the Langevin form init_params builds.")
        s = 0.5 * positive_float(eps, "step_size") ** 2
        phi = np.array(phi, dtype=np.float64)
        H = self.hidden
        phi[3 * H:3 * H + 2] = (s / self.zeta, -s / self.zeta)
        phi[5 * H + 1] = _inverse_softplus(2.0 * s)
        return phi

    def get_step_size(self, phi):
        """ζ, the drift multiplier (fixed; φ holds only network weights, checked as
        ``describe`` checks them)."""
        self._check_phi(phi, None)
        return self.zeta

    def describe(self, phi, dim=None):
        """{"step_size": ζ (the drift multiplier), "zeta", "hidden", and the named weights}."""
        phi = self._check_phi(phi, dim)
        w_x, w_g, b, w_d, b_d, w_v, b_v = self._unpack(phi)
        return {"step_size": self.zeta, "zeta": self.zeta, "hidden": self.hidden,
                "w_x": w_x.copy(), "w_g": w_g.copy(), "b": b.copy(), "w_drift": w_d.copy(),
                "b_drift": float(b_d), "w_var": w_v.copy(), "b_var": float(b_v)}

    def propose(self, model, state, phi, noise):
        """One update per chain; one gradient evaluation per chain (at y). The network runs
        in one fused compiled pass (:func:`._learned_numba.learned_update`); its variance
        pre-activation is kept in ``cache["u"]`` for the VJP."""
        n, d = self._check_state(model, state)
        phi = self._check_phi(phi, d)
        self._check_noise(noise, n, d)
        w_x, w_g, b, w_d, b_d, w_v, b_v = self._unpack(phi)
        y = np.empty(n * d)
        u = np.empty(n * d)
        learned_update(state.x.ravel(), state.grad.ravel(), noise.xi.ravel(), w_x, w_g, b, w_d,
                       float(b_d), w_v, float(b_v), self.zeta, y, u)
        y = y.reshape(n, d)
        with np.errstate(over="ignore", invalid="ignore"):
            batch = minibatch(model, self.batch_size, noise.batch_seed)
            lp_y, g_y, ok, evaluated = evaluate(model, y, batch=batch)
        div = ~ok | collapsed(lp_y, state.logp, batch)
        logr = np.zeros(n)
        if div.any():
            y[div], lp_y[div], g_y[div] = state.x[div], state.logp[div], state.grad[div]
            logr[div] = -np.inf
        return Proposal(y=y, logp_y=lp_y, grad_y=g_y, log_accept_ratio=logr,
                        n_grad=evaluated.astype(np.int64), diverging=div, cache={"u": u})

    def proposal_vjp(self, model, state, phi, noise, proposal, cot_y, need_x=True):
        """(∂/∂φ, ∂/∂x or None) of Σᵢ cot_yᵢ · yᵢ, noise fixed. The x-derivative goes
        through the network's x input directly and through its g input by one HVP per
        chain."""
        n, d = self._check_state(model, state)
        phi = self._check_phi(phi, d)
        self._check_noise(noise, n, d)
        cot_y = self._check_cot(cot_y, (n, d), "cot_y")
        u = self._cached_u(proposal, n, d)
        live = ~proposal.diverging
        C = np.where(live[:, None], cot_y, 0.0)
        w_x, w_g, b, w_d, _, w_v, _ = self._unpack(phi)
        dphi = np.empty(phi.size)
        dxin = np.empty(n * d if need_x else 0)
        dgin = np.empty(n * d if need_x else 0)
        learned_vjp(state.x.ravel(), state.grad.ravel(), noise.xi.ravel(), u, C.ravel(),
                    w_x, w_g, b, w_d, w_v, self.zeta, dphi, dxin, dgin, need_x)
        if not need_x:
            return dphi, None
        dx = cot_y + dxin.reshape(n, d)
        if not zero_hessian(model):
            dx += hvp_rows(model, state.x, dgin.reshape(n, d), live)
        return dphi, dx

    def column_vjp(self, model, state, phi, noise, proposal, cot, columns):
        """See :meth:`.base.Transition.column_vjp`. The network acts on each coordinate
        alone, so the reverse pass runs over the m listed columns only."""
        n, d = self._check_state(model, state)
        phi = self._check_phi(phi, d)
        self._check_noise(noise, n, d)
        columns = check_columns(columns, d)
        cot = self._check_cot(cot, (n, columns.size), "cot")
        u = self._cached_u(proposal, n, d).reshape(n, d)
        live = ~proposal.diverging
        C = np.where(live[:, None], cot, 0.0)
        w_x, w_g, b, w_d, _, w_v, _ = self._unpack(phi)
        dphi = np.empty(phi.size)
        empty = np.empty(0)
        x, g, xi, uc = gather_columns(state.x, state.grad, noise.xi, u, columns)
        learned_vjp(x, g, xi, uc, C.ravel(), w_x, w_g, b, w_d, w_v, self.zeta, dphi, empty,
                    empty, False)
        return dphi

    @staticmethod
    def _cached_u(proposal, n, d):
        u = proposal.cache.get("u")
        if proposal.y.shape != (n, d) or np.shape(u) != (n * d,):
            raise InputError("proposal does not match this state and kernel; pass the "
                             "proposal this kernel's propose() returned.")
        return u

    def _check_phi(self, phi, dim):
        phi = np.asarray(phi, dtype=np.float64)
        p = self.n_params()
        if phi.shape != (p,):
            raise InputError(
                f"phi must be a 1-D array of length {p} (5·hidden + 2) for {self!r}; got shape "
                f"{phi.shape}. Build it with init_params(model)."
            )
        if not all_finite(phi):
            raise InputError("phi contains NaN or inf; pass finite network weights.")
        return phi
