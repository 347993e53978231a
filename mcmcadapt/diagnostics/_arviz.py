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

    Undefined values are NaN, not ArviZ's stand-ins: everything for a quantity with one value
    in every draw (ArviZ reports ESS = all draws and MCSE 0), and tail ESS when a quantile
    indicator is constant, i.e. the 5% or 95% quantile is the largest value drawn (a binary
    quantity has this whenever more than 5% of its draws are 1; the posterior package's
    convention too). ESS and R-hat are rank-based and computed on the draws as given, so ties
    (integer quantities) are ArviZ's exactly and an infinite draw is just the largest rank.
    MCSE is computed on each quantity standardised and scaled back: ArviZ takes a series
    spread over less than ~1e-15 for a constant one, which made the MCSE of tiny predictive
    probabilities 10x too small; it is NaN for a quantity with an infinite draw.
    """
    draws = _axes(draws)
    azs = _stats()
    ax = dict(chain_axis=0, draw_axis=1)
    k = draws.shape[2]
    out = {name: np.full(k, np.nan) for name in
           ("ess_bulk", "ess_tail", "r_hat", "mcse_mean", "mcse_sd")}
    flat = draws.reshape(draws.shape[0] * draws.shape[1], k)
    with np.errstate(invalid="ignore"):
        live = np.flatnonzero(np.ptp(flat, axis=0) > 0)
    if not live.size:
        return out
    raw = draws[:, :, live]
    # ranks only depend on order: a tiny spread is no constant here (ArviZ's own threshold
    # applies to the normalised ranks)
    out["ess_bulk"][live] = np.asarray(azs.ess(raw, method="bulk", **ax), dtype=np.float64)
    tail = np.asarray(azs.ess(raw, method="tail", prob=TAIL_PROB, **ax), dtype=np.float64)
    top = flat[:, live].max(axis=0)
    constant_tail = np.any(np.quantile(flat[:, live], TAIL_PROB, axis=0) >= top, axis=0)
    out["ess_tail"][live] = np.where(constant_tail, np.nan, tail)
    if draws.shape[0] > 1:
        out["r_hat"][live] = np.asarray(azs.rhat(raw, method="rank", **ax), dtype=np.float64)
    finite = live[np.all(np.isfinite(flat[:, live]), axis=0)]
    if finite.size:
        scale = flat[:, finite].std(axis=0)
        z = (draws[:, :, finite] - flat[:, finite].mean(axis=0)) / scale
        out["mcse_mean"][finite] = scale * np.asarray(azs.mcse(z, method="mean", **ax),
                                                      dtype=np.float64)
        out["mcse_sd"][finite] = scale * np.asarray(azs.mcse(z, method="sd", **ax),
                                                    dtype=np.float64)
    return out


def ebfmi(energy):
    """E-BFMI per chain from the Hamiltonian energy, ``energy`` of shape (chain, draw)."""
    energy = np.asarray(energy, dtype=np.float64)
    if energy.ndim != 2:
        raise ValueError(f"expected energy of shape (chain, draw); got {energy.shape}")
    return np.asarray(_stats().bfmi(energy, chain_axis=0, draw_axis=1), dtype=np.float64)
