"""Fused Numba loops for what BLAS does not already do.

Each loop works in place on an (n, m) buffer that first holds the Gram product X Yᵀ, so a
kernel matrix costs one GEMM plus one pass over memory, with no second n×m temporary.
"""

import numba as nb
import numpy as np


@nb.njit(cache=True, parallel=True, fastmath=False)
def sqdist_inplace(G, sx, sy):
    """G[i, j] <- max(sx[i] + sy[j] - 2 G[i, j], 0): squared distances from a Gram product."""
    n, m = G.shape
    for i in nb.prange(n):
        for j in range(m):
            v = sx[i] + sy[j] - 2.0 * G[i, j]
            G[i, j] = v if v > 0.0 else 0.0


@nb.njit(cache=True, parallel=True, fastmath=False)
def rbf_from_gram_inplace(G, sx, sy, inv_two_h2, rowsum):
    """G <- exp(-‖x_i - y_j‖² / (2h²)) computed from G = X Yᵀ; rowsum[i] <- Σ_j G[i, j]."""
    n, m = G.shape
    for i in nb.prange(n):
        acc = 0.0
        for j in range(m):
            v = sx[i] + sy[j] - 2.0 * G[i, j]
            if v < 0.0:
                v = 0.0
            e = np.exp(-v * inv_two_h2)
            G[i, j] = e
            acc += e
        rowsum[i] = acc


@nb.njit(cache=True, parallel=True, fastmath=False)
def rbf_from_sqdist_inplace(D, inv_two_h2, rowsum):
    """D <- exp(-D / (2h²)) in place; rowsum[i] <- Σ_j D[i, j]."""
    n, m = D.shape
    for i in nb.prange(n):
        acc = 0.0
        for j in range(m):
            e = np.exp(-D[i, j] * inv_two_h2)
            D[i, j] = e
            acc += e
        rowsum[i] = acc


@nb.njit(cache=True, parallel=True, fastmath=False)
def imq_from_sqdist_inplace(D, inv_h2, beta, K, W, rowsum_w):
    """K <- (1 + D/h²)^β, W <- -2β/h² (1 + D/h²)^(β-1); rowsum_w[i] <- Σ_j W[i, j].

    K may be D itself (each entry is read before it is written); otherwise D is unchanged.
    """
    n, m = D.shape
    c = -2.0 * beta * inv_h2
    for i in nb.prange(n):
        acc = 0.0
        for j in range(m):
            u = 1.0 + D[i, j] * inv_h2
            k = u ** beta
            K[i, j] = k
            w = c * k / u
            W[i, j] = w
            acc += w
        rowsum_w[i] = acc


@nb.njit(cache=True)
def symmetrize_lower_from_upper(A, diag):
    """A[i, j] <- A[j, i] for i > j, and A[i, i] <- diag[i] (repairs a failed in-place Cholesky)."""
    n = A.shape[0]
    for i in range(n):
        A[i, i] = diag[i]
        for j in range(i):
            A[i, j] = A[j, i]


@nb.njit(cache=True)
def zero_upper(A):
    """A[i, j] <- 0 for j > i."""
    n = A.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            A[i, j] = 0.0


@nb.njit(cache=True)
def upper_triangle_sample(D, step, offsets):
    """Entries D[i, j], j > i, taking every ``step``-th column of row i from j = i + 1 +
    offsets[i]: with step 1 and zero offsets, the whole strict upper triangle, row by row."""
    n = D.shape[0]
    count = 0
    for i in range(n):
        first = i + 1 + offsets[i]
        if first < n:
            count += (n - first + step - 1) // step
    out = np.empty(count)
    k = 0
    for i in range(n):
        for j in range(i + 1 + offsets[i], n, step):
            out[k] = D[i, j]
            k += 1
    return out


# reassociation lets the row reductions vectorise; no flag that assumes finite values
@nb.njit(cache=True, fastmath={"reassoc", "nsz"})
def centre_rows(X, Xc, norms, center):
    """center <- column means of X (n, d); Xc <- X − center; norms[i] <- ‖Xc[i]‖².

    Returns max_i ‖Xc[i]‖² (the squared radius of the population about its mean), 0.0 when
    all rows of X are identical, and −1.0 when X holds a NaN or an infinity (Xc and norms
    are then undefined). Two vectorisable passes over X: they replace a finiteness check, a
    range, a mean, a centred copy and its row norms, each a pass of its own in numpy.
    """
    n, d = X.shape
    for j in range(d):
        center[j] = 0.0
    for i in range(n):
        for j in range(d):
            center[j] += X[i, j]
    # a NaN or an infinity anywhere reaches its column's sum
    for j in range(d):
        if not np.isfinite(center[j]):
            for i in range(n):
                if not np.isfinite(X[i, j]):
                    return -1.0
            return np.inf  # finite entries so large that their sum overflows
        center[j] /= n
    radius2 = 0.0
    differ = 0.0
    for i in range(n):
        acc = 0.0
        for j in range(d):
            v = X[i, j]
            differ += abs(v - X[0, j])
            c = v - center[j]
            Xc[i, j] = c
            acc += c * c
        norms[i] = acc
        radius2 = max(radius2, acc)
    return radius2 if differ > 0.0 else 0.0
