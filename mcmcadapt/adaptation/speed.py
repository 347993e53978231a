"""Entropy-regularised speed measure (Titsias & Dellaportas, NeurIPS 2019).

Maximise  F(φ) = E[min(0, log r_φ(x, y))] + β·H[q_φ(·|x)]  over the population, with β
adapted so that the population acceptance hits a target. The loss handed to the
optimiser is −F; the recorded objective is F (its speed term alone when H is only known
through its gradient). Gradients:

- speed term: ∂/∂φ of mean_i min(0, log r_i) = (1/n) Σ_{i: log r_i < 0} ∂ log r_i/∂φ,
  through the proposal y (``transition.log_ratio_vjp``); by default first-order, i.e.
  with ∇log p held fixed at the evaluated points (see ``hessian``);
- entropy: closed form for Gaussian proposals (``transition.proposal_entropy``); for
  multi-step HMC by default the first-order closed form d·log ε + log det L (forces held
  fixed), or, with ``entropy="score"``, ∇_φH = −E[∇_y log q(y|x)ᵀ ∂y/∂φ] where
  ∇_y log q(y|x) = ∇_y log q(x, y) comes from a score estimator fitted on the joint pairs
  (x_i, y_i) ∈ R^{2d} (the y block of its output), i.e. a proposal VJP with cotangent
  −ŝ_y/n.

β follows log β ← log β + ρ·(ā − target): too high an acceptance raises the weight of the
entropy (longer proposals), too low lowers it. Once the preconditioner is final (after the
last of Stan's slow windows, see ``population_metric`` and ``learn_metric``), the step size
is φ's only scale left, and the constrained optimum of the speed measure is the step size
whose acceptance is the target: by default it is then found directly by dual averaging
(``terminal``) and the run ends on the averaged step size, because the β-coupled gradient
reaches it slowly (measured: the tuned sampler accepted 0.72 for a 0.574 target on eight
schools, 0.93 for 0.8 with HMC on illcond100). Chains whose proposal is non-finite or
diverging carry no gradient and count as rejections in ā; when no chain has a usable
proposal the step size is halved. By default the preconditioner is also re-initialised
from the pooled population at the end of Stan's slow windows (``population_metric``).
"""

import numpy as np

from .._validation import positive_float
from ..errors import HyperparameterError
from .counting import FirstOrderModel
from .estimators import amortised, make_estimator
from .objective import Objective, nonfinite_chains
from .scales import first_order_entropy, metric_block
from .step_range import StepRangeRule
from .stan_tools import (DualAveraging, PopulationMetric, check_buffers,
                         find_reasonable_step_size, mean_acceptance)
from .window import check_target, metric_kind, resolve_target

# HMC: with a fixed number of leapfrog steps the step size also sets the trajectory length,
# and the first-order entropy cannot see a trajectory turning back; measured with 5
# jittered steps on the benchmark targets, 0.9 beat 0.7–0.8 (german: 2× the ESS/gradient).
DEFAULT_TARGET = {"rwm": 0.25, "mala": 0.574, "hmc": 0.9}


class SpeedObjective(Objective):
    """Titsias–Dellaportas speed measure with acceptance-driven β.

    Parameters
    ----------
    target_accept : float or None
        None picks 0.25 for RWM, 0.574 for MALA, 0.9 for HMC (0.6 otherwise).
    beta : float
        Initial entropy weight.
    beta_rate : float
        ρ in the log β update.
    estimator, estimator_options :
        Score estimator for implicit proposals (name or instance), fitted on (x, y) pairs.
    init_step_size : bool
        Start from Stan's doubling heuristic for the step size (else keep φ0's). An HMC
        kernel with a step spread gets its step range from the population's local step
        sizes instead, at the start, after each metric update and at the last iteration
        (:mod:`.step_range`); no gradient moves log ε or the spread then.
    population_metric : bool
        Warm-start the preconditioner from the population: at the end of each of Stan's
        slow windows (``buffers``) the preconditioner is set to the regularised covariance
        of the pooled chain positions of that window and the step size re-initialised;
        the gradient refines φ in between and after the last window. Without it the
        preconditioner is learnt by gradient alone (slow for dense metrics: thousands of
        parameters against a stochastic gradient).
    buffers : (init_buffer, base_window, term_buffer) of the window schedule.
    learn_metric : {"windows", "always", "never"}
        When the gradient may move the preconditioner (the step size and kernel extras
        always follow it). "windows": until the last slow window ends, after which the
        preconditioner stays at the population estimate — measured best: the gradient
        expands the proposal into directions the population has not reached yet (decisive
        on ill-conditioned targets), while the speed measure's own optimum shrinks the
        steps of slowly mixing, curvature-varying coordinates (eight schools' log τ),
        which costs ESS. Same as "always" without ``population_metric``.
    entropy : {"auto", "closed", "score"}
        How H[q_φ(·|x)] and its gradient are obtained for kernels without a closed-form
        proposal entropy (multi-step HMC): "score" estimates ∇_y log q(y|x) with the score
        estimator on the joint pairs (x, y); "closed" uses the first-order entropy
        d·log ε + log det L (forces held fixed, see :func:`.scales.first_order_entropy`).
        "auto": the kernel's own closed form when it has one, else "closed" when
        ``hessian="ignore"`` (the same first-order approximation) and "score" otherwise.
    hessian : {"ignore", "exact"}
        "exact" differentiates log r through ∇log p(y) (Hessian-vector products: one per
        chain for MALA, one per leapfrog step for HMC, each costing one or two gradients).
        "ignore" holds ∇log p fixed at the evaluated points (a first-order gradient at no
        extra cost). Measured on the benchmark targets, "ignore" tunes as well per
        iteration and is 2–3× cheaper per iteration, so it is the default.
    reselect_every : int
        For an estimator with "auto" hyper-parameters (``entropy="score"``): search them at
        every ``reselect_every``-th iteration only (see :class:`~.estimators.Reselecting`;
        default 25; 1 searches at every iteration).
    terminal : {"dual_averaging", "gradient"}
        How the step size moves after the last slow window when the preconditioner is then
        frozen (``learn_metric`` "windows" or "never", with ``population_metric``):
        "dual_averaging" (restarted at the last window's step size, with
        :data:`~.stan_tools.POPULATION_CONSTANTS`; the run ends on the averaged step
        size), or "gradient" (the β-weighted gradient, as before the window ended). Other
        kernel parameters keep following the gradient.
    step_range : dict or None
        Settings of the step range (see :class:`~.window.WindowAdaptation`).
    """

    name = "speed"

    def __init__(self, target_accept=None, beta=1.0, beta_rate=0.05, estimator="stein",
                 estimator_options=None, init_step_size=True, population_metric=True,
                 buffers=(75, 25, 50), learn_metric="windows", hessian="ignore",
                 entropy="auto", reselect_every=25, terminal="dual_averaging",
                 step_range=None):
        self.target_accept = check_target(target_accept)
        self.beta = positive_float(beta, "beta")
        self.beta_rate = positive_float(beta_rate, "beta_rate")
        make_estimator(estimator, estimator_options)  # a bad name or option fails here
        self.estimator = estimator
        self.estimator_options = estimator_options
        self.init_step_size = bool(init_step_size)
        self.population_metric = bool(population_metric)
        self.buffers = check_buffers(buffers)
        if learn_metric not in ("windows", "always", "never"):
            raise HyperparameterError(
                f"learn_metric must be 'windows', 'always' or 'never', got {learn_metric!r}.")
        self.learn_metric = learn_metric
        if hessian not in ("ignore", "exact"):
            raise HyperparameterError(f"hessian must be 'ignore' or 'exact', got {hessian!r}.")
        self.hessian = hessian
        if entropy not in ("auto", "closed", "score"):
            raise HyperparameterError(
                f"entropy must be 'auto', 'closed' or 'score', got {entropy!r}.")
        self.entropy = entropy
        self.reselect_every = reselect_every
        if terminal not in ("dual_averaging", "gradient"):
            raise HyperparameterError(
                f"terminal must be 'dual_averaging' or 'gradient', got {terminal!r}.")
        self.terminal = terminal
        self.step_range = StepRangeRule.check(step_range)

    def settings(self):
        est = self.estimator if isinstance(self.estimator, str) else repr(self.estimator)
        return {"name": self.name,
                "target_accept": getattr(self, "target_", self.target_accept),
                "beta_rate": self.beta_rate, "estimator": est,
                "estimator_options": self.estimator_options,
                "population_metric": self.population_metric, "buffers": list(self.buffers),
                "learn_metric": self.learn_metric, "hessian": self.hessian,
                "entropy": self.entropy, "reselect_every": self.reselect_every,
                "terminal": self.terminal, "step_range": self.step_range}

    def setup(self, model, transition, state, phi, n_steps, rng):
        if not transition.metropolis:
            raise HyperparameterError(
                f"the speed objective needs an accept/reject step; the kernel "
                f"{transition.name!r} is unadjusted — use objective='kl' (command line: --objective kl).")
        self.target_ = resolve_target(self.target_accept, transition, DEFAULT_TARGET, 0.6)
        # Stan's threshold 0.5, but never past the stability edge. Measured alternatives
        # (HMC, 32×200): restarting at the target itself (0.9), or keeping the proposal
        # volume ε^d·det L across the reset, left the step size too small after the last
        # window (the gradient lowers it readily but raises it slowly): −10…−50% ESS/grad
        self._heuristic = {"threshold": 0.5, "conservative": True}
        self.log_beta = float(np.log(self.beta))
        self._entropy_fn, self._estimator = None, None
        try:
            transition.proposal_entropy(phi)
            self._entropy_fn = transition.proposal_entropy
        except NotImplementedError:
            pass
        if self.entropy == "closed" or (self.entropy == "auto" and self._entropy_fn is None
                                        and self.hessian == "ignore"):
            self._entropy_fn = self._entropy_fn or (
                lambda p: first_order_entropy(transition, p))
        elif self.entropy == "score" or self._entropy_fn is None:
            self._entropy_fn = None
            self._estimator = amortised(make_estimator(self.estimator, self.estimator_options),
                                        self.reselect_every)
        kind = metric_kind(transition, phi) if self.population_metric else None
        self.metric = (PopulationMetric(n_steps, state.x.shape[1], kind, self.buffers)
                       if kind else None)
        self.iteration = 0
        self.dual = None
        self.range = StepRangeRule.for_kernel(transition, n_steps, **self.step_range)
        if self.range is not None:
            phi, _ = self.range.apply(model, transition, state, phi, rng)
        elif self.init_step_size:
            eps, _ = find_reasonable_step_size(model, transition, state, phi, rng,
                                               **self._heuristic)
            phi = transition.set_step_size(phi, eps)
        return state, phi

    def _terminal(self):
        """True once the preconditioner is final and the step size is dual-averaged."""
        return (self.terminal == "dual_averaging" and self.metric is not None
                and bool(self.metric.windows) and self.learn_metric != "always"
                and self.iteration > self.metric.windows[-1][1])

    def _metric_moves(self):
        if self.learn_metric == "windows" and self.metric is not None and self.metric.windows:
            return self.iteration <= self.metric.windows[-1][1]
        return self.learn_metric != "never"

    def _vjp_model(self, model):
        return FirstOrderModel(model) if self.hessian == "ignore" else model

    def _entropy(self, model, transition, state, phi, noise, prop, ok):
        if self._estimator is None:
            H, dH = self._entropy_fn(phi)
            return float(np.mean(H)), np.asarray(dH, dtype=np.float64)
        n, d = state.x.shape
        Z = np.concatenate([state.x[ok], prop.y[ok]], axis=1)
        s_y = self._estimator.fit(Z).gradients()[:, d:]
        cot = np.zeros((n, d))
        cot[ok] = -s_y / max(int(ok.sum()), 1)
        dH, _ = transition.proposal_vjp(self._vjp_model(model), state, phi, noise, prop, cot,
                                        need_x=False)
        return np.nan, np.asarray(dH, dtype=np.float64)

    def update(self, model, transition, state, phi, rng):
        n = state.x.shape[0]
        noise, prop, new_state, info = self.move(model, transition, state, phi, rng)
        lar = np.asarray(prop.log_accept_ratio, dtype=np.float64)
        ok = np.isfinite(lar) & ~nonfinite_chains(prop) & ~np.asarray(prop.diverging, bool)
        acc = mean_acceptance(np.where(ok, lar, -np.inf))
        beta = float(np.exp(self.log_beta))
        record = {"acceptance_rate": acc, "info": info, "beta": beta,
                  "n_bad": int(n - ok.sum())}
        grad = None
        # in the terminal phase of a kernel without extra parameters nothing follows the
        # gradient: skip the VJPs
        # extras beyond the metric block that the gradient moves (a step range sets s)
        free_extras = np.size(phi) - metric_block(transition, phi).stop - (self.range is not None)
        learns = ((self.dual is None and self.range is None) or self._metric_moves()
                  or free_extras > 0)
        if ok.sum() >= 2:
            speed = float(np.sum(np.minimum(lar[ok], 0.0)) / ok.sum())
            if learns:
                cot_r = np.where(ok & (lar < 0.0), 1.0 / ok.sum(), 0.0)
                g_speed = np.asarray(transition.log_ratio_vjp(
                    self._vjp_model(model), state, phi, noise, prop, cot_r), np.float64)
                H, dH = self._entropy(model, transition, state, phi, noise, prop, ok)
                grad = -(g_speed + beta * dH)
                if not self._metric_moves():
                    grad[metric_block(transition, phi)] = 0.0
                if self.dual is not None:
                    grad[0] = 0.0  # log ε: set by dual averaging below
                if self.range is not None:
                    grad[self.range.owned(phi)] = 0.0
            else:
                H = float(np.mean(self._entropy_fn(phi)[0])) if self._entropy_fn else np.nan
                grad = np.zeros(np.size(phi))
            record.update(objective=speed + beta * H if np.isfinite(H) else speed, entropy=H,
                          speed=speed)
        else:
            # No usable proposal, hence no gradient: back off as Stan's heuristic does.
            record.update(objective=np.nan, entropy=np.nan, speed=np.nan)
            phi = transition.set_step_size(phi, 0.5 * transition.get_step_size(phi))
        self.log_beta += self.beta_rate * (acc - self.target_)
        if self.dual is not None:
            phi = transition.set_step_size(phi, self.dual.update(acc))
            record["phi"] = phi
        M = self.metric.observe(self.iteration, new_state.x) if self.metric else None
        due = self.range is not None and self.range.due(self.iteration)
        self.iteration += 1
        if M is not None:
            phi = transition.set_inv_mass(phi, M)
        if self.range is not None and (M is not None or due):
            phi, record["n_grad"] = self.range.apply(model, transition, new_state, phi, rng)
            grad = None
        elif M is not None:
            eps, record["n_grad"] = find_reasonable_step_size(
                model, transition, new_state, phi, rng, **self._heuristic)
            phi = transition.set_step_size(phi, eps)
            grad = None
            if self._terminal():
                self.dual = DualAveraging.for_population(self.target_)
                self.dual.restart(eps)
        if grad is None:
            record["phi"], record["reset"] = phi, True
        return new_state, grad, record

    def finalize(self, transition, phi):
        """φ with the dual-averaged step size exp(x̄) when the terminal phase ran."""
        if self.dual is None or self.dual.counter == 0:
            return phi
        return transition.set_step_size(phi, self.dual.final_step_size)
