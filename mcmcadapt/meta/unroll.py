"""The KL objective unrolled over k steps of an unadjusted kernel, and its φ-gradient.

Starting from positions x₀ (held fixed: restarts or the previous unroll), k steps
x_t = T_φ(x_{t−1}, ξ_t) give populations q_1 … q_k. The meta-loss is the sum of their
KL divergences to the target (Li & Turner 2018, Sec. 4.2),

    L(φ) = Σ_{t=1..k} KL(q_t ‖ p),
    ∇_φ L = −Σ_t E[(∇log p(x_t) − ∇log q_t(x_t))ᵀ dx_t/dφ],

where dx_t/dφ is the *total* derivative through the whole trajectory (x_t depends on φ
through every earlier step; the term E[∂_φ log q_t] vanishes as in the one-step case,
DESIGN.md §4). The score of q_t is an estimate ĝ_t from a nonparametric estimator, held
fixed; with no estimator ("MAP" training) the entropy term is dropped and the loss is
−Σ_t E[log p(x_t)].

Reverse mode: with cotangents c_t = −(∇log p(x_t) − ĝ_t)/(n·d) (mean over particles and
coordinates, the scale of the paper's code) the adjoint a_t of x_t obeys a_k = c_k,
a_{t−1} = c_{t−1} + ∂x_t/∂x_{t−1}ᵀ a_t, and ∇_φ L = Σ_t ∂x_t/∂φᵀ a_t. Each step's two
products are one ``proposal_vjp`` call (the x-part needs Hessian-vector products of log p,
which the model supplies or takes by central differences).

∇log p(x_t) is the proposal's ``grad_y``: for minibatch kernels the model's unbiased
minibatch estimate, while the kernels' x-VJPs use the full-data Hessian (the expected
Jacobian of the step).
"""

from dataclasses import dataclass, field

import numpy as np

from .._validation import as_generator, positive_int
from ..errors import HyperparameterError, InputError


@dataclass
class Rollout:
    """k steps of a population: ``states`` (k + 1 States, ``states[0]`` the start),
    ``noises`` and ``proposals`` (k each; proposal t moves states[t] to states[t + 1])."""

    states: list
    noises: list
    proposals: list = field(default_factory=list)

    @property
    def steps(self):
        return len(self.proposals)


def _check_unadjusted(transition):
    if transition.metropolis:
        raise HyperparameterError(
            f"the unrolled KL objective differentiates through every step, but "
            f"{transition.name!r} has an accept/reject step, which is not differentiable; use "
            "an unadjusted kernel (learned, sgld, ula)."
        )


def rollout(model, transition, phi, state, steps=None, rng=None, noises=None):
    """Run ``steps`` steps from ``state`` (a :class:`~mcmcadapt.transitions.State`).

    Give either ``steps`` and ``rng`` (seed or Generator: noise is drawn) or ``noises`` (a
    list of the kernel's Noise, one per step: a fixed-noise, deterministic rollout)."""
    _check_unadjusted(transition)
    if noises is None:
        steps = positive_int(steps, "steps", error=InputError)
        rng = as_generator(rng)
        n, d = state.x.shape
        noises = [transition.draw_noise(n, d, rng) for _ in range(int(steps))]
    elif steps is not None and steps != len(noises):
        raise InputError(f"got steps={steps} but {len(noises)} noises; give one or the other.")
    out = Rollout(states=[state], noises=list(noises))
    for noise in out.noises:
        prop = transition.propose(model, out.states[-1], phi, noise)
        new, _ = transition.accept(out.states[-1], prop, noise)
        out.proposals.append(prop)
        out.states.append(new)
    return out


def kl_cotangents(run, estimator=None):
    """Cotangents c_t (list of k arrays (n, d)) of the unrolled KL and a record.

    ``estimator``: a score estimator (``fit(X).gradients()``) for ∇log q_t, or None to drop
    the entropy term. Record, one entry per step: ``fisher``, mean_i ‖∇log p(x_t,i) − ĝ_t,i‖²
    (a tractable proxy of each KL's size); ``logp``, the population mean log density
    (minibatch estimate for minibatch kernels); ``score_ratio``, RMS ‖ĝ‖ / RMS ‖∇log p‖, how
    much the entropy term weighs against the target's pull (0 without an estimator)."""
    cots, fisher, logp, ratio = [], [], [], []
    for prop in run.proposals:
        n, d = prop.y.shape
        g_hat = np.zeros_like(prop.y) if estimator is None else estimator.fit(prop.y).gradients()
        diff = prop.grad_y - g_hat
        cots.append(-diff / (n * d))
        fisher.append(float(np.mean(np.einsum("ij,ij->i", diff, diff))))
        logp.append(float(np.mean(prop.logp_y)))
        ratio.append(float(np.sqrt(np.sum(g_hat * g_hat) / max(np.sum(prop.grad_y ** 2), 1e-300))))
    return cots, {"fisher": np.array(fisher), "logp": np.array(logp),
                  "score_ratio": np.array(ratio)}


def backprop(model, transition, phi, run, cotangents):
    """∇_φ of Σ_t Σ_i c_t,i · x_t,i through the rollout, cotangents held fixed; (p,)."""
    k = run.steps
    if k < 1:
        raise InputError("the rollout has no steps; unroll at least one (steps >= 1, or one "
                         "noise per step).")
    if len(cotangents) != k:
        raise InputError(f"need one cotangent per step ({k}); got {len(cotangents)}.")
    grad = np.zeros_like(np.asarray(phi, dtype=np.float64))
    adj = np.asarray(cotangents[-1], dtype=np.float64)
    for t in range(k - 1, -1, -1):
        dphi, dx = transition.proposal_vjp(model, run.states[t], phi, run.noises[t],
                                           run.proposals[t], adj)
        grad += dphi
        if t:
            adj = dx + cotangents[t - 1]
    return grad


def unrolled_kl_gradient(model, transition, phi, state, steps, rng=None, estimator=None,
                         noises=None):
    """One estimate of ∇_φ Σ_{t=1..steps} KL(q_t ‖ p) from ``state``.

    Returns ``(grad (p,), final_state, record)``; record as :func:`kl_cotangents`, plus
    ``n_diverging``, the number of (chain, step) proposals that diverged."""
    run = rollout(model, transition, phi, state, steps, rng, noises)
    cots, record = kl_cotangents(run, estimator)
    grad = backprop(model, transition, phi, run, cots)
    record["n_diverging"] = int(sum(int(p.diverging.sum()) for p in run.proposals))
    return grad, run.states[-1], record
