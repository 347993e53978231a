"""The one place mcmcadapt calls ArviZ's statistics (arviz_stats, array layer).

Every function takes draws as a float64 array of shape ``(chain, draw, k)`` — ``k`` scalar
quantities side by side — and returns one value per quantity, shape ``(k,)``. ArviZ is
imported inside the functions because importing it costs about a second.

Conventions (DESIGN.md §5): R-hat is the rank-normalised split R-hat (max of bulk and
folded); bulk ESS is on rank-normalised split chains; tail ESS is the minimum of the ESS of
the 5% and 95% quantile indicators, ``prob=(0.05, 0.95)`` — ArviZ's own default is
(0.11, 0.89), which would not match Stan or the numbers this project compares against.
"""

import numpy as np

TAIL_PROB = (0.05, 0.95)


def _stats():
    import arviz_stats

    return arviz_stats


def _axes(draws):
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim != 3:
        raise ValueError(f"expected draws of shape (chain, draw, k); got {draws.shape}")
    return draws


def convergence(draws):
    """Per-quantity convergence statistics of ``draws`` (chain, draw, k).

    Returns a dict of ``(k,)`` arrays: ``ess_bulk``, ``ess_tail``, ``r_hat`` (NaN with one
    chain: R-hat needs at least two), ``mcse_mean``, ``mcse_sd``.
    """
    draws = _axes(draws)
    azs = _stats()
    ax = dict(chain_axis=0, draw_axis=1)
    return {
        "ess_bulk": np.asarray(azs.ess(draws, method="bulk", **ax), dtype=np.float64),
        "ess_tail": np.asarray(azs.ess(draws, method="tail", prob=TAIL_PROB, **ax),
                               dtype=np.float64),
        "r_hat": (np.asarray(azs.rhat(draws, method="rank", **ax), dtype=np.float64)
                  if draws.shape[0] > 1 else np.full(draws.shape[2], np.nan)),
        "mcse_mean": np.asarray(azs.mcse(draws, method="mean", **ax), dtype=np.float64),
        "mcse_sd": np.asarray(azs.mcse(draws, method="sd", **ax), dtype=np.float64),
    }


def ebfmi(energy):
    """E-BFMI per chain from the Hamiltonian energy, ``energy`` of shape (chain, draw)."""
    energy = np.asarray(energy, dtype=np.float64)
    if energy.ndim != 2:
        raise ValueError(f"expected energy of shape (chain, draw); got {energy.shape}")
    return np.asarray(_stats().bfmi(energy, chain_axis=0, draw_axis=1), dtype=np.float64)
