"""Kernel Stein discrepancy of particles against a target score (Gorham & Mackey 2017).

For samples x_1..x_n and the target score s = ∇log p, with the Stein kernel

    u_p(x, y) = s(x)ᵀs(y) k(x, y) + s(x)ᵀ∇_y k(x, y) + s(y)ᵀ∇_x k(x, y) + Σ_l ∂²k/∂x_l∂y_l,

the squared discrepancy is estimated by the unbiased U-statistic

    KSD² ≈ U = 1/(n(n − 1)) Σ_{i≠j} u_p(x_i, x_j).

U has expectation 0 when the x_i are drawn from p and can then be slightly negative;
:func:`ksd` reports sqrt(max(U, 0)), :func:`ksd_squared` the U-statistic itself.

Kernel and bandwidth convention: the package-wide length-scale h, IMQ k = (1 + ‖x−y‖²/h²)^β.
Gorham & Mackey write the IMQ as (c² + ‖x−y‖²)^β with c = 1, β = −½; since
(1 + r²/h²)^β = h^(−2β) (h² + r²)^β, the default h = 1, β = −½ is exactly their kernel, and
for other h = c our KSD² equals c^(−2β) times theirs (k(x, x) = 1 here). Through the kernel
layer, u_p needs only the matrices K, W and V of :mod:`~mcmcadapt.score.kernels`, processed
in blocks of rows: memory O(n·block + n·d), never n×n×d.
"""

import numpy as np

from .._validation import as_particles
from ..errors import HyperparameterError, InputError, ModelError
from ._threads import compute_threads
from .bandwidth import RULES, bandwidth_from_particles
from .kernels import Kernel, sqdist

#: rows per block are chosen so that one block matrix holds about this many entries
BLOCK_ENTRIES = 1 << 21


def _scores(X, score_p):
    n, d = X.shape
    if callable(score_p):
        S = np.asarray(score_p(X.copy()), dtype=float)
        if S.shape != (n, d):
            raise ModelError(
                f"score_p returned shape {S.shape} for X of shape {(n, d)}; it must map "
                "(n, d) particles to (n, d) scores."
            )
        if not np.all(np.isfinite(S)):
            raise ModelError("score_p returned NaN or inf; check the target at these particles.")
        return S
    S = as_particles(score_p, "score_p", min_rows=n, dim=d)
    if S.shape[0] != n:
        raise InputError(
            f"score_p has {S.shape[0]} rows but X has {n}; pass the target score at each "
            "particle, or a callable."
        )
    return S


def ksd_squared(X, score_p, kernel="imq", bandwidth=1.0, beta=-0.5):
    """Unbiased U-statistic of the squared kernel Stein discrepancy (may be negative).

    Parameters
    ----------
    X : (n, d) array, n ≥ 2, samples to assess.
    score_p : (n, d) array of ∇log p at the rows of X, or a callable X (n, d) -> (n, d).
    kernel : {"imq", "rbf"}
    bandwidth : float > 0, "median" or "median_log"
        Length-scale h (default 1: the IMQ of Gorham & Mackey with c = 1).
    beta : float in (−1, 0), IMQ exponent.

    Returns
    -------
    float : 1/(n(n − 1)) Σ_{i≠j} u_p(x_i, x_j).
    """
    X = as_particles(X, "X", min_rows=2)
    S = _scores(X, score_p)
    if isinstance(bandwidth, str):
        if bandwidth not in RULES:
            raise HyperparameterError(
                f"bandwidth must be a positive number or one of {RULES}, got {bandwidth!r}."
            )
        bandwidth = bandwidth_from_particles(X, bandwidth)
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float, np.number)):
        raise HyperparameterError(
            f"bandwidth must be a positive number or one of {RULES}, got {bandwidth!r}.")
    kern = Kernel(kernel, bandwidth, beta)
    with compute_threads():
        with np.errstate(over="ignore", invalid="ignore"):
            u = _u_statistic(X, S, kern)
    if not np.isfinite(u):
        raise InputError(
            f"the KSD overflowed float64 (largest |score| {np.max(np.abs(S)):.3g}, bandwidth "
            f"{kern.h:.3g}); rescale the problem so that scores and distances are moderate.")
    return u


def _u_statistic(X, S, kern):
    n, d = X.shape
    Xc = X - X.mean(axis=0)  # u_p is translation invariant; centring avoids cancellation
    sx = np.einsum("ij,ij->i", S, Xc)
    total = 0.0
    block = max(1, BLOCK_ENTRIES // n)
    for start in range(0, n, block):
        rows = slice(start, start + block)
        D = sqdist(Xc[rows], Xc)
        V = kern.curvature(D)
        trace = d * kern.weight(D) - V * D  # Σ_l ∂²k/∂x_l∂y_l
        km = kern.matrices_from_sqdist(D)
        Sr = S[rows]
        # Σ_j s_iᵀ s_j k_ij
        total += np.einsum("ij,ij->", Sr, km.K @ S)
        # Σ_j s_iᵀ ∇_{x_j} k(x_i, x_j) = Σ_j W_ij s_iᵀ(x_i − x_j); the mirrored term
        # s_jᵀ ∇_{x_i} k has the same total over all pairs because W is symmetric.
        WX = km.w_scale * (km.W @ Xc)
        total += 2.0 * (km.w_scale * km.w_rowsum @ sx[rows] - np.einsum("ij,ij->", Sr, WX))
        total += trace.sum()
    zero = np.zeros(1)
    diagonal = kern.value(zero)[0] * np.einsum("ij,ij->", S, S) + n * d * kern.weight(zero)[0]
    return float((total - diagonal) / (n * (n - 1.0)))


def ksd(X, score_p, kernel="imq", bandwidth=1.0, beta=-0.5):
    """Kernel Stein discrepancy sqrt(max(U, 0)) of samples X against the score ``score_p``.

    Same arguments as :func:`ksd_squared`; 0 means indistinguishable from p at this n.
    """
    return float(np.sqrt(max(ksd_squared(X, score_p, kernel, bandwidth, beta), 0.0)))
