"""One-step KL objective with a nonparametric entropy gradient (Li & Turner 2018, Sec. 4.2;
Gong, Li & Hernández-Lobato 2019).

For the population after one step, x′ = T_φ(x, ξ) with x held fixed (one-step truncation),

    ∇_φ KL(q_φ ‖ p) = −E[(∇log p(x′) − ∇log q(x′))ᵀ ∂x′/∂φ],

with ∇log q(x′) estimated at the n new particles by a score estimator. The gradient is one
proposal VJP with cotangent c_i = −(∇log p(x′_i) − ĝ_i)/n. Exact (up to the score estimate)
for unadjusted kernels (ULA, SGLD, learned); Metropolis kernels use a restart-from-
contraction probe (see :class:`KLObjective`). The recorded objective is the estimated
Fisher divergence mean_i ‖∇log p(x′_i) − ĝ_i‖², a tractable proxy of the KL's size.
"""

import numba as nb
import numpy as np

from ..errors import HyperparameterError
from .counting import FirstOrderModel
from .estimators import amortised, make_estimator
from .objective import Objective
from .scales import metric_block
from .stan_tools import (DualAveraging, PopulationMetric, check_buffers,
                         find_reasonable_step_size, mean_acceptance)
from .step_range import StepRangeRule
from .window import check_target, metric_kind, resolve_target


@nb.njit(cache=True, fastmath={"reassoc"})
def _residual_inplace(G, grad_p, scale):
    """G <- scale·(G − grad_p) in one pass; returns Σ (G − grad_p)² (before scaling),
    re-associated so that the sum vectorises (2–3× faster at 50 × 801)."""
    n, d = G.shape
    total = 0.0
    for i in range(n):
        for j in range(d):
            r = G[i, j] - grad_p[i, j]
            total += r * r
            G[i, j] = scale * r
    return total


def kl_gradient(model, transition, state, phi, noise, prop, estimator, columns=None):
    """(grad_phi (p,), fisher) of the one-step KL at the proposal ``prop`` (y = x′).

    ``columns`` (sorted coordinates, m of d): the unbiased estimate from those coordinates
    only, (d/m)·Σ over them of the per-coordinate terms, for a uniformly drawn subset; the
    Fisher divergence likewise."""
    n, d = state.x.shape
    # in place on the estimator's fresh output, one pass: at 50 particles of a BNN the
    # separate numpy passes cost ~5% of the model's gradient time
    cot = in_sample_scores(estimator.fit(prop.y), columns)
    if columns is None:
        grad_p, weight = prop.grad_y, 1.0 / n
    else:
        grad_p, weight = prop.grad_y[:, columns], d / (columns.size * n)
    fisher = _residual_inplace(cot, grad_p, weight) * weight  # cot = weight·(ĝ − ∇log p)
    # Only the φ-part is used; the x-part would cost a Hessian-vector product per chain.
    first_order = FirstOrderModel(model)
    if columns is None:
        dphi, _ = transition.proposal_vjp(first_order, state, phi, noise, prop, cot,
                                          need_x=False)
    else:
        dphi = transition.column_vjp(first_order, state, phi, noise, prop, cot, columns)
    return np.asarray(dphi, dtype=np.float64), fisher


def in_sample_scores(estimator, columns):
    """The fitted estimator's in-sample estimate, only ``columns`` unless None (a plain
    ``gradients()`` then, which any estimator object has)."""
    return estimator.gradients() if columns is None else estimator.gradients(columns=columns)


def check_coordinates(coordinates):
    """None, or the number of coordinates per KL gradient as a positive int."""
    if coordinates is None:
        return None
    if (isinstance(coordinates, bool) or not isinstance(coordinates, (int, np.integer))
            or coordinates < 1):
        raise HyperparameterError(
            f"coordinates must be None (all) or a positive integer, got {coordinates!r}.")
    return int(coordinates)


def draw_columns(m, d, rng):
    """A uniform m-subset of range(d), sorted (int64); None when m is None or m ≥ d (all).
    One call to ``rng.random(m)``: Floyd's algorithm on those uniforms (a few µs, where
    ``rng.choice(d, m, replace=False)`` plus a sort cost 15–20 µs in the adaptation loop)."""
    if m is None or m >= d:
        return None
    return _floyd_subset(rng.random(m), d)


@nb.njit(cache=True)
def _floyd_subset(u, d):
    """Floyd's sampling: for j = d − m, …, d − 1 take t uniform in {0, …, j} (from u), and
    j itself if t is taken already; every m-subset is equally likely. Sorted output."""
    m = u.size
    taken = np.zeros(d, dtype=np.bool_)
    for k in range(m):
        j = d - m + k
        t = min(int(u[k] * (j + 1)), j)
        if taken[t]:
            taken[j] = True
        else:
            taken[t] = True
    out = np.empty(m, dtype=np.int64)
    k = 0
    for i in range(d):
        if taken[i]:
            out[k] = i
            k += 1
    return out


class KLObjective(Objective):
    """KL(q_φ ‖ p) after one step.

    Unadjusted kernels (ULA, SGLD, learned): the one-step KL of the population's actual
    move; every coordinate of φ follows its gradient (the preconditioner only until the
    last slow window when ``population_metric`` re-initialises it from the population).

    Metropolis kernels: at stationarity the one-step KL of an exact kernel is zero for
    every φ, so it carries no signal. Here the population moves with the exact kernel,
    the step size follows dual averaging to ``target_accept`` (as in Stan), and the
    *shape* of the preconditioner (plus kernel extras such as a trajectory length)
    follows the KL gradient of a restart-from-contraction probe: a copy of the
    ``probe_chains`` first chains is contracted toward the population mean,
    x̃ = x̄ + λ(x − x̄), and one proposal is made from it (accept step not applied); the
    KL of the proposals' law to p rewards proposals that re-expand the population into
    the target in every direction at once. The overall scale of the preconditioner is
    projected out of the gradient (it is the step size's job). Each iteration costs one
    kernel step plus 2 × ``probe_chains`` gradient evaluations (the probe's start and
    proposal). With ``population_metric`` the preconditioner is also re-initialised from
    the pooled chain positions at the end of Stan's slow windows, and the probe stops after
    the last window (from then on the preconditioner stays at the population estimate,
    as for the speed objective's ``learn_metric="windows"``, and only the step size adapts).

    Parameters
    ----------
    estimator : name or instance
        Score estimator (see :data:`~mcmcadapt.adaptation.estimators.ESTIMATOR_NAMES`).
    estimator_options : dict
        Constructor arguments for an estimator given by name.
    contraction : float in (0, 1)
        λ of the probe (Metropolis kernels).
    probe_chains : int or None
        Chains in the probe (None: all). Default 16: measured on the benchmark targets,
        16 probe chains out of 32 cost a third less than all of them at equal or better
        ESS per gradient, and 8 were too noisy for dense preconditioners.
    target_accept, gamma, kappa, t0, centre : dual averaging of the step size (Metropolis
        kernels; None target: 0.8 HMC, 0.574 MALA, 0.234 RWM). γ and the centre default to
        :data:`~.stan_tools.POPULATION_CONSTANTS` (Stan's 0.05 and 10 made the averaged step
        size accept 0.70–0.77 for a 0.574 target and cost 10–20% ESS per gradient).
    population_metric, buffers : see :class:`~.speed.SpeedObjective`.
    hessian : {"ignore", "exact"}
        Second derivatives in the proposal VJP: the φ-gradient of a one-step Langevin move
        needs none; through an HMC trajectory "exact" costs one Hessian-vector product per
        leapfrog step and "ignore" holds the forces fixed.
    init_step_size : bool
        Unadjusted kernels with a Metropolis twin (ULA, SGLD, and the learned kernel while
        it is still the Langevin update it starts as): at the start and after each
        preconditioner reset, set the step size by Stan's heuristic on the twin (see
        :meth:`_stable_step_size`). Metropolis kernels always start from Stan's heuristic.
    reselect_every : int
        For an estimator with "auto" hyper-parameters: search them at every
        ``reselect_every``-th iteration only and fit with the values chosen last in between
        (see :class:`~.estimators.Reselecting`; default 25; 1 searches at every iteration).
        No effect on estimators without "auto" settings (the default Stein estimator).
    coordinates : int or None
        Estimate each iteration's KL gradient (the probe's, for Metropolis kernels) from m =
        ``coordinates`` coordinates drawn uniformly without replacement, scaled by d/m:
        unbiased for the gradient over all of them. The score estimate and the VJP then
        touch only those columns (:meth:`~mcmcadapt.transitions.base.Transition.column_vjp`;
        Stein's in-sample estimate costs n²·m instead of n²·d after its n²·d kernel matrix).
        A per-coordinate parameter (a diagonal preconditioner entry) gets a gradient only in
        the iterations that draw it, so it learns more slowly. None (default): all of them.
        Measured on a BNN (d = 801, 50 chains; ``benchmarks/kl_coordinates.py``): see the
        README's adaptation-overhead section.
    step_range : dict or None
        Settings of the step range (Metropolis HMC with a step spread; see
        :class:`~.window.WindowAdaptation`).
    """

    name = "kl"

    def __init__(self, estimator="stein", estimator_options=None, contraction=0.5,
                 probe_chains=16, target_accept=None, gamma=0.1, kappa=0.75, t0=10.0,
                 centre=1.0, population_metric=True, buffers=(75, 25, 50), hessian="ignore",
                 reselect_every=25, init_step_size=True, coordinates=None, step_range=None):
        make_estimator(estimator, estimator_options)  # a bad name or option fails here
        self.estimator = estimator
        self.estimator_options = estimator_options
        if not 0.0 < float(contraction) < 1.0:
            raise HyperparameterError(f"contraction must lie in (0, 1), got {contraction!r}.")
        self.contraction = float(contraction)
        if probe_chains is not None and int(probe_chains) < 2:
            raise HyperparameterError(f"probe_chains must be at least 2, got {probe_chains!r}.")
        self.probe_chains = None if probe_chains is None else int(probe_chains)
        self.target_accept = check_target(target_accept)
        self.dual_constants = (gamma, kappa, t0, centre)
        self.population_metric = bool(population_metric)
        self.buffers = check_buffers(buffers)
        if hessian not in ("ignore", "exact"):
            raise HyperparameterError(f"hessian must be 'ignore' or 'exact', got {hessian!r}.")
        self.hessian = hessian
        self.reselect_every = reselect_every
        self.init_step_size = bool(init_step_size)
        self.coordinates = check_coordinates(coordinates)
        self.step_range = StepRangeRule.check(step_range)

    def settings(self):
        est = self.estimator if isinstance(self.estimator, str) else repr(self.estimator)
        return {"name": self.name, "estimator": est,
                "estimator_options": self.estimator_options, "contraction": self.contraction,
                "probe_chains": self.probe_chains,
                "target_accept": getattr(self, "target_", self.target_accept),
                "population_metric": self.population_metric, "buffers": list(self.buffers),
                "hessian": self.hessian, "reselect_every": self.reselect_every,
                "init_step_size": self.init_step_size, "coordinates": self.coordinates,
                "step_range": self.step_range}

    def setup(self, model, transition, state, phi, n_steps, rng):
        self._estimator = amortised(make_estimator(self.estimator, self.estimator_options),
                                    self.reselect_every)
        self.metropolis = bool(transition.metropolis)
        kind = metric_kind(transition, phi)
        self.metric = (PopulationMetric(n_steps, state.x.shape[1], kind, self.buffers)
                       if kind and self.population_metric else None)
        self.block = metric_block(transition, phi)
        self.n_diag = (state.x.shape[1] if kind == "dense"
                       else self.block.stop - self.block.start)
        self.iteration = 0
        if not self.metropolis:
            return state, self._stable_step_size(model, transition, state, phi, rng)[0]
        self.target_ = resolve_target(self.target_accept, transition)
        self.dual = DualAveraging(self.target_, *self.dual_constants)
        self.range = StepRangeRule.for_kernel(transition, n_steps, **self.step_range)
        if self.range is not None:
            return state, self.range.apply(model, transition, state, phi, rng)[0]
        eps, _ = find_reasonable_step_size(model, transition, state, phi, rng)
        self.dual.restart(eps)
        return state, transition.set_step_size(phi, eps)

    def _stable_step_size(self, model, transition, state, phi, rng):
        """(φ, gradient evaluations) with the step size of an unadjusted kernel set by Stan's
        initial heuristic (threshold 0.8, conservative) applied to its Metropolis twin (ULA,
        SGLD, the learned kernel: MALA): a start well inside the kernel's stability region whatever the target's
        scales, from which the gradient tunes. Measured: ULA at its default step size on
        Neal's 100-d Gaussian (smallest sd 0.01) sent the population to 1e100 within 50
        iterations; a threshold of 0.5 left the tuned step 2× too large on a 4-d Gaussian
        after 200 iterations, and only halving the default step (never doubling) left it 4×
        too small on Neal's Gaussian after 625. Without a twin, or with
        ``init_step_size=False``, φ is returned unchanged."""
        twin = transition.metropolis_twin(phi, state.x.shape[1]) if self.init_step_size else None
        if twin is None:
            return phi, 0
        kernel, phi_twin = twin
        if getattr(transition, "batch_size", None) is not None:
            # a minibatch kernel's state holds minibatch estimates of log p; against the
            # twin's full-data log p at its proposals they read as rejections at every step
            # size (SGLD's step once collapsed to 1e-39 here)
            state = transition.init(model, state.x)
        eps, n_grad = find_reasonable_step_size(model, kernel, state, phi_twin, rng,
                                                threshold=0.8, conservative=True)
        return transition.step_size_from_twin(phi, eps), n_grad

    def _metric_moves(self):
        """The preconditioner follows the gradient until the last slow window ends."""
        windows = self.metric.windows if self.metric is not None else []
        return not windows or self.iteration <= windows[-1][1]

    def update(self, model, transition, state, phi, rng):
        if self.metropolis:
            return self._update_metropolis(model, transition, state, phi, rng)
        d = state.x.shape[1]
        noise, prop, new_state, info = self.move(model, transition, state, phi, rng)
        record = {"acceptance_rate": 1.0, "info": info, "n_bad": int(np.sum(info.diverging))}
        columns = draw_columns(self.coordinates, d, rng)
        grad, record["objective"] = kl_gradient(model, transition, state, phi, noise, prop,
                                                self._estimator, columns)
        if not self._metric_moves():
            grad[self.block] = 0.0
        if 2 * record["n_bad"] > state.x.shape[0]:
            # most steps blew up or left the density's domain (and were rejected): no
            # acceptance rate tells an unadjusted kernel its step is too large, this does
            record["phi"] = self.failed(transition, phi)
        M = self.metric.observe(self.iteration, new_state.x) if self.metric else None
        self.iteration += 1
        if M is not None:
            record["phi"], record["n_grad"] = self._stable_step_size(
                model, transition, new_state, transition.set_inv_mass(phi, M), rng)
            record["reset"], grad = True, None
        return new_state, grad, record

    def _probe_gradient(self, model, transition, state, phi, rng):
        """KL gradient (shape only) of one proposal from the contracted population."""
        X = state.x if self.probe_chains is None else state.x[: self.probe_chains]
        center = state.x.mean(axis=0)
        probe = transition.init(model, center + self.contraction * (X - center))
        m, d = probe.x.shape
        noise = transition.draw_noise(m, d, rng)
        prop = transition.propose(model, probe, phi, noise)
        keep = ~np.asarray(prop.diverging, bool)
        if keep.sum() < 2:
            return None, np.nan
        vjp_model = FirstOrderModel(model) if self.hessian == "ignore" else model
        columns = draw_columns(self.coordinates, d, rng)
        grad_y, scale = ((prop.grad_y, 1.0) if columns is None
                         else (prop.grad_y[:, columns], d / columns.size))
        g_hat = np.zeros(grad_y.shape)
        g_hat[keep] = in_sample_scores(self._estimator.fit(prop.y[keep]), columns)
        diff = np.where(keep[:, None], grad_y - g_hat, 0.0)
        cot = (-scale / keep.sum()) * diff
        if columns is None:
            grad, _ = transition.proposal_vjp(vjp_model, probe, phi, noise, prop, cot,
                                              need_x=False)
        else:
            grad = transition.column_vjp(vjp_model, probe, phi, noise, prop, cot, columns)
        grad = np.asarray(grad, dtype=np.float64).copy()
        grad[0] = 0.0  # the step size follows dual averaging
        b = self.block
        # project out the overall scale (log det L = sum of the log-diagonal entries)
        grad[b.start:b.start + self.n_diag] -= grad[b.start:b.start + self.n_diag].mean()
        return grad, scale * float(np.mean(np.sum(diff[keep] ** 2, axis=1)))

    def _update_metropolis(self, model, transition, state, phi, rng):
        new_state, info = self.move(model, transition.without_vjp(), state, phi, rng)[2:]
        acc = mean_acceptance(info.log_accept_ratio)
        eps = self.dual.update(acc) if self.range is None else None
        grad, fisher = (self._probe_gradient(model, transition, state, phi, rng)
                        if self._metric_moves() else (None, np.nan))
        if grad is not None and self.range is not None:
            grad[self.range.owned(phi)] = 0.0
        record = {"acceptance_rate": acc, "info": info, "objective": fisher,
                  "n_bad": int(np.sum(info.diverging))}
        M = self.metric.observe(self.iteration, new_state.x) if self.metric else None
        due = self.range is not None and self.range.due(self.iteration)
        self.iteration += 1
        if M is not None:
            phi = transition.set_inv_mass(phi, M)
            grad, record["reset"] = None, True
        if self.range is not None:
            if M is not None or due:
                phi, record["n_grad"] = self.range.apply(model, transition, new_state, phi, rng)
                grad, record["reset"] = None, True
            record["phi"] = phi
            return new_state, grad, record
        if M is not None:
            eps, record["n_grad"] = find_reasonable_step_size(model, transition, new_state, phi,
                                                              rng, step_size=eps)
            self.dual.restart(eps)
        record["phi"] = transition.set_step_size(phi, eps)
        return new_state, grad, record

    def finalize(self, transition, phi):
        if not self.metropolis or self.range is not None or self.dual.counter == 0:
            return phi
        return transition.set_step_size(phi, self.dual.final_step_size)
