"""Building blocks of Stan's warm-up: dual averaging of the log step size, Welford
(co)variance with Stan's shrinkage, the slow-window schedule, and the initial step-size
heuristic — the latter applied to a whole population (acceptance averaged over chains).
"""

import warnings

import numba as nb
import numpy as np

from .._validation import positive_float, positive_int
from ..errors import HyperparameterError, ModelError


# Dual averaging driven by the mean acceptance of a population rather than one chain's:
# iterates centred on the current step size (not 10ε) with γ = 0.1 (Stan: 0.05). With Stan's
# constants the iterates swing by a factor ~e around the root, so the averaged step size
# accepts far more than the target (measured, MALA speed on German credit: sampling
# acceptance 0.69–0.73 for a 0.574 target; with these constants 0.55–0.59).
POPULATION_CONSTANTS = {"gamma": 0.1, "centre": 1.0}


class DualAveraging:
    """Nesterov dual averaging of log ε (Hoffman & Gelman 2014, Alg. 5; Stan's constants).

    ``update(accept_stat)`` returns the next iterate ε = exp(x_t); ``final_step_size``
    is the averaged exp(x̄_t) used after warm-up. Acceptance statistics above 1 are
    clipped to 1 and NaN counts as 0 (a diverged proposal is a rejected one).
    """

    def __init__(self, target=0.8, gamma=0.05, kappa=0.75, t0=10.0, centre=10.0):
        if not 0.0 < float(target) < 1.0:
            raise HyperparameterError(f"target acceptance must lie in (0, 1), got {target!r}.")
        self.target = float(target)
        self.gamma = positive_float(gamma, "gamma")
        self.kappa = positive_float(kappa, "kappa")
        self.t0 = positive_float(t0, "t0")
        self.centre = positive_float(centre, "centre")
        self.restart(1.0)

    @classmethod
    def for_population(cls, target):
        """Constants for a population's mean acceptance (:data:`POPULATION_CONSTANTS`)."""
        return cls(target, **POPULATION_CONSTANTS)

    def restart(self, step_size):
        """Forget the history and centre the iterates on μ = log(centre·ε) (Stan: 10, which
        favours exploring larger steps early)."""
        self.mu = float(np.log(self.centre * step_size))
        self.counter = 0
        self.s_bar = 0.0
        self.x_bar = 0.0

    def update(self, accept_stat):
        a = float(accept_stat)
        a = 0.0 if not np.isfinite(a) else min(a, 1.0)
        self.counter += 1
        eta = 1.0 / (self.counter + self.t0)
        self.s_bar = (1.0 - eta) * self.s_bar + eta * (self.target - a)
        x = self.mu - self.s_bar * np.sqrt(self.counter) / self.gamma
        w = self.counter ** (-self.kappa)
        self.x_bar = (1.0 - w) * self.x_bar + w * x
        return float(np.exp(x))

    @property
    def final_step_size(self):
        return float(np.exp(self.x_bar))


@nb.njit(cache=True)
def _add_batch_diag(X, n, mean, m2):
    """Chan et al.'s combination of the running (mean, m2) over n rows with the rows of X,
    per column, in place; the batch moments by two passes over X (no centred copy)."""
    m, d = X.shape
    mean_b = np.zeros(d)
    for i in range(m):
        for j in range(d):
            mean_b[j] += X[i, j]
    mean_b /= m
    m2_b = np.zeros(d)
    for i in range(m):
        for j in range(d):
            c = X[i, j] - mean_b[j]
            m2_b[j] += c * c
    w = n * m / (n + m)
    for j in range(d):
        delta = mean_b[j] - mean[j]
        m2[j] += m2_b[j] + delta * delta * w
        mean[j] += delta * (m / (n + m))


class Welford:
    """Running mean and (co)variance of rows, updated a batch at a time (Chan et al.'s
    pairwise combination, exact for any batch split). Memory O(d) or O(d²) for ``dense``."""

    def __init__(self, dim, dense=False):
        self.dim = int(dim)
        self.dense = bool(dense)
        self.reset()

    def reset(self):
        self.n = 0
        self.mean = np.zeros(self.dim)
        self.m2 = np.zeros((self.dim, self.dim) if self.dense else self.dim)

    def add(self, X):
        """Add the rows of ``X`` (m, d)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        m = X.shape[0]
        if m == 0:
            return
        n_new = self.n + m
        if not self.dense:  # every iteration of a population's adaptation: one compiled pass
            _add_batch_diag(X, self.n, self.mean, self.m2)
            self.n = n_new
            return
        mean_b = X.mean(axis=0)
        C = X - mean_b
        delta = mean_b - self.mean
        self.m2 = self.m2 + C.T @ C + np.outer(delta, delta) * (self.n * m / n_new)
        self.mean = self.mean + delta * (m / n_new)
        self.n = n_new

    def variance(self, regularize=True):
        """Sample (co)variance (divisor n − 1); with ``regularize`` Stan's shrinkage
        (n/(n+5))·Σ + 1e-3·(5/(n+5))·I. Needs n ≥ 2."""
        if self.n < 2:
            raise HyperparameterError("Welford variance needs at least two samples.")
        var = self.m2 / (self.n - 1)
        if regularize:
            n = float(self.n)
            eye = np.eye(self.dim) if self.dense else np.ones(self.dim)
            var = (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0)) * eye
        return var


def check_buffers(buffers):
    """``buffers`` as Stan's (init_buffer ≥ 0, base_window ≥ 1, term_buffer ≥ 0) ints, else a
    HyperparameterError (a window of length 0 would never end)."""
    try:
        init, window, term = buffers
    except (TypeError, ValueError):
        raise HyperparameterError(
            f"buffers must be (init_buffer, base_window, term_buffer), got {buffers!r}."
        ) from None
    return (positive_int(init, "init_buffer", minimum=0), positive_int(window, "base_window"),
            positive_int(term, "term_buffer", minimum=0))


def window_schedule(n_steps, init_buffer=75, base_window=25, term_buffer=50):
    """Stan's slow windows for ``n_steps`` warm-up iterations (0-based, end inclusive).

    Returns a list of ``(start, end)``: the metric is estimated from iterations start..end
    and updated after iteration ``end``. Windows double in length; the last one stretches
    to ``n_steps - term_buffer - 1`` when another doubling would not fit. With fewer than
    20 steps there is no metric adaptation; when the default buffers do not fit, they
    become 15% / 75% / 10% of the run, as in Stan.
    """
    check_buffers((init_buffer, base_window, term_buffer))
    n_steps = int(n_steps)
    if n_steps < 20:
        return []
    if init_buffer + base_window + term_buffer > n_steps:
        init_buffer = int(0.15 * n_steps)
        term_buffer = int(0.1 * n_steps)
        base_window = n_steps - (init_buffer + term_buffer)
    last = n_steps - term_buffer - 1
    start, size = init_buffer, base_window
    end = min(start + size - 1, last)
    windows = [(start, end)]
    while end != last:
        size *= 2
        new_end = end + size
        if new_end + 2 * size > last:
            new_end = last
        windows.append((end + 1, new_end))
        end = new_end
    return windows


class PopulationMetric:
    """Stan's slow-window metric estimate on a population: positions of all chains are
    pooled into Welford during each slow window of :func:`window_schedule`, and
    ``observe`` returns the regularised (co)variance at the end of a window (else None).

    ``kind``: "diag" or "dense" (the shape of the returned estimate)."""

    def __init__(self, n_steps, dim, kind, buffers=(75, 25, 50)):
        self.welford = Welford(dim, dense=kind == "dense")
        self.windows = window_schedule(n_steps, *buffers)
        self._end = {end: start for start, end in self.windows}

    def observe(self, iteration, X):
        if any(start <= iteration <= end for start, end in self.windows):
            self.welford.add(X)
        if iteration in self._end:
            M = self.welford.variance(regularize=True)
            self.welford.reset()
            return M
        return None


def mean_acceptance(log_accept_ratio):
    """Population mean of min(1, r); non-finite ratios count as rejections."""
    lar = np.asarray(log_accept_ratio, dtype=np.float64)
    a = np.where(np.isfinite(lar), np.exp(np.minimum(lar, 0.0)), 0.0)
    return float(a.mean())


def find_reasonable_step_size(model, transition, state, phi, rng, step_size=None,
                              threshold=0.5, max_doublings=60, conservative=False):
    """Stan's initial step-size heuristic on a population: double (or halve) ε until the
    mean acceptance of one proposal crosses ``threshold``. One noise draw is reused for
    every trial (common random numbers make the acceptance monotone-ish in ε).

    Stan returns the first ε past the crossing. With ``conservative`` the result is the
    largest tried ε still above the threshold instead (doubling past the stability limit
    of a leapfrog integrator makes every chain diverge). Doubling stops when it leaves every
    proposal unchanged: ε no longer acts (HMC with a trajectory length shorter than ε takes
    one step of that length), and it would otherwise double 60 times.

    Returns ``(step_size, n_grad)`` where n_grad sums the proposals' gradient counts.
    """
    eps = transition.get_step_size(phi) if step_size is None else float(step_size)
    transition = transition.without_vjp()     # only the acceptance of the trials is used
    noise = transition.draw_noise(state.x.shape[0], state.x.shape[1], rng)
    n_grad = 0

    def acceptance(e):
        nonlocal n_grad
        try:
            prop = transition.propose(model, state, transition.set_step_size(phi, e), noise)
        except ModelError:
            # a trial far out where the model breaks down (NaN, overflow): a step too large,
            # as a rejection would say, not a reason to stop tuning before it starts
            return 0.0, None
        n_grad += int(np.sum(prop.n_grad))
        return mean_acceptance(prop.log_accept_ratio), prop.y

    a, y = acceptance(eps)
    direction = 1 if a > threshold else -1
    for _ in range(max_doublings):
        nxt = eps * 2.0 ** direction
        y_previous = y
        a, y = acceptance(nxt)
        if direction == 1 and not a > threshold:
            return float(eps if conservative else nxt), n_grad
        if direction == 1 and y is not None and np.array_equal(y, y_previous):
            break  # (halving must go on: diverged proposals are unchanged too, y = x)
        eps = nxt
        if direction == -1 and not a < threshold:
            break
    else:
        if direction == -1:
            warnings.warn(
                f"the initial step-size search halved the step {max_doublings} times without "
                f"reaching acceptance {threshold} (now {eps:.3g}, acceptance {a:.3g}): the "
                "kernel rejects at every step size here. Check the model's log density and "
                "gradient where the chains are (their consistency), or the starting points.",
                RuntimeWarning, stacklevel=4)
    return float(eps), n_grad
