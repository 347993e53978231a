"""Stan's windowed warm-up, applied to a population of chains (the in-project baseline).

Per iteration the whole population moves once; dual averaging sees the population mean
acceptance min(1, r), and Welford pools the positions of all chains. At the end of each
slow window the metric becomes the regularised (co)variance of the window's draws, the
step size is re-initialised by the doubling heuristic and dual averaging restarts at
μ = log(10 ε). After the last iteration the step size is the dual-averaging mean exp(x̄).
For HMC with a step spread, the step range follows the population's local step sizes
instead (:mod:`.step_range`). No gradient: φ is set directly (``record["phi"]``).
"""

import numpy as np

from ..errors import HyperparameterError
from .objective import Objective
from .stan_tools import (DualAveraging, PopulationMetric, check_buffers,
                         find_reasonable_step_size, mean_acceptance)
from .step_range import StepRangeRule

DEFAULT_TARGET = {"hmc": 0.8, "mala": 0.574, "rwm": 0.234}


def check_target(target_accept):
    """None (the kernel's default) or a float in (0, 1), else a HyperparameterError."""
    if target_accept is None:
        return None
    try:
        value = float(target_accept)
    except (TypeError, ValueError):
        value = np.nan
    if isinstance(target_accept, bool) or not 0.0 < value < 1.0:
        raise HyperparameterError(
            f"target_accept must be None or lie in (0, 1), got {target_accept!r}.")
    return value


def resolve_target(target_accept, transition, defaults=None, fallback=0.8):
    """The acceptance target for ``transition``: the one given, else its entry in
    ``defaults`` (Stan's, :data:`DEFAULT_TARGET`, unless an objective has its own)."""
    if target_accept is not None:
        return float(target_accept)
    return (DEFAULT_TARGET if defaults is None else defaults).get(transition.name, fallback)


def metric_kind(transition, phi):
    """"dense", "diag" or None, read from the transition's human-readable parameters."""
    described = transition.describe(phi)
    if "inv_mass" in described:
        return "dense"
    if "inv_mass_diag" in described:
        return "diag"
    return None


class WindowAdaptation(Objective):
    """Stan-style window adaptation.

    Parameters
    ----------
    target_accept : float or None
        Dual-averaging target; None picks 0.8 for HMC, 0.574 for MALA, 0.234 for RWM.
    gamma, kappa, t0, centre : dual-averaging constants (Stan's defaults; the iterates
        restart centred on log(centre·ε)).
    init_buffer, base_window, term_buffer : window schedule (Stan's defaults 75/25/50).
    adapt_metric : bool
        Learn the preconditioner when the transition has one.
    step_range : dict or None
        Settings of the step range of an HMC kernel with a step spread
        (:class:`~.step_range.StepRangeRule`: ``accept``, ``quantiles``, ``explore``,
        ``n_momenta``); None keeps the defaults.
    """

    name = "window"
    uses_gradient = False

    def __init__(self, target_accept=None, gamma=0.05, kappa=0.75, t0=10.0, centre=10.0,
                 init_buffer=75,
                 base_window=25, term_buffer=50, adapt_metric=True, step_range=None):
        self.target_accept = check_target(target_accept)
        self.gamma, self.kappa, self.t0, self.centre = gamma, kappa, t0, centre
        self.buffers = check_buffers((init_buffer, base_window, term_buffer))
        self.adapt_metric = bool(adapt_metric)
        self.step_range = StepRangeRule.check(step_range)

    def settings(self):
        return {"name": self.name, "target_accept": getattr(self, "target_", self.target_accept),
                "gamma": self.gamma,
                "kappa": self.kappa, "t0": self.t0, "centre": self.centre,
                "buffers": list(self.buffers),
                "adapt_metric": self.adapt_metric, "step_range": self.step_range}

    def setup(self, model, transition, state, phi, n_steps, rng):
        if not transition.metropolis:
            raise HyperparameterError(
                f"window adaptation tunes the step size to a target acceptance rate, which "
                f"the unadjusted kernel {transition.name!r} does not have; use objective='kl' (command line: --objective kl).")
        self.target_ = resolve_target(self.target_accept, transition)
        self.dual = DualAveraging(self.target_, self.gamma, self.kappa, self.t0, self.centre)
        kind = metric_kind(transition, phi) if self.adapt_metric else None
        self.metric = (PopulationMetric(n_steps, state.x.shape[1], kind, self.buffers)
                       if kind else None)
        self.iteration = 0
        self.range = StepRangeRule.for_kernel(transition, n_steps, **self.step_range)
        if self.range is not None:
            return state, self.range.apply(model, transition, state, phi, rng)[0]
        eps, _ = find_reasonable_step_size(model, transition, state, phi, rng)
        self.dual.restart(eps)
        return state, transition.set_step_size(phi, eps)

    def update(self, model, transition, state, phi, rng):
        it = self.iteration
        new_state, info = self.move(model, transition.without_vjp(), state, phi, rng)[2:]
        acc = mean_acceptance(info.log_accept_ratio)
        eps = self.dual.update(acc) if self.range is None else None
        extra = 0
        M = self.metric.observe(it, new_state.x) if self.metric is not None else None
        if M is not None:
            phi = transition.set_inv_mass(phi, M)
        if self.range is not None:
            if M is not None or self.range.due(it):
                phi, extra = self.range.apply(model, transition, new_state, phi, rng)
        else:
            if M is not None:
                eps, extra = find_reasonable_step_size(model, transition, new_state, phi, rng,
                                                       step_size=eps)
                self.dual.restart(eps)
            phi = transition.set_step_size(phi, eps)
        self.iteration += 1
        record = {"objective": np.nan, "acceptance_rate": acc, "info": info, "phi": phi,
                  "n_grad": extra}
        return new_state, None, record

    def finalize(self, transition, phi):
        """φ with the averaged step size exp(x̄) (Stan's end of warm-up)."""
        if self.dual.counter == 0:
            return phi
        return transition.set_step_size(phi, self.dual.final_step_size)
