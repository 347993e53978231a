"""Step-size ranges from the population's local step sizes (HMC with ``step_spread``).

A single step size cannot serve a target whose local scale varies by orders of magnitude:
in Neal's funnel the conditional scale of the lower coordinates is e^{v/2}, 0.05 in the
neck and 20 in the mouth, so a step that is stable in the neck takes thousands of
iterations to cross the mouth, and one that crosses the mouth never enters the neck (the
NUTS peers' failure: x0 biased high, R-hat 1.07–1.16). An HMC kernel built with
``step_spread=True`` draws each chain's step per proposal log-uniformly from
[ε e^{−s}, ε e^{s}]; every step size is an exact kernel of its own, so the mixture is too.

The range comes from the population itself. For each chain, a bisection on log h finds the
largest step whose acceptance probability, averaged over a few momentum draws, is at least
``accept``: that chain's *local* step size. The range spans the ``quantiles`` of the local
step sizes across chains, extended downwards when they vary (log ε its midpoint, s half its
log length). On a target with one scale the local step sizes agree within about an octave
and the range is a jittered step; on a funnel it covers the neck and the mouth, and reaches
below the narrowest region the chains have seen. The objectives apply the
rule at the start, after every metric update and at the last warm-up iteration, instead of
dual averaging: the step range then widens as the population explores (each application
sees chains that the previous range let go further).

Measured on funnel10: see ``benchmarks/funnel.py`` and the README.
"""

import numpy as np

from .._validation import as_generator, positive_int
from ..errors import HyperparameterError

LN2 = float(np.log(2.0))


def _check_options(**settings):
    """Step-range settings checked by value and type (a string or None where a number
    belongs is named, not a TypeError from numpy)."""
    try:
        _check_values(**settings)
    except HyperparameterError:
        raise
    except (TypeError, ValueError) as exc:
        raise HyperparameterError(
            f"step-range settings must be numbers (pairs for octaves and quantiles); got "
            f"{settings!r} ({type(exc).__name__}: {exc}).") from None


def _check_values(accept=0.8, n_momenta=3, iterations=8, octaves=(-12.0, 6.0),
                  quantiles=(0.05, 0.95), explore=2.0):
    if not 0.0 < float(accept) < 1.0:
        raise HyperparameterError(f"accept must lie in (0, 1), got {accept!r}.")
    for name, value in (("n_momenta", n_momenta), ("iterations", iterations)):
        positive_int(value, name)
    if not (len(octaves) == 2 and np.all(np.isfinite(octaves)) and octaves[0] < octaves[1]):
        raise HyperparameterError(f"octaves must be (lower, upper) with lower < upper, got {octaves!r}.")
    if not (len(quantiles) == 2 and 0.0 <= quantiles[0] < quantiles[1] <= 1.0):
        raise HyperparameterError(
            f"quantiles must be (lower, upper) with 0 <= lower < upper <= 1, got {quantiles!r}.")
    if not (np.isfinite(explore) and explore >= 0.0):
        raise HyperparameterError(f"explore must be a finite number of octaves >= 0, got {explore!r}.")


def has_step_range(transition):
    """True for a kernel whose φ holds a step spread (HMC built with ``step_spread=True``)."""
    return bool(getattr(transition, "step_spread", False))


def local_step_sizes(model, transition, state, phi, rng, accept=0.8, n_momenta=3,
                     iterations=8, octaves=(-12.0, 6.0)):
    """Each chain's largest step size with acceptance ≥ ``accept``: (h (n,), n_grad).

    Bisection on log h between ``octaves`` (powers of two around the current step size) with
    ``n_momenta`` momentum draws held fixed across the bisection (common random numbers);
    a chain's acceptance is the mean of min(1, r) over them (a diverged proposal counts 0).
    The trial steps are placed chain by chain through the kernel's own step spread (each
    chain's step is ε e^{s w} for the w its noise gives it). Costs
    ``iterations × n_momenta`` proposals of the whole population."""
    if not has_step_range(transition):
        raise HyperparameterError(f"{transition!r} has no step spread; build it with step_spread=True.")
    _check_options(accept=accept, n_momenta=n_momenta, iterations=iterations, octaves=octaves)
    rng = as_generator(rng)  # one stream for the momentum draws (a seed would repeat them)
    n, d = state.x.shape
    eps = transition.get_step_size(phi)
    lo_log = np.log(eps) + octaves[0] * LN2
    hi_log = np.log(eps) + octaves[1] * LN2
    centre, half = 0.5 * (lo_log + hi_log), 0.5 * (hi_log - lo_log)
    trial = transition.set_step_spread(transition.set_step_size(phi, np.exp(centre)), half)
    noises = [transition.draw_noise(n, d, rng) for _ in range(n_momenta)]
    light = transition.without_vjp()      # only the acceptance of the trials is used
    lo, hi = np.full(n, lo_log), np.full(n, hi_log)
    n_grad = 0
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        acc = np.zeros(n)
        for noise in noises:
            noise.spread = 0.5 * ((mid - centre) / half + 1.0)
            prop = light.propose(model, state, trial, noise)
            n_grad += int(np.sum(prop.n_grad))
            lar = np.asarray(prop.log_accept_ratio, dtype=np.float64)
            acc += np.where(np.isfinite(lar), np.exp(np.minimum(lar, 0.0)), 0.0)
        ok = acc / n_momenta >= accept
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return np.exp(lo), n_grad


def step_range(model, transition, state, phi, rng, accept=0.8, quantiles=(0.05, 0.95),
               explore=2.0, n_momenta=3):
    """(φ with step size and spread set from the population, n_grad): the range runs from
    below the lower ``quantiles`` of the chains' local step sizes to the upper one (log ε the
    midpoint, s half the log distance).

    Below by how much: chains measure only the scales where they are, and a region narrower
    than any chain has reached needs steps smaller than any chain's local step, so the range
    extends up to ``explore`` octaves further down — in proportion to the variation already
    seen: none when the quantiles lie within one octave of each other (the spread of local
    step sizes on a target with one scale), all of it from two octaves on. Measured on
    funnel10 (2–3 octaves seen): without the extension the population never went below
    x0 ≈ −3.3 (the truth's 5% quantile is −4.9), the range stopped at [0.03, 0.23] and x0's
    mean stayed 0.12–0.20 sd high; with it the range reached [0.005, 0.2] and the mean came
    within 0.07 sd. A fixed 2-octave extension halved HMC's ESS per gradient on neal100 and
    German credit; the proportional one costs 28% and 41% there."""
    _check_options(quantiles=quantiles, explore=explore)
    h, n_grad = local_step_sizes(model, transition, state, phi, rng, accept=accept,
                                 n_momenta=n_momenta)
    lo, hi = np.quantile(np.log(h), quantiles)
    seen = (hi - lo) / LN2
    lo -= explore * float(np.clip(seen - 1.0, 0.0, 1.0)) * LN2
    phi = transition.set_step_size(phi, float(np.exp(0.5 * (lo + hi))))
    return transition.set_step_spread(phi, float(0.5 * (hi - lo))), n_grad


class StepRangeRule:
    """When an objective applies :func:`step_range`: at the start, after each metric update
    (the caller says when) and at the last warm-up iteration. ``owned(phi)`` lists the
    φ entries the rule sets (log ε and s), which no gradient may move."""

    def __init__(self, n_steps, accept=0.8, quantiles=(0.05, 0.95), explore=2.0, n_momenta=3):
        _check_options(accept=accept, quantiles=quantiles, explore=explore, n_momenta=n_momenta)
        self.last = int(n_steps) - 1
        self.options = {"accept": accept, "quantiles": quantiles, "explore": explore,
                        "n_momenta": n_momenta}

    @classmethod
    def for_kernel(cls, transition, n_steps, **options):
        """The rule for a kernel with a step spread, else None."""
        return cls(n_steps, **options) if has_step_range(transition) else None

    #: the settings an objective's ``step_range`` option may give
    SETTINGS = ("accept", "quantiles", "explore", "n_momenta")

    @classmethod
    def check(cls, options):
        """An objective's ``step_range`` option: None or a dict of :data:`SETTINGS`, checked
        by name and value when the objective is made rather than at the first step; returns
        a dict."""
        if options is None:
            return {}
        if not isinstance(options, dict):
            raise HyperparameterError(
                f"step_range must be None or a dict of step-range settings, got {options!r}.")
        unknown = sorted(set(options) - set(cls.SETTINGS))
        if unknown:
            raise HyperparameterError(
                f"the step range has no option {', '.join(map(repr, unknown))}; its options "
                f"are {', '.join(cls.SETTINGS)}.")
        cls(1, **options)
        return dict(options)

    def apply(self, model, transition, state, phi, rng):
        return step_range(model, transition, state, phi, rng, **self.options)

    def due(self, iteration):
        """True at the last warm-up iteration (0-based)."""
        return iteration == self.last

    @staticmethod
    def owned(phi):
        return np.array([0, np.size(phi) - 1])
