"""Kernel Stein discrepancy of the draws against the model's score, overall and over time.

KSD needs no reference draws, only ∇log p at the draws (IMQ kernel: Gorham & Mackey 2017).
It costs O(m²·d) for m points, so the draws are subsampled: the draw axis is cut into
``n_windows`` consecutive windows, and from each window draws ``stride`` apart along every
chain are kept (``stride`` about the autocorrelation time, so the kept points are nearly
independent), at most ``points`` of them (a seeded random subset). One batched model call
gives all their scores.

Trend test. For the first and the last window, the unbiased U-statistic of KSD²,
U = Σ_{i≠j} h_p(x_i, x_j) / (m(m−1)) with h_p the Stein kernel, and its variance from
Hoeffding's decomposition, Var U ≈ 4ζ₁/m + 2ζ₂/m² (ζ₁ the variance of the row means of h_p,
ζ₂ the mean of h_p²; this over-estimates ζ₁ slightly, so the test is conservative). If both
windows come from the same law, E[U_first − U_last] = 0 — whether or not that law is the
target — so z = (U_first − U_last)/√(Var_first + Var_last) measures a trend: large positive
means the chains were still approaching the target when sampling began, large negative that
they drift away from it.
"""

from typing import NamedTuple

import numpy as np

from .._validation import as_generator

# Kernel of the discrepancy: IMQ (1 + r²/h²)^β with h = 1, β = −1/2 (Gorham & Mackey 2017).
KERNEL = "imq"
BANDWIDTH = 1.0
BETA = -0.5
# Fewer kept points than this in the first or last window: no trend test (the normal
# approximation of z is poor; with 20 points |z| > 2.5 never occurred in 2000 simulated
# stationary pairs of windows, d = 1, 2, 10).
TREND_MIN_POINTS = 20


class KSDProfile(NamedTuple):
    """``overall`` KSD (U-statistic, :func:`mcmcadapt.score.ksd.ksd`) of all kept points;
    ``windows`` (n_windows,) KSD per window of draws;
    ``window_draws`` the (start, stop) draw range of each window; ``points`` (n_windows,)
    points kept per window; ``stride`` the spacing of kept draws; ``trend_z`` the trend
    statistic (module docstring), NaN when the first or last window kept fewer than
    :data:`TREND_MIN_POINTS` points."""

    overall: float
    windows: np.ndarray
    window_draws: list
    points: np.ndarray
    stride: int
    trend_z: float


def fmt_ksd(value):
    """A KSD value for display: "n/a" when not computed (a window with < 2 kept draws), "≈0"
    when the U-statistic is ≤ 0 (:func:`mcmcadapt.score.ksd.ksd` then returns 0)."""
    if not np.isfinite(value):
        return "n/a"
    return "≈0" if value == 0.0 else f"{value:.4g}"


def ksd_caveat(overall, points):
    """What a reader must know about the overall KSD of ``points`` kept draws, or ""."""
    total = int(np.sum(points))
    notes = []
    if overall == 0.0:
        notes.append("U-statistic ≤ 0: no discrepancy detectable from these draws")
    if total < TREND_MIN_POINTS:
        notes.append(f"only {total} draws kept (about one per autocorrelation time): "
                     "too few to judge")
    return "; ".join(notes)


def stein_matrix(X, S):
    """Stein kernel matrix h_p(x_i, x_j) (m, m) for points X (m, d) with scores S = ∇log p(X).

    :func:`mcmcadapt.score.ksd.ksd` sums the same kernel without storing it; the trend test
    needs the matrix itself (row means and squares for the variance).

    h_p(x, y) = s(x)·s(y) k + s(x)·∇_y k + s(y)·∇_x k + Σ_l ∂²k/∂x_l∂y_l, with the kernel
    layer's weights W (∇_y k(x, y) = W (x − y)) and curvature V (trace = d W − V D).
    """
    from ..score.kernels import Kernel

    kern = Kernel(KERNEL, BANDWIDTH, BETA)
    km = kern.matrices(X, keep_sqdist=True)
    D = km.D
    W = km.w_scale * km.W
    SX = S @ X.T                                   # s(x_i)·x_j
    a = np.diag(SX).copy()                         # s(x_i)·x_i
    H = (S @ S.T) * km.K
    H += W * (a[:, None] - SX)                     # s(x_i)·∇_{x_j} k = W (s_i·x_i − s_i·x_j)
    H += W * (a[None, :] - SX.T)                   # s(x_j)·∇_{x_i} k = W (s_j·x_j − s_j·x_i)
    H += X.shape[1] * W - kern.curvature(D) * D
    return H


def _ksd(X, S):
    from ..score.ksd import ksd

    return ksd(X, S, kernel=KERNEL, bandwidth=BANDWIDTH, beta=BETA)


def u_statistic(H):
    """Unbiased KSD² estimate from a Stein kernel matrix, and its variance estimate."""
    m = H.shape[0]
    off = H - np.diag(np.diag(H))
    rows = off.sum(axis=1) / (m - 1)
    u = off.sum() / (m * (m - 1))
    zeta1 = np.var(rows, ddof=1)
    zeta2 = np.sum(off * off) / (m * (m - 1))
    return u, 4.0 * zeta1 / m + 2.0 * zeta2 / m**2


def _pick(flat, lo, hi, stride, points, rng):
    n_chain, _, dim = flat.shape
    # a random phase, inside the window, so every chain contributes at least one draw
    start = int(rng.integers(min(stride, hi - lo)))
    pool = flat[:, lo + start:hi:stride, :].reshape(-1, dim)
    if pool.shape[0] > points:
        pool = pool[np.sort(rng.choice(pool.shape[0], size=points, replace=False))]
    return pool


def ksd_profile(flat, model, stride=1, points=200, n_windows=4, seed=0):
    """KSD of ``flat`` (chain, draw, dim), unconstrained draws of ``model``, over the run.

    ``stride`` >= 1 spaces the kept draws along each chain; at most ``points`` draws are
    kept per window; the model is called once on all kept draws.
    """
    rng = as_generator(seed)
    _, n_draw, _ = flat.shape
    stride = max(1, int(stride))
    n_windows = max(1, min(int(n_windows), n_draw // 2))
    edges = np.linspace(0, n_draw, n_windows + 1).astype(int)
    picks = [_pick(flat, lo, hi, stride, points, rng) for lo, hi in zip(edges[:-1], edges[1:])]
    sizes = np.array([p.shape[0] for p in picks])
    X = np.concatenate(picks)
    _, S = model.logp_and_grad(X)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    parts = [(X[a:b], S[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    windows = np.array([_ksd(x, s) if len(x) >= 2 else np.nan for x, s in parts])
    z = np.nan
    if n_windows >= 2 and min(sizes[0], sizes[-1]) >= TREND_MIN_POINTS:
        (u0, v0), (u1, v1) = (u_statistic(stein_matrix(*parts[0])),
                              u_statistic(stein_matrix(*parts[-1])))
        z = (u0 - u1) / np.sqrt(v0 + v1) if v0 + v1 > 0 else 0.0
    ranges = [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]
    return KSDProfile(_ksd(X, S), windows, ranges, sizes, stride, float(z))
