"""Hamiltonian Monte Carlo with leapfrog integration and reverse-mode derivatives through it.

Inverse mass matrix M = L Lᵀ. The momentum is kept in whitened form v = Lᵀp ~ N(0, I), so the
kinetic energy is ½‖v‖² and no triangular solve is ever needed. One leapfrog step of size h:

    v ← v + (h/2) Lᵀ∇log p(x);   x ← x + h L v;   v ← v + (h/2) Lᵀ∇log p(x).

Integration time per chain (u ~ U(0, 1] from the noise when ``jitter``):

- ``n_steps`` mode, φ = [log ε, θ]: h = ε, n_steps leapfrog steps; with jitter ceil(2u·n_steps)
  steps (integration time uniform on (0, 2·n_steps·ε] in distribution, mean ≈ n_steps·ε).
- ``trajectory_length`` mode, φ = [log ε, θ, log T]: time Tᵢ = T (or 2uT with jitter),
  Lᵢ = min(ceil(Tᵢ/ε), max_steps) steps of h = Tᵢ/Lᵢ ≤ ε, so the integration time is exactly
  Tᵢ and y is differentiable in log T. ε enters only through the integer Lᵢ, so ∂/∂log ε is
  zero in this mode: adapt ε by acceptance (dual averaging), T and M by gradient.

``step_spread`` (n_steps mode only; φ gains a last entry s, initially 0): each chain's step
is ε·e^{s·w} with w ~ U(−1, 1) drawn afresh per proposal, i.e. log-uniform on
[ε e^{−s}, ε e^{s}], and the integration time scales with it. Every step size is a
reversible kernel of its own, so the mixture leaves the target invariant; targets whose
local scale varies by orders of magnitude (funnels, centred hierarchical models) need small
steps in their narrow regions and large ones elsewhere. The adaptation sets ε and s from the
population's local step sizes (:func:`mcmcadapt.adaptation.step_range.step_range`). The
largest steps of the range may diverge in the narrowest regions: they are rejected, and
counted as divergences.

A chain diverges, and stops integrating, when its energy error H(x, v) − H(x₀, ξ) exceeds
``max_energy_error`` or turns non-finite at any leapfrog step (see :mod:`.base` for what a
diverging chain proposes). ``n_grad`` counts the leapfrog gradient evaluations actually made.

The VJPs run the leapfrog backwards over the stored trajectory (O(steps·n·d) memory) with
one Hessian-vector product per leapfrog step (plus one at x₀ for the x-derivative). Sampling
and window adaptation take no VJPs and use :meth:`~.base.Transition.without_vjp`, whose
proposals keep O(n·d).
"""

import copy

import numpy as np

from .._validation import positive_float, positive_int
from ..errors import HyperparameterError, InputError
from ._diag_numba import (leapfrog_backward_first_order, row_scaled_step, row_scaled_step_sqnorm,
                          select_rows)
from .base import Proposal, evaluate, hvp_rows, zero_hessian
from .precond import L_rows, LT_rows
from .preconditioned import PreconditionedTransition


def _sqnorm(V):
    return np.einsum("ij,ij->i", V, V)


class HMC(PreconditionedTransition):
    """HMC(precond="diag"|"dense", n_steps=10 | trajectory_length=T, jitter=None,
    step_spread=False).

    Give at most one of ``n_steps`` (fixed number of leapfrog steps; default 10) and
    ``trajectory_length`` (initial integration time T, tuned as log T in φ). ``jitter``
    defaults to True in trajectory mode and False in n_steps mode. ``max_steps`` caps the
    leapfrog steps of one proposal in trajectory mode. ``step_spread`` (n_steps mode):
    per-chain random step sizes, log-uniform on [ε e^{−s}, ε e^{s}] with s the last entry of
    φ (see the module docstring). Default initial ε = d^(-1/4)."""

    name = "hmc"
    metropolis = True
    keep_trajectory = True   # False in the copy without_vjp() makes

    def __init__(self, precond="diag", n_steps=None, trajectory_length=None, jitter=None,
                 max_steps=1024, max_energy_error=1000.0, step_spread=False):
        super().__init__(precond)
        if n_steps is not None and trajectory_length is not None:
            raise HyperparameterError(
                "give either n_steps (fixed leapfrog steps) or trajectory_length (tuned "
                "integration time), not both."
            )
        if trajectory_length is None:
            n_steps = 10 if n_steps is None else n_steps
            self.n_steps = positive_int(n_steps, "n_steps")
            self.trajectory_length = None
        else:
            self.n_steps = None
            self.trajectory_length = positive_float(trajectory_length, "trajectory_length")
        self.jitter = bool(self.trajectory_length is not None if jitter is None else jitter)
        self.max_steps = positive_int(max_steps, "max_steps")
        self.max_energy_error = positive_float(max_energy_error, "max_energy_error")
        if not isinstance(step_spread, (bool, np.bool_)):
            raise HyperparameterError(
                f"step_spread must be True or False (the spread itself is in φ); got {step_spread!r}.")
        if step_spread and trajectory_length is not None:
            # with a fixed integration time a small step only adds leapfrog steps (up to
            # max_steps in the narrow regions); with n_steps it shortens the trajectory too,
            # which is what the narrow regions need. Measured: speed-tuned T collapsed 1 → 0.15
            raise HyperparameterError(
                "step_spread needs the n_steps mode (a step range scales the integration "
                "time with the step); drop trajectory_length.")
        self.step_spread = bool(step_spread)
        self._n_extra = (self.trajectory_length is not None) + self.step_spread
        self._jittered = self.jitter
        self._spread = self.step_spread

    def __repr__(self):
        mode = (f"n_steps={self.n_steps}" if self.trajectory_length is None
                else f"trajectory_length={self.trajectory_length!r}")
        spread = ", step_spread=True" if self.step_spread else ""
        return f"HMC(precond={self.precond!r}, {mode}, jitter={self.jitter}{spread})"

    def _default_step_size(self, dim):
        return dim ** (-0.25)

    def _extra_init(self, dim):
        if self.trajectory_length is not None:
            return np.array([np.log(self.trajectory_length)])
        return np.zeros(int(self.step_spread))

    def describe(self, phi, dim=None):
        """{"step_size", "inv_mass_diag" | "inv_mass", "n_steps" | "trajectory_length",
        "jitter", and "step_spread" (s) when the kernel has one}."""
        out = super().describe(phi, dim)
        if self.trajectory_length is None:
            out["n_steps"] = self.n_steps
        else:
            out["trajectory_length"] = float(np.exp(phi[-1]))
        out["jitter"] = self.jitter
        if self.step_spread:
            out["step_spread"] = float(abs(phi[-1]))
        return out

    def set_step_size(self, phi, eps, dim=None):
        """Copy of φ with the step size replaced by ``eps``; with a trajectory length T, at
        most the longest trajectory (2T with jitter): a longer step is one step of the
        trajectory's length, so step-size controllers would otherwise drift without end."""
        if self.trajectory_length is not None:
            longest = np.exp(np.asarray(phi, dtype=np.float64)[-1]) * (2.0 if self.jitter else 1.0)
            eps = min(positive_float(eps, "step_size"), float(longest))
        return super().set_step_size(phi, eps, dim)

    def set_step_spread(self, phi, spread, dim=None):
        """Copy of φ with the step spread s ≥ 0 replaced (kernels built with step_spread)."""
        if not self.step_spread:
            raise HyperparameterError(f"{self!r} has no step spread; build it with step_spread=True.")
        spread = float(spread)
        if not (np.isfinite(spread) and spread >= 0.0):
            raise HyperparameterError(f"the step spread must be finite and >= 0; got {spread!r}.")
        phi = self._check_phi(phi, self._dim_from_phi(phi, dim)).copy()
        phi[-1] = spread
        return phi

    def _log_multipliers(self, noise, n):
        """w (n,) in [−1, 1] with each chain's step ε·e^{s·w} (zeros without a spread)."""
        return 2.0 * noise.spread - 1.0 if self.step_spread else np.zeros(n)

    def _schedule(self, phi, noise, n):
        """Per-chain number of steps (n,) int and step size h (n,)."""
        eps = np.exp(phi[0])
        if self.step_spread:
            eps = eps * np.exp(phi[-1] * self._log_multipliers(noise, n))
        eps = np.broadcast_to(eps, (n,)).astype(np.float64)
        u = noise.jitter if self.jitter else np.ones(n)
        if self.trajectory_length is None:
            steps = np.full(n, self.n_steps) if not self.jitter else np.clip(
                np.ceil(2.0 * u * self.n_steps), 1, 2 * self.n_steps)
            return steps.astype(np.int64), eps
        T = np.exp(phi[-1]) * (2.0 * u if self.jitter else u)
        steps = np.clip(np.ceil(T / eps), 1, self.max_steps).astype(np.int64)
        return steps, T / steps

    def without_vjp(self):
        twin = copy.copy(self)
        twin.keep_trajectory = False
        return twin

    def propose(self, model, state, phi, noise):
        """Leapfrog trajectories of all chains (vectorised; finished or diverged chains idle)."""
        n, d = self._check_state(model, state)
        phi = self._check_phi(phi, d)
        self._check_noise(noise, n, d)
        _, theta, _ = self._split(phi, d)
        F = self._pre(d).factor(theta)
        steps, h = self._schedule(phi, noise, n)
        h_chain = h.copy() if self.step_spread else None
        K = int(steps.max())
        hs = np.where(np.arange(K)[:, None] < steps[None, :], h[None, :], 0.0)  # (K, n)
        # the VJPs need the whole trajectory; a kernel that takes none keeps two positions
        # (19 leapfrog steps of 8 chains on a 3.2-million-weight network: 12 GB)
        keep = self.keep_trajectory
        slots = K + 1 if keep else 2
        xs = np.empty((slots, n, d))
        gs = np.empty((slots, n, d))
        vhs = np.empty((K if keep else 0, n, d))
        xs[0], gs[0] = state.x, state.grad
        lp = state.logp.copy()
        H0 = -lp + 0.5 * _sqnorm(noise.xi)
        live = np.ones(n, dtype=bool)
        n_grad = np.zeros(n, dtype=np.int64)
        # a diagonal factor runs each leapfrog update as one compiled pass with the numpy
        # expression's roundings (the same trajectories, fewer population-sized temporaries)
        fused = F.ndim == 1
        v = self._kick(noise.xi, 0.5 * hs[0], gs[0], F, fused)
        for k in range(K):
            a, b = (k, k + 1) if keep else (k % 2, (k + 1) % 2)   # slots of x_k, x_{k+1}
            move = hs[k] > 0
            if keep:
                vhs[k] = v
            with np.errstate(over="ignore", invalid="ignore"):
                if fused:
                    x_new = np.empty((n, d))
                    row_scaled_step(xs[a], hs[k], v, F, x_new)
                else:
                    x_new = xs[a] + hs[k][:, None] * L_rows(F, v)
                lp_new, g_new, ok, evaluated = evaluate(model, x_new, active=move)
                n_grad += evaluated
                c = 0.5 * hs[k]
                kinetic = (row_scaled_step_sqnorm(v, c, g_new, F) if fused
                           else _sqnorm(v + c[:, None] * LT_rows(F, g_new)))
                err = -lp_new + 0.5 * kinetic - H0
            bad = move & ~(ok & (err <= self.max_energy_error))
            if bad.any():
                live &= ~bad
                hs[k:, bad] = 0.0
            moved = move & ~bad
            select_rows(moved, x_new, xs[a], xs[b])
            select_rows(moved, g_new, gs[a], gs[b])
            lp = np.where(moved, lp_new, lp)
            h_next = hs[k + 1] if k + 1 < K else 0.0
            with np.errstate(over="ignore", invalid="ignore"):
                v = self._kick(v, 0.5 * (hs[k] + h_next), gs[b], F, fused)
        vK2 = _sqnorm(v)
        with np.errstate(over="ignore", invalid="ignore"):
            energy = -lp + 0.5 * vK2
            logr = H0 - energy
        live &= np.isfinite(logr)
        div = ~live
        last = K if keep else K % 2
        y, g_y = xs[last].copy(), gs[last].copy()
        if div.any():
            y[div], g_y[div], lp[div] = state.x[div], state.grad[div], state.logp[div]
            energy[div], logr[div] = H0[div], -np.inf
            v[div] = 0.0
        cache = ({"xs": xs, "gs": gs, "vhs": vhs, "hs": hs, "v": v,
                  "w": self._log_multipliers(noise, n)} if keep else {"without_vjp": True})
        return Proposal(
            y=y, logp_y=lp, grad_y=g_y, log_accept_ratio=logr, n_grad=n_grad, diverging=div,
            energy=energy, energy_x=H0, step_size=h_chain, cache=cache,
        )

    @staticmethod
    def _kick(v, c, g, F, fused):
        """v + c[:, None] ⊙ Lᵀg as a new array (c (n,): per-chain half or full steps)."""
        if not fused:
            return v + c[:, None] * LT_rows(F, g)
        out = np.empty_like(v)
        row_scaled_step(v, c, g, F, out)
        return out

    def _backward(self, model, phi, d, proposal, xbar, vbar, need_x, active=None):
        """Reverse pass through the stored leapfrog. xbar, vbar: adjoints of the final (x, v)
        (rows of diverging chains must be zero); ``active``: boolean (n,) of the chains whose
        adjoints may be non-zero (None: all). Returns (∂/∂φ, adjoint of x₀ or None)."""
        c = proposal.cache
        xs, gs, vhs, hs = c["xs"], c["gs"], c["vhs"], c["hs"]
        K = hs.shape[0]
        live = ~proposal.diverging
        pre = self._pre(d)
        _, theta, _ = self._split(phi, d)
        F = pre.factor(theta)
        curved = not zero_hessian(model)
        n = hs.shape[1]
        glog_rows = np.zeros(n)  # each chain's ∂/∂log h, for the step spread
        if not curved and pre.kind != "dense":
            rows = np.flatnonzero(live if active is None else live & active)
            G = leapfrog_backward_first_order(rows, hs, gs, vhs, F, xbar, vbar, glog_rows)
            return (self._dphi(pre, F, G, glog_rows, c["w"]),
                    (xbar.copy() if need_x else None))
        G = 0.0
        xbar = xbar.copy()
        vbar = vbar.copy()

        def accumulate(G, A, B):
            if self.step_spread:  # ⟨aᵢbᵢᵀ, L⟩ = aᵢ·(L bᵢ)
                glog_rows[:] += np.einsum("ij,ij->i", A, L_rows(F, B))
            return G + pre.outer(A, B)

        for k in range(K, 0, -1):
            coef = 0.5 * (hs[k - 1] + (hs[k] if k < K else 0.0))  # kick at x_k
            rows = (coef > 0) & live
            if rows.any():
                G = accumulate(G, coef[:, None] * gs[k], vbar)
                if curved:
                    xbar += coef[:, None] * hvp_rows(model, xs[k], L_rows(F, vbar), rows)
            hk = hs[k - 1][:, None]  # drift x_k = x_{k-1} + h L v_{k-1/2}
            vbar += hk * LT_rows(F, xbar)
            G = accumulate(G, hk * xbar, vhs[k - 1])
        coef = 0.5 * hs[0]
        G = accumulate(G, coef[:, None] * gs[0], vbar)
        dx = None
        if need_x:
            dx = xbar.copy()
            if curved:
                dx += coef[:, None] * hvp_rows(model, xs[0], L_rows(F, vbar), (coef > 0) & live)
        return self._dphi(pre, F, G, glog_rows, c["w"]), dx

    def _dphi(self, pre, F, G, glog_rows, w):
        """φ-gradient from the accumulated L-gradient G.

        The trajectory depends on (h, L) only through the products hL (drifts) and hLᵀ
        (kicks), so by Euler's theorem Σ ∂/∂log h = ⟨G, L⟩ (Frobenius; L vanishes where G
        is not accumulated): no separate pass over the trajectory. With a step spread,
        chain i's step is h_i = ε e^{s wᵢ}, so ∂/∂s = Σᵢ wᵢ ⟨Gᵢ, L⟩ from the per-chain shares
        ``glog_rows``."""
        glog = float(np.vdot(G, F))
        dstep = np.zeros(1)
        if self.trajectory_length is None:
            dstep[0] = glog  # h = ε
            extra = [float(glog_rows @ w)] if self.step_spread else []
        else:
            extra = [glog]  # h = T_i / L_i ∝ T with L_i fixed
        return np.concatenate([dstep, pre.grad(F, G), extra])

    def _setup(self, model, state, phi, noise, proposal):
        n, d = self._check_state(model, state)
        phi = self._check_phi(phi, d)
        self._check_noise(noise, n, d)
        if proposal.cache.get("without_vjp"):
            raise InputError(
                "this proposal was made by a kernel from without_vjp(), which keeps no "
                "trajectory; take VJPs with the kernel itself.")
        if proposal.y.shape != (n, d) or "hs" not in proposal.cache:
            raise InputError(
                "proposal does not match this state and kernel; pass the proposal that this "
                "kernel's propose() returned for this state."
            )
        return n, d, phi

    def proposal_vjp(self, model, state, phi, noise, proposal, cot_y, need_x=True):
        """(∂/∂φ, ∂/∂x or None) of Σᵢ cot_yᵢ · yᵢ through the leapfrog trajectory, noise
        fixed."""
        n, d, phi = self._setup(model, state, phi, noise, proposal)
        cot_y = self._check_cot(cot_y, (n, d), "cot_y")
        div = proposal.diverging
        xbar = np.where(div[:, None], 0.0, cot_y)
        dphi, dx = self._backward(model, phi, d, proposal, xbar, np.zeros((n, d)), need_x)
        if need_x:
            dx[div] = cot_y[div]
        return dphi, dx

    def log_ratio_vjp(self, model, state, phi, noise, proposal, cot_r):
        """∂/∂φ of Σᵢ cot_rᵢ log rᵢ, log r = log p(y) − ½‖v_L‖² − H(x, ξ), through the
        trajectory (x and noise fixed)."""
        n, d, phi = self._setup(model, state, phi, noise, proposal)
        cot_r = self._check_cot(cot_r, (n,), "cot_r")
        rho = np.where(proposal.diverging, 0.0, cot_r)
        xbar = rho[:, None] * proposal.grad_y
        vbar = -rho[:, None] * proposal.cache["v"]
        return self._backward(model, phi, d, proposal, xbar, vbar, need_x=False,
                              active=rho != 0.0)[0]
