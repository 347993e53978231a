"""Stein gradient estimator (Li & Turner, ICLR 2018), exact V- and U-statistic forms.

With K_ij = k(x_i, x_j) and the divergence sum B_i = Σ_j ∇_{x_j} k(x_i, x_j)
(:func:`~mcmcadapt.score.kernels.divergence_sum`), the in-sample estimate of ∇log q is

* V-statistic: Ĝ = −(K + ηI)⁻¹ B, solved by Cholesky (jitter retry, recorded in ``jitter_``);
* U-statistic: Ĝ = −(K − diag(K) + ηI)⁻¹ B, an indefinite system solved by checked LU.

This is the exact formula. The published reference code replaces (K + ηI)⁻¹ K X inside it by
X, which is exact only at η = 0 and is not used here.

Out of sample (paper Eq. 28) the estimate at y is the row of y when the estimator is refitted
on X ∪ {y} with the same bandwidth and η: by block elimination of the enlarged system, with
k_y = [k(x_m, y)]_m and a = A⁻¹ k_y (A the fitted n×n system matrix),

    ŝ(y) = −( k_yᵀ Ĝ − Σ_m (a_m + 1) ∇_y k(x_m, y) ) / ( c + η − k_yᵀ a ),

where c = k(y, y) = 1 for the V-statistic and c = 0 for the U-statistic (whose enlarged
system also drops its diagonal kernel entry). Many queries share one factorisation: the
a-vectors come from one solve with a right-hand side per query, the rest from GEMMs.
"""

import numpy as np

from .._validation import positive_float
from ..errors import HyperparameterError, SingularMatrixError
from .base import AUTO, ScoreEstimator
from .kernels import divergence_sum, grad_sum, query_blocks
from .linalg import cho_solve, cholesky_jitter, lu_factor_checked, lu_solve

STATISTICS = ("V", "U")


class Stein(ScoreEstimator):
    """Stein gradient estimator of ∇log q from particles of q.

    Parameters
    ----------
    kernel : {"rbf", "imq"}
        RBF k = exp(−‖x − y‖²/(2h²)); IMQ k = (1 + ‖x − y‖²/h²)^β.
    bandwidth : float > 0, "median", "median_log" or "auto"
        Length-scale h (see :class:`~mcmcadapt.score.base.ScoreEstimator`).
    eta : float > 0 or "auto"
        Absolute ridge on the K + ηI scale (not multiplied by n or n²).
    statistic : {"V", "U"}
        V keeps the diagonal kernel terms (positive definite system); U drops them. The U
        system K − I + ηI has eigenvalues λ_i − 1 + η: for η < 1 it is indefinite and becomes
        near-singular whenever some λ_i ≈ 1 − η, which makes the estimate erratic (at η = 0.5
        on N(0, I_3) samples it was off by 40× in norm); use η > 1 with "U".
    bandwidth_scale : float > 0
        Multiplies the bandwidth.
    beta : float in (−1, 0)
        IMQ exponent.

    Fitted attributes: ``X_`` (n, d), ``bandwidth_``, ``eta_``, ``jitter_`` (diagonal jitter the
    Cholesky needed, 0.0 normally and always for "U"), ``G_`` (n, d) in-sample estimate,
    ``weights_`` (n, n) with Ĝ = weights_ · (X − mean) when n < d (None otherwise), and the cached
    factorisation used by out-of-sample queries.
    """

    auto_grids = {"bandwidth": (0.5, 1.0, 2.0, 4.0), "eta": (1e-3, 1e-2, 1e-1, 1.0)}

    def __init__(
        self,
        kernel="rbf",
        bandwidth="median",
        eta=0.1,
        statistic="V",
        bandwidth_scale=1.0,
        beta=-0.5,
        auto_criterion="heldout",
    ):
        super().__init__(
            kernel=kernel, bandwidth=bandwidth, bandwidth_scale=bandwidth_scale, beta=beta,
            auto_criterion=auto_criterion,
        )
        self.eta = eta
        self.statistic = statistic

    def search_grids(self):
        """For the U-statistic, η shifted by 1: K − diag(K) + ηI = K + (η − 1)I (k(x, x) = 1),
        so U at η is V at η − 1, and a grid of η ≤ 1 would search indefinite systems only."""
        if self.statistic != "U":
            return self.auto_grids
        return {**self.auto_grids, "eta": tuple(1.0 + e for e in self.auto_grids["eta"])}

    def _check_config(self):
        super()._check_config()
        if self.statistic not in STATISTICS:
            raise HyperparameterError(
                f"statistic must be one of {STATISTICS}, got {self.statistic!r}."
            )
        if not (isinstance(self.eta, str) and self.eta == AUTO):
            if isinstance(self.eta, str):
                raise HyperparameterError(
                    f"eta must be a positive number or 'auto', got {self.eta!r}."
                )
            positive_float(self.eta, "eta")

    def _fit(self, X, D):
        eta = float(self.eta)
        # centred particles keep B = rowsum(W)·X − W X free of cancellation
        Xc = self.Xc_
        km = self.kernel_.matrices_from_sqdist(D)  # K takes D's memory
        n, d = Xc.shape
        if n < d:
            # B = R·Xc with R = w_scale·(diag(rowsum W) − W): solving for R's n columns and
            # multiplying by Xc afterwards costs O(n³ + n²d) instead of O(n²d) twice. R is
            # formed now because W may share K's memory, whose diagonal changes below.
            rhs = -km.w_scale * km.W
            rhs.reshape(-1)[:: n + 1] += km.w_scale * km.w_rowsum
        else:
            rhs = divergence_sum(km, Xc)
        A = km.K
        del km  # the IMQ weight matrix is no longer needed
        diag = A.reshape(-1)[:: A.shape[0] + 1]  # a view: A is a fresh C-ordered buffer
        if self.statistic == "V":
            diag += eta
            L, jitter = cholesky_jitter(A, overwrite=True)
            self.factor_ = ("cholesky", L)
            self.self_kernel_ = 1.0
        else:
            # k(x, x) = 1 for both kernels, so K − diag(K) + ηI has η on its diagonal.
            diag[:] = eta
            lu = lu_factor_checked(
                A, what="Stein U-statistic matrix K − diag(K) + ηI", overwrite=True,
                symmetric=True,
            )
            self.factor_ = ("lu", lu)
            jitter = 0.0
            self.self_kernel_ = 0.0
        self.eta_ = eta
        self.jitter_ = jitter
        S = self._solve(rhs)
        S *= -1.0  # on the smaller of S and its product with Xc
        # n < d: Ĝ = weights_ · Xc is formed on first use, so that a caller wanting a few
        # columns (the adaptation's coordinate subsample) pays n²·m instead of n²·d
        self.weights_ = S if n < d else None
        self._G_ = None if n < d else S  # suffixed "_": the "auto" search copies it too

    @property
    def G_(self):
        """(n, d) in-sample estimate Ĝ."""
        if self._G_ is None:
            self._G_ = self.weights_ @ self.Xc_
        return self._G_

    def _gradients_columns(self, Y, columns):
        if Y is None and self._G_ is None:
            return self.weights_ @ self.Xc_[:, columns]
        return super()._gradients_columns(Y, columns)

    def _solve(self, R):
        kind, f = self.factor_
        return cho_solve(f, R) if kind == "cholesky" else lu_solve(f, R)

    def _gradients(self, Y):
        if Y is None:
            # a fresh product is the caller's to keep, so Ĝ is not also cached and copied
            return self.weights_ @ self.Xc_ if self._G_ is None else self._G_.copy()
        out = np.empty_like(Y)
        # blocks bound the (m, n) temporaries (kernel, weights, solve) for any number of queries
        for rows in query_blocks(Y.shape[0], self.n_):
            out[rows] = self._out_of_sample(Y[rows] - self.center_, rows.start)
        return out

    def _out_of_sample(self, Yc, offset):
        """Eq. 28 for a block of centred queries Yc (m, d)."""
        Xc = self.Xc_
        km = self.kernel_.matrices(Yc, Xc)
        A = self._solve(km.K.T)  # (n, m): column a of query y is A⁻¹ k_y
        quad = np.einsum("ij,ji->i", km.K, A)
        num = km.K @ self.G_ - grad_sum(km, Yc, Xc, A.T) - grad_sum(km, Yc, Xc)
        den = self.self_kernel_ + self.eta_ - quad
        if self.statistic == "U":
            tiny = 1e3 * np.finfo(float).eps * max(1.0, self.eta_)
            bad = np.flatnonzero(~(np.abs(den) > tiny))
            if bad.size:
                raise SingularMatrixError(
                    f"query row {offset + bad[0]}: the U-statistic system enlarged by this "
                    "point is singular (Schur complement "
                    f"{den[bad[0]]:.3g}); use statistic='V' or a different eta."
                )
        return -num / den[:, None]
