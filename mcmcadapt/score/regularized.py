"""Regularised kernel score estimators (Zhou, Shi & Zhu 2020, "Nonparametric score estimators").

The score is estimated in a vector-valued RKHS with a matrix-valued kernel 𝒦(x, y) ∈ R^{d×d}
by minimising E_q‖s − ∇log q‖² + λ‖s‖², which by integration by parts needs only samples:
with L̂ = (1/n) Σ_i 𝒦_{x_i} 𝒦_{x_i}* (the empirical covariance operator) and
ζ̂ = (1/n) Σ_i Σ_l ∂_{x_l}[𝒦(·, x) e_l]|_{x = x_i} (the empirical divergence of the kernel),
the estimators are spectral filters ŝ = −g(L̂) ζ̂:

* :class:`Tikhonov`, g(σ) = 1/(σ + λ): ŝ = −(L̂ + λ)⁻¹ ζ̂;
* :class:`NuMethod`, g a polynomial (the ν-method, an accelerated Landweber iteration), whose
  degree — the iteration count — is the regulariser.

Both are represented as ŝ(y) = a·Z(y) + Σ_b 𝒦(y, x_b) c_b with a scalar a and C ∈ R^{n×d},
where Z(y) = n ζ̂(y) = Σ_b Σ_l ∂_{x_l}[𝒦(y, x) e_l]|_{x = x_b}.

Matrix kernels (``matrix_kernel``), built from the scalar radial kernel k = f(‖x − y‖²) of
:mod:`mcmcadapt.score.kernels` (bandwidth = length-scale h; W = −2f′, V = 4f″, T = 8f‴):

* ``"curl_free"`` (default): 𝒦(x, y) = −h² ∇²ψ(x − y) with ψ(r) = f(‖r‖²), i.e.
  𝒦 = h² (W·I − V·r rᵀ), r = x − y. Its RKHS holds gradient fields only, so ŝ is the gradient
  of a (kernel exponential family) log density; Tikhonov with it is the KEF estimator of
  Sriperumbudur et al. (2017). The factor h² makes 𝒦(x, x) = I for the RBF and for the IMQ
  with β = −½, so η is on the same unit-diagonal scale as for the scalar kernels.
  Z(y) = h² Σ_b U_b (y − x_b) with U = (d + 2)V + D∘T.
* ``"diagonal"``: 𝒦 = k·I. Z(y) = Σ_b W_b (y − x_b) (the Stein divergence sum B at y = x_b),
  and the in-sample Tikhonov estimate equals exact Stein (V-statistic) with the same η.

Measured (benchmarks/score_accuracy.py, best grid point per cell, N(0, I) and the grid
mixture): the curl-free kernel's held-out error was 1.4–5× lower on N(0, I_32), the two were
within a factor 1.6 either way at d = 8, and at d = 2 the diagonal kernel was up to 1.7× better
at n = 2048. The curl-free kernel is the default for its high-dimensional advantage.

Neither kernel's nd×nd Gram is ever formed: a product Σ_b 𝒦(y_a, x_b) s_b costs one GEMM for
the diagonal kernel and three for the curl-free one,
Σ_b h²[W_ab s_b − V_ab r_ab (r_ab·s_b)] = h²[W S − (M1)∘Y + M X], M = V∘(Y Sᵀ − 1 (x_b·s_b)ᵀ).

Ridge convention: λ = η/n, so the in-sample system is (𝒦_XX + η I) ŝ_X = −Z_X with η absolute
on the unit-diagonal Gram scale, as for Stein (K + ηI). Sign: results estimate +∇log q.
Memory O(n² + n·d).
"""

import numbers
import warnings

import numpy as np
import scipy.sparse.linalg as spla

from ..errors import HyperparameterError
from .._validation import positive_float
from .base import AUTO, ScoreEstimator
from .kernels import query_blocks, sqdist
from .linalg import cho_solve, cholesky_jitter

MATRIX_KERNELS = ("curl_free", "diagonal")


class BlockGram:
    """The block Gram [𝒦(y_a, x_b)] between queries Y (m, d) and centres X (n, d), kept as
    m×n scalar matrices (one for the diagonal kernel, two for the curl-free one) and applied
    to coefficient matrices by GEMMs.

    ``D`` are the squared distances (m, n) between Y and X (not kept).
    Attributes: ``Z`` (m, d), the divergence sums Z(y_a) of the module docstring.
    """

    def __init__(self, kernel, kind, Y, X, D):
        # Differences y − x are translation invariant; centring on X's mean keeps the
        # inner products in apply() free of cancellation for particles far from 0.
        mu = X.mean(axis=0)
        self.X, self.Y = X - mu, Y - mu
        self.kind = kind
        d = X.shape[1]
        W = kernel.weight(D)
        if kind == "diagonal":
            self.Z = W.sum(axis=1)[:, None] * self.Y - W @ self.X
            del W
            self.K = kernel.value(D)
            return
        h2 = kernel.h**2
        V = kernel.curvature(D)
        # U = h²((d + 2)V + D∘T), built in place.
        U = kernel.third_derivative(D)
        U *= D
        U /= d + 2
        U += V
        U *= h2 * (d + 2)
        self.Z = U.sum(axis=1)[:, None] * self.Y - U @ self.X
        del U
        W *= h2
        V *= h2
        self.Wh, self.Vh = W, V

    def apply(self, S):
        """Σ_b 𝒦(y_a, x_b) s_b for S (n, d): an (m, d) array."""
        if self.kind == "diagonal":
            return self.K @ S
        M = self.Y @ S.T
        M -= np.einsum("ij,ij->i", self.X, S)[None, :]
        M *= self.Vh
        return self.Wh @ S - M.sum(axis=1)[:, None] * self.Y + M @ self.X

    def norm_bound(self):
        """An upper bound on the largest eigenvalue of the (in-sample, PSD) block Gram:
        max_a Σ_b ‖𝒦(x_a, x_b)‖₂ (block Gershgorin). 𝒦_ab has eigenvalues h²W_ab (d − 1 times)
        and h²(W_ab − V_ab‖r_ab‖²), so ‖𝒦_ab‖₂ is the larger of their absolute values."""
        if self.kind == "diagonal":
            return float(np.abs(self.K).sum(axis=1).max())
        E = sqdist(self.X)
        E *= self.Vh
        np.subtract(self.Wh, E, out=E)
        np.abs(E, out=E)
        np.maximum(E, self.Wh, out=E)           # W = −2f′ > 0 for both kernels
        return float(E.sum(axis=1).max())


class _SpectralFilterEstimator(ScoreEstimator):
    """Shared fitting and prediction ŝ(y) = a·Z(y) + Σ_b 𝒦(y, x_b) c_b; subclasses implement
    ``_coefficients(gram) -> (a, C, G)`` with G the in-sample estimate (n, d).

    Fitted attributes: ``a_`` (float), ``C_`` (n, d), ``G_`` (n, d), plus those of the base
    class."""

    def __init__(self, kernel="rbf", bandwidth="median", matrix_kernel="curl_free",
                 bandwidth_scale=1.0, beta=-0.5, auto_criterion="heldout"):
        super().__init__(kernel=kernel, bandwidth=bandwidth, bandwidth_scale=bandwidth_scale,
                         beta=beta, auto_criterion=auto_criterion)
        self.matrix_kernel = matrix_kernel

    def _check_config(self):
        super()._check_config()
        if self.matrix_kernel not in MATRIX_KERNELS:
            raise HyperparameterError(
                f"matrix_kernel must be one of {MATRIX_KERNELS}, got {self.matrix_kernel!r}."
            )

    def _fit(self, X, D):
        gram = BlockGram(self.kernel_, self.matrix_kernel, X, X, D)
        self.a_, self.C_, self.G_ = self._coefficients(gram)

    def _gradients(self, Y):
        if Y is None:
            return self.G_.copy()
        out = np.empty_like(Y)
        for rows in query_blocks(Y.shape[0], self.n_):
            Yc = Y[rows] - self.center_
            gram = BlockGram(self.kernel_, self.matrix_kernel, Yc, self.Xc_, sqdist(Yc, self.Xc_))
            out[rows] = self.a_ * gram.Z + gram.apply(self.C_)
        return out


class Tikhonov(_SpectralFilterEstimator):
    """Tikhonov-regularised kernel score estimator: ŝ = −(L̂ + λ)⁻¹ ζ̂ with λ = η/n.

    In-sample, (𝒦_XX + ηI) ŝ_X = −Z_X; out of sample,
    ŝ(y) = −(1/η) [Z(y) + Σ_b 𝒦(y, x_b) ŝ(x_b)] (which reproduces ŝ_X at y = x_b).
    The diagonal kernel is solved by one Cholesky factorisation of K + ηI (in-sample this is
    exact Stein, V-statistic); the curl-free one by conjugate gradients on the nd unknowns
    with the three-GEMM product (relative residual ≤ ``tol``; a RuntimeWarning is issued if
    ``max_iter`` is reached first).

    Parameters
    ----------
    kernel, bandwidth, bandwidth_scale, beta
        See :class:`~mcmcadapt.score.base.ScoreEstimator`.
    eta : float > 0 or "auto"
        Ridge, absolute on the unit-diagonal Gram scale (𝒦_XX + ηI).
    matrix_kernel : {"curl_free", "diagonal"}
    tol : float > 0
        Relative residual at which conjugate gradients stop (curl-free kernel).
    max_iter : int ≥ 1
        Iteration cap of conjugate gradients.

    Fitted attributes: ``eta_``; ``jitter_`` (diagonal kernel: extra diagonal the Cholesky
    needed) or ``cg_iterations_`` (curl-free kernel); plus ``a_``, ``C_``, ``G_`` and those of
    the base class.

    Defaults (median bandwidth, η = 10), measured with ``benchmarks/score_accuracy.py``
    (held-out relative MSE, geometric mean of the ratio to each cell's best grid point): 2.8×
    on N(0, I) and the grid mixture, where 4 × median with η = 1 wins (1.06×), and 1.27× on
    the bimodal and Student-t targets, where it is the best grid point. The bandwidth stays
    the median heuristic as for every estimator here; "auto" adapts it.
    """

    auto_grids = {"bandwidth": (0.5, 1.0, 2.0, 4.0), "eta": (1e-2, 1e-1, 1.0, 10.0)}

    def __init__(self, kernel="rbf", bandwidth="median", eta=10.0, matrix_kernel="curl_free",
                 tol=1e-8, max_iter=2000, bandwidth_scale=1.0, beta=-0.5,
                 auto_criterion="heldout"):
        super().__init__(kernel=kernel, bandwidth=bandwidth, matrix_kernel=matrix_kernel,
                         bandwidth_scale=bandwidth_scale, beta=beta,
                         auto_criterion=auto_criterion)
        self.eta = eta
        self.tol = tol
        self.max_iter = max_iter

    def _check_config(self):
        super()._check_config()
        if self.eta != AUTO:
            positive_float(self.eta, "eta")
        positive_float(self.tol, "tol")
        _check_count(self.max_iter, "max_iter")

    def _coefficients(self, gram):
        eta = float(self.eta)
        self.eta_ = eta
        if gram.kind == "diagonal":
            A = gram.K.copy()
            A[np.diag_indices_from(A)] += eta
            L, self.jitter_ = cholesky_jitter(A, overwrite=True)
            G = -cho_solve(L, gram.Z)
        else:
            G = self._cg(gram, eta)
        return -1.0 / eta, -G / eta, G

    def _cg(self, gram, eta):
        """Solve (𝒦_XX + ηI) G = −Z by conjugate gradients on the flattened (n·d) unknowns."""
        shape = gram.Z.shape
        op = spla.LinearOperator(
            (gram.Z.size, gram.Z.size),
            matvec=lambda v: (gram.apply(v.reshape(shape)) + eta * v.reshape(shape)).ravel(),
            dtype=float,
        )
        count = [0]

        def tick(_):
            count[0] += 1

        g, info = spla.cg(op, -gram.Z.ravel(), rtol=float(self.tol), atol=0.0,
                          maxiter=int(self.max_iter), callback=tick)
        self.cg_iterations_ = count[0]
        if info > 0:
            warnings.warn(
                f"Tikhonov: conjugate gradients stopped at max_iter={self.max_iter} before "
                f"reaching relative residual tol={self.tol}; increase eta or max_iter.",
                RuntimeWarning, stacklevel=4,
            )
        return g.reshape(shape)


class NuMethod(_SpectralFilterEstimator):
    """ν-method kernel score estimator: ``n_iter`` steps of the accelerated Landweber iteration
    for L̂ s = −ζ̂ (Engl, Hanke & Neubauer 1996, §6.3; Bauer, Pereverzev & Rosasco 2007).

    With the operator scaled to norm ≤ 1 (A = L̂/κ, κ = Λ/n, Λ ≥ λ_max(𝒦_XX) the block
    Gershgorin bound), s_0 = s_{−1} = 0 and for t = 1, 2, …:

        s_t = s_{t−1} + u_t (s_{t−1} − s_{t−2}) + ω_t (−ζ̂/κ − A s_{t−1}),
        u_t = (t−1)(2t−3)(2t+2ν−1) / [(t+2ν−1)(2t+4ν−1)(2t+2ν−3)],
        ω_t = 4(2t+2ν−1)(t+ν−1) / [(t+2ν−1)(2t+4ν−1)].

    In the representation s = a·Z + Σ_b 𝒦(·, x_b) c_b each step is
    a_t = (1+u)a − u a' − ω/Λ and C_t = (1+u)C − u C' − (ω/Λ)(a Z_X + 𝒦_XX C): one block-Gram
    product (1 or 3 GEMMs) per iteration and nothing else. t iterations act roughly like a
    Tikhonov ridge λ ≈ κ/t². The residual polynomials decay algebraically (as t^(−2ν) on the
    spectrum), so the iteration is a regulariser, not a fast solver: converging to the
    unregularised solution needs many iterations even for a well-conditioned Gram.

    Parameters
    ----------
    kernel, bandwidth, bandwidth_scale, beta
        See :class:`~mcmcadapt.score.base.ScoreEstimator`.
    n_iter : int ≥ 1 or "auto"
        Number of iterations (the regulariser: more iterations, less regularisation).
    nu : float > 0
        Qualification ν of the method.
    matrix_kernel : {"curl_free", "diagonal"}

    Fitted attributes: ``n_iter_``, ``norm_bound_`` (Λ); plus ``a_``, ``C_``, ``G_`` and those
    of the base class.

    Defaults (median bandwidth, 8 iterations), measured with ``benchmarks/score_accuracy.py``
    (held-out relative MSE, geometric mean of the ratio to each cell's best grid point): 4.1×
    on N(0, I) and the grid mixture, where 4 × median with 16 iterations wins (1.3×), and
    1.5× on the bimodal and Student-t targets, where it is the best grid point. The bandwidth
    stays the median heuristic as for every estimator here; "auto" adapts it.
    """

    auto_grids = {"bandwidth": (0.5, 1.0, 2.0, 4.0), "n_iter": (2, 4, 8, 16, 32, 64)}

    def __init__(self, kernel="rbf", bandwidth="median", n_iter=8, nu=1.0,
                 matrix_kernel="curl_free", bandwidth_scale=1.0, beta=-0.5,
                 auto_criterion="heldout"):
        super().__init__(kernel=kernel, bandwidth=bandwidth, matrix_kernel=matrix_kernel,
                         bandwidth_scale=bandwidth_scale, beta=beta,
                         auto_criterion=auto_criterion)
        self.n_iter = n_iter
        self.nu = nu

    def _check_config(self):
        super()._check_config()
        if self.n_iter != AUTO:
            _check_count(self.n_iter, "n_iter")
        positive_float(self.nu, "nu")

    def _coefficients(self, gram):
        nu = float(self.nu)
        lam_bound = gram.norm_bound()
        self.norm_bound_ = lam_bound
        Z = gram.Z
        a = a_prev = 0.0
        C = np.zeros_like(Z)
        C_prev = np.zeros_like(Z)
        for t in range(1, int(self.n_iter) + 1):
            # u_1 = 0 (its formula is 0/0 at ν = ½).
            u = 0.0 if t == 1 else ((t - 1) * (2 * t - 3) * (2 * t + 2 * nu - 1)
                                    / ((t + 2 * nu - 1) * (2 * t + 4 * nu - 1)
                                       * (2 * t + 2 * nu - 3)))
            w = 4 * (2 * t + 2 * nu - 1) * (t + nu - 1) / ((t + 2 * nu - 1) * (2 * t + 4 * nu - 1))
            R = a * Z + gram.apply(C) if t > 1 else np.zeros_like(Z)   # s_0 = 0
            C_next = (1 + u) * C - u * C_prev - (w / lam_bound) * R
            a, a_prev = (1 + u) * a - u * a_prev - w / lam_bound, a
            C, C_prev = C_next, C
        self.n_iter_ = int(self.n_iter)
        return a, C, a * Z + gram.apply(C)


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise HyperparameterError(f"{name} must be a positive integer, got {value!r}.")
