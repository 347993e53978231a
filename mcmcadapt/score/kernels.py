"""Functional RKHS kernel layer shared by every score estimator.

Kernels are radial, k(x, y) = f(‖x − y‖²), with the length-scale ``h`` (``bandwidth``):

* ``"rbf"``: k = exp(−‖x − y‖² / (2h²))
* ``"imq"``: k = (1 + ‖x − y‖² / h²)^β, β ∈ (−1, 0), default β = −½

Derivatives are expressed through two matrices built from the squared distances D:

* ``W = −2 f′(D)``, so that ∇_y k(y, x) = W (x − y) and ∇_x k(y, x) = W (y − x);
* ``V = 4 f″(D)``, so that Σ_l ∂²k/∂x_l∂y_l = d·W − V∘D (the trace used by KSD).

For the RBF, W = K/h² exactly, so no second n×m buffer is stored: :class:`KernelMatrices`
keeps ``W`` as a reference to ``K`` with ``w_scale = 1/h²``. Sums of kernel gradients are
then matrix products (GEMMs), never n×m×d arrays.
"""

from dataclasses import dataclass

import numpy as np

from .._validation import positive_float
from ..errors import HyperparameterError, InputError
from . import _numba

KERNELS = ("rbf", "imq")


@dataclass
class KernelMatrices:
    """Kernel matrix and its gradient weights between queries Y (m rows) and centres X (n rows).

    K : (m, n) kernel values k(y_a, x_b).
    W : (m, n) gradient weights before scaling; the true weight matrix is ``w_scale * W``
        (W may be the same array as K, for the RBF).
    w_scale : float.
    w_rowsum : (m,) row sums of W (unscaled).
    D : (m, n) squared distances, or None when they were overwritten to save memory.
    """

    K: np.ndarray
    W: np.ndarray
    w_scale: float
    w_rowsum: np.ndarray
    D: np.ndarray | None = None


#: length-scales h for which h⁴ and h⁻⁴ (the curvature's) are normal float64 numbers, the
#: range of the particles' radius bound (MAX_SQUARED_RADIUS of .base); the curl-free kernels'
#: third derivative needs h⁶ as well, hence the narrower H6_RANGE
H_RANGE = (1e-75, 1e75)
H6_RANGE = (1e-50, 1e50)


def _out_of_range(h, bounds, why):
    return InputError(
        f"bandwidth h = {h:.3g} is outside [{bounds[0]:.0e}, {bounds[1]:.0e}], where {why} "
        "stay within float64. Rescale the particles (e.g. standardise each coordinate), or "
        "give a bandwidth in range.")


class Kernel:
    """A radial kernel with a fixed bandwidth ``h`` (length-scale).

    Parameters
    ----------
    name : {"rbf", "imq"}
    h : float > 0
        Length-scale; RBF k = exp(−r²/(2h²)), IMQ k = (1 + r²/h²)^β.
    beta : float in (−1, 0)
        IMQ exponent (ignored for the RBF).
    """

    def __init__(self, name, h, beta=-0.5):
        if name not in KERNELS:
            raise HyperparameterError(f"kernel must be one of {KERNELS}, got {name!r}.")
        h = positive_float(h, "bandwidth")
        if not H_RANGE[0] <= h <= H_RANGE[1]:
            raise _out_of_range(h, H_RANGE, "the kernel's derivatives (powers of h up to h⁴)")
        if name == "imq" and not (isinstance(beta, (int, float, np.number))
                                  and -1.0 < beta < 0.0):
            raise HyperparameterError(f"IMQ exponent beta must lie in (-1, 0), got {beta!r}.")
        self.name, self.h, self.beta = name, h, float(beta)

    def __repr__(self):
        b = f", beta={self.beta}" if self.name == "imq" else ""
        return f"Kernel({self.name!r}, h={self.h:.6g}{b})"

    # -- elementwise functions of the squared distance (used on small arrays and in tests) --
    def value(self, D):
        """k as a function of squared distance D (any shape)."""
        if self.name == "rbf":
            return np.exp(-D / (2.0 * self.h**2))
        return (1.0 + D / self.h**2) ** self.beta

    def weight(self, D):
        """W = −2 f′(D): ∇_y k(y, x) = W (x − y)."""
        if self.name == "rbf":
            return self.value(D) / self.h**2
        u = 1.0 + D / self.h**2
        return -2.0 * self.beta / self.h**2 * u ** (self.beta - 1.0)

    def curvature(self, D):
        """V = 4 f″(D): Σ_l ∂²k/∂x_l∂y_l = d W − V D, and Δ_y k = −d W + V D."""
        if self.name == "rbf":
            return self.value(D) / self.h**4
        u = 1.0 + D / self.h**2
        return 4.0 * self.beta * (self.beta - 1.0) / self.h**4 * u ** (self.beta - 2.0)

    def third_derivative(self, D):
        """T = 8 f‴(D): ∇_r Δ_r f(‖r‖²) = r ((d + 2) V + D T) (used by curl-free kernels)."""
        if not H6_RANGE[0] <= self.h <= H6_RANGE[1]:
            raise _out_of_range(self.h, H6_RANGE, "the curl-free kernel's third derivatives "
                                "(powers of h up to h⁶)")
        if self.name == "rbf":
            return -self.value(D) / self.h**6
        b = self.beta
        u = 1.0 + D / self.h**2
        return 8.0 * b * (b - 1.0) * (b - 2.0) / self.h**6 * u ** (b - 3.0)

    # -- matrices --
    def matrices(self, Y, X=None, keep_sqdist=False):
        """Kernel and gradient-weight matrices between rows of Y (m, d) and X (n, d).

        ``X=None`` means X = Y (the symmetric in-sample case). Returns :class:`KernelMatrices`.
        """
        D = sqdist(Y, X)
        return self.matrices_from_sqdist(D, keep_sqdist=keep_sqdist)

    def matrices_from_sqdist(self, D, keep_sqdist=False):
        """As :meth:`matrices`, from squared distances D (m, n). D is overwritten unless
        ``keep_sqdist``."""
        m = D.shape[0]
        rowsum = np.empty(m)
        if self.name == "rbf":
            K = D.copy() if keep_sqdist else D
            _numba.rbf_from_sqdist_inplace(K, 1.0 / (2.0 * self.h**2), rowsum)
            return KernelMatrices(K, K, 1.0 / self.h**2, rowsum, D if keep_sqdist else None)
        # Without keep_sqdist K takes D's memory (the loop reads D[i, j] before writing it).
        K = np.empty_like(D) if keep_sqdist else D
        W = np.empty_like(D)
        _numba.imq_from_sqdist_inplace(D, 1.0 / self.h**2, self.beta, K, W, rowsum)
        return KernelMatrices(K, W, 1.0, rowsum, D if keep_sqdist else None)

    def gram(self, Y, X=None):
        """K (m, n) with K[a, b] = k(y_a, x_b)."""
        return self.matrices(Y, X).K


def sqdist(Y, X=None):
    """Squared Euclidean distances (m, n) by one GEMM: ‖y‖² + ‖x‖² − 2 y·x, clipped at 0.

    With ``X=None`` the result is symmetric with an exact zero diagonal. Both sets are first
    shifted by the mean of the reference set (X, or Y when X is None): distances do not change,
    but the cancellation in ‖y‖² + ‖x‖² − 2 y·x no longer grows with the distance of the
    particles from the origin (posteriors far from 0 with a small spread).
    """
    ref = Y if X is None else X
    shift = ref.mean(axis=0)
    Y = Y - shift
    sy = np.einsum("ij,ij->i", Y, Y)
    if X is None:
        return sqdist_centred(Y, sy)
    X = X - shift
    sx = np.einsum("ij,ij->i", X, X)
    G = Y @ X.T
    _numba.sqdist_inplace(G, sy, sx)
    return G


#: (max n, min d) for which in-sample distances use the compiled tiled kernel instead of
#: BLAS (measured on one core, ``_numba.sqdist_tiled``: 0.4–0.7× of syrk's time at n ≤ 300,
#: d ≥ 100, e.g. 50 × 801 in 31 µs against 60 µs; 0.8–1.0× at n = 500; 1.6–2.9× slower
#: for d ≤ 10, where the dot products are too short to amortise a tile)
SQDIST_TILED = (384, 64)


def sqdist_centred(Xc, norms):
    """In-sample squared distances (n, n) of particles Xc (n, d) already centred on their
    mean, with ``norms[i] = ‖Xc[i]‖²`` (see :func:`centre`): one GEMM and one pass, or one
    compiled tiled pass for the small populations of adaptation (:data:`SQDIST_TILED`)."""
    n, d = Xc.shape
    if n <= SQDIST_TILED[0] and d >= SQDIST_TILED[1]:
        D = np.empty((n, n))
        _numba.sqdist_tiled(Xc, norms, D)
        return D
    G = Xc @ Xc.T
    _numba.sqdist_inplace(G, norms, norms)
    np.fill_diagonal(G, 0.0)
    return G


def centre(X):
    """(center (d,), Xc = X − center (n, d), row norms ‖Xc[i]‖² (n,), r²) of particles X
    (n, d), float64 C-ordered, in two passes. r² = max_i ‖Xc[i]‖² (no squared distance
    exceeds 4r²), 0.0 when all particles coincide, −1.0 when X holds a NaN or an infinity
    (the arrays are then undefined)."""
    n, d = X.shape
    center, Xc, norms = np.empty(d), np.empty((n, d)), np.empty(n)
    radius2 = _numba.centre_rows(X, Xc, norms, center)
    return center, Xc, norms, radius2


def grad_sum(km, Y, X, A=None):
    """Σ_b A[a, b] ∇_y k(y_a, x_b) for every query a, as an (m, d) array.

    With gradient weights W: Σ_b A_ab W_ab (x_b − y_a) = (W∘A) X − rowsum(W∘A) y_a.
    ``A=None`` means all ones. ``Y`` is (m, d), ``X`` is (n, d), ``km`` the matrices between them.
    """
    if A is None:
        return km.w_scale * (km.W @ X - km.w_rowsum[:, None] * Y)
    WA = km.W * A
    return km.w_scale * (WA @ X - WA.sum(axis=1)[:, None] * Y)


def divergence_sum(km, X):
    """B (n, d), B_i = Σ_j ∇_{x_j} k(x_i, x_j) = Σ_j W_ij (x_i − x_j), for the in-sample matrices."""
    return km.w_scale * (km.w_rowsum[:, None] * X - km.W @ X)


#: kernel entries (8 bytes each) per block of out-of-sample queries
QUERY_BLOCK_ENTRIES = 1 << 22


def query_blocks(m, n, max_entries=QUERY_BLOCK_ENTRIES):
    """Slices that split m queries against n centres into blocks of about ``max_entries``
    kernel entries, so out-of-sample temporaries stay O(max_entries) for any m."""
    step = max(1, max_entries // max(n, 1))
    return [slice(s, min(s + step, m)) for s in range(0, m, step)]
