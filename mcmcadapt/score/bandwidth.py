"""Bandwidth (length-scale h) heuristics from pairwise distances.

* ``"median"``: h = median of the off-diagonal pairwise Euclidean distances (default).
* ``"median_log"``: the SVGD / reference-code convention, h² = ½·median(‖x_i − x_j‖²)/log(n + 1).

Both read the squared-distance matrix the estimator computes anyway, so the heuristic costs a
partial sort, not another pass over the data. Above ``MAX_PAIRS`` distinct pairs an evenly
spread, fixed subset of pairs (seed 0, so fits are deterministic) stands in for all of them.
:func:`bandwidth_from_particles` serves callers without a distance matrix (e.g. the KSD),
from at most ``MAX_POINTS`` particles.
"""

import numpy as np

from ..errors import DegenerateParticlesError, InputError
from . import _numba
from .kernels import sqdist

MAX_PAIRS = 250_000
MAX_POINTS = 1000
RULES = ("median", "median_log")


def _pair_sample(D):
    """Off-diagonal entries of the symmetric D: all of them up to ``MAX_PAIRS``, else every
    s-th entry of each row of the upper triangle from a pseudo-random start (seed 0), read in
    memory order, so the sample costs one pass over at most MAX_PAIRS entries."""
    n = D.shape[0]
    npairs = n * (n - 1) // 2
    if npairs <= MAX_PAIRS:
        return _numba.upper_triangle_sample(D, 1, np.zeros(n, dtype=np.int64))
    step = -(-npairs // MAX_PAIRS)
    offsets = np.random.default_rng(0).integers(0, step, size=n)
    return _numba.upper_triangle_sample(D, step, offsets)


def median_sqdist(D):
    """Median of off-diagonal squared distances (n, n) -> float, and the matching median of
    the distances themselves (averaging the two middle *distances* for an even count)."""
    s = _pair_sample(D)
    m = s.size
    k = m // 2
    part = np.partition(s, k)
    upper = part[k]
    if m % 2:
        return float(upper), float(np.sqrt(upper))
    lower = part[:k].max()  # after partitioning at k, the (k−1)-th order statistic
    return float(0.5 * (lower + upper)), float(0.5 * (np.sqrt(lower) + np.sqrt(upper)))


def bandwidth_from_sqdist(D, rule="median"):
    """Length-scale h from squared distances D (n, n) by ``rule`` ("median" or "median_log").

    Raises :class:`DegenerateParticlesError` when (almost) all particles coincide.
    """
    return _from_medians(*median_sqdist(D), D.shape[0], rule)


def bandwidth_from_particles(X, rule="median", max_points=MAX_POINTS):
    """Length-scale h of particles X (n, d) by ``rule`` without an n×n matrix.

    Above ``max_points`` particles a fixed subset (seed 0) stands in for all of them; the
    rule still uses the full n (``"median_log"`` depends on it).
    """
    n = X.shape[0]
    if n > max_points:
        X = X[np.sort(np.random.default_rng(0).choice(n, size=max_points, replace=False))]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is named below
        medians = median_sqdist(sqdist(X))
    return _from_medians(*medians, n, rule)


def _from_medians(med_sq, med, n, rule):
    if rule == "median":
        h = med
    elif rule == "median_log":
        h = np.sqrt(0.5 * med_sq / np.log(n + 1.0))
    else:
        raise ValueError(f"unknown bandwidth rule {rule!r}; use one of {RULES}.")
    if not np.isfinite(h):
        raise InputError(
            f"the median pairwise distance of the {n} particles overflows float64 (squared "
            f"distances reach {med_sq:.3g}); rescale the particles.")
    if h <= 0.0:
        raise DegenerateParticlesError(
            f"the median pairwise distance of the {n} particles is {h:.3g}: more than half of "
            "the pairs coincide, so no kernel bandwidth can be set from them. Pass a numeric "
            "bandwidth, or remove duplicated particles."
        )
    return float(h)
