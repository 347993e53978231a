"""Bandwidth (length-scale h) heuristics from pairwise distances.

* ``"median"``: h = median of the off-diagonal pairwise Euclidean distances (default).
* ``"median_log"``: the SVGD / reference-code convention, h² = ½·median(‖x_i − x_j‖²)/log(n + 1).

Both read the squared-distance matrix the estimator computes anyway, so the heuristic costs a
partial sort, not another pass over the data. Above ``MAX_PAIRS`` distinct pairs a fixed
pseudo-random subset of pairs (seed 0, so fits are deterministic) stands in for all of them.
"""

import numpy as np

from ..errors import DegenerateParticlesError

MAX_PAIRS = 250_000
RULES = ("median", "median_log")


def _pair_sample(D):
    n = D.shape[0]
    npairs = n * (n - 1) // 2
    if npairs <= MAX_PAIRS:
        return D[np.triu_indices(n, k=1)]
    rng = np.random.default_rng(0)
    i = rng.integers(0, n, size=2 * MAX_PAIRS)
    j = rng.integers(0, n, size=2 * MAX_PAIRS)
    keep = i != j
    return D[i[keep][:MAX_PAIRS], j[keep][:MAX_PAIRS]]


def median_sqdist(D):
    """Median of off-diagonal squared distances (n, n) -> float, and the matching median of
    the distances themselves (averaging the two middle *distances* for an even count)."""
    s = _pair_sample(D)
    m = s.size
    k = m // 2
    if m % 2:
        part = np.partition(s, k)
        med_sq, med = part[k], np.sqrt(part[k])
    else:
        part = np.partition(s, [k - 1, k])
        med_sq = 0.5 * (part[k - 1] + part[k])
        med = 0.5 * (np.sqrt(part[k - 1]) + np.sqrt(part[k]))
    return float(med_sq), float(med)


def bandwidth_from_sqdist(D, rule="median"):
    """Length-scale h from squared distances D (n, n) by ``rule`` ("median" or "median_log").

    Raises :class:`DegenerateParticlesError` when (almost) all particles coincide.
    """
    n = D.shape[0]
    med_sq, med = median_sqdist(D)
    if rule == "median":
        h = med
    elif rule == "median_log":
        h = np.sqrt(0.5 * med_sq / np.log(n + 1.0))
    else:
        raise ValueError(f"unknown bandwidth rule {rule!r}; use one of {RULES}.")
    if not np.isfinite(h) or h <= 0.0:
        raise DegenerateParticlesError(
            f"the median pairwise distance of the {n} particles is {h:.3g}: more than half of "
            "the pairs coincide, so no kernel bandwidth can be set from them. Pass a numeric "
            "bandwidth, or remove duplicated particles."
        )
    return float(h)
