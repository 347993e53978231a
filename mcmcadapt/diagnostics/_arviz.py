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


def _finite_in_order(draws):
    """``draws`` with ±inf replaced by finite stand-ins beyond each quantity's finite range,
    as far on either side of its median: the same order (ranks), infinite draws still the
    furthest from the median (folded R-hat), and quantiles that are numbers (a quantile
    between two infinities is inf − inf = NaN, against which ArviZ's tail indicator is
    constant and its tail ESS all draws)."""
    finite = np.isfinite(draws)
    if finite.all():
        return draws
    with np.errstate(invalid="ignore"):
        top = np.where(finite, draws, -np.inf).max(axis=(0, 1))
        bottom = np.where(finite, draws, np.inf).min(axis=(0, 1))
        centre = np.median(draws, axis=(0, 1))
    top = np.where(np.isfinite(top), top, 0.0)            # no finite draw at all: around 0
    bottom = np.where(np.isfinite(bottom), bottom, 0.0)
    centre = np.where(np.isfinite(centre), centre, 0.5 * (top + bottom))
    reach = 2.0 * np.maximum(top - centre, centre - bottom) + 1.0
    out = np.where(np.isposinf(draws), centre + reach, draws)
    return np.where(np.isneginf(out), centre - reach, out)


def convergence(draws):
    """Per-quantity convergence statistics of ``draws`` (chain, draw, k).

    Returns a dict of ``(k,)`` arrays: ``ess_bulk``, ``ess_tail``, ``r_hat`` (NaN with one
    chain: R-hat needs at least two), ``mcse_mean``, ``mcse_sd``.

    Undefined values are NaN, not ArviZ's stand-ins: everything for a quantity with one value
    in every draw (ArviZ reports ESS = all draws and MCSE 0), and tail ESS when a quantile
    indicator is constant, i.e. the 5% or 95% quantile is the largest value drawn (a binary
    quantity has this whenever more than 5% of its draws are 1; the posterior package's
    convention too). ESS and R-hat are rank-based and computed on the draws as given, so ties
    (integer quantities) are ArviZ's exactly; infinite draws are ranked where they belong
    (given finite stand-ins in the same order, as ArviZ's quantiles would be NaN).
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
    # ranks only depend on order: a tiny spread is no constant here (ArviZ's own threshold
    # applies to the normalised ranks)
    raw = _finite_in_order(draws[:, :, live])
    out["ess_bulk"][live] = np.asarray(azs.ess(raw, method="bulk", **ax), dtype=np.float64)
    tail = np.asarray(azs.ess(raw, method="tail", prob=TAIL_PROB, **ax), dtype=np.float64)
    flat_raw = raw.reshape(-1, live.size)
    constant_tail = np.any(np.quantile(flat_raw, TAIL_PROB, axis=0) >= flat_raw.max(axis=0),
                           axis=0)
    out["ess_tail"][live] = np.where(constant_tail, np.nan, tail)
    if draws.shape[0] > 1:
        out["r_hat"][live] = np.asarray(azs.rhat(raw, method="rank", **ax), dtype=np.float64)
    finite = live[np.all(np.isfinite(flat[:, live]), axis=0)]
    if finite.size:
        # through the range first: squares of 1e-170 underflow and of 1e200 overflow
        width = np.ptp(flat[:, finite], axis=0)
        unit = (draws[:, :, finite] - flat[:, finite].mean(axis=0)) / width
        spread = unit.reshape(-1, finite.size).std(axis=0)
        z, scale = unit / spread, width * spread
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
