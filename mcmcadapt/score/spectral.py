"""Spectral Stein gradient estimator (SSGE; Shi, Sun & Zhu 2018, "A spectral approach to
gradient estimation for implicit distributions").

The score is expanded in the eigenfunctions of the kernel integral operator, estimated by the
Nyström method from the fitted particles X (n, d). With K = U Λ Uᵀ (eigenvalues descending) and
the top J eigenpairs kept,

    ψ_j(x) = (√n / λ_j) Σ_m U_mj k(x, x_m),            (Nyström eigenfunctions)
    β_j    = −(1/n) Σ_i ∇ψ_j(x_i),                      (Stein's identity: E_q[ψ_j ∇log q] = −E_q[∇ψ_j])
    ŝ(x)   = Σ_j β_j ψ_j(x).

Collecting the sums (B_m = Σ_i ∇_{x_i} k(x_i, x_m), the kernel layer's divergence sum),
β = −n^{-1/2} Λ_J⁻¹ U_Jᵀ B, and therefore

    ŝ(Y) = −K_YX U_J Λ_J⁻² U_Jᵀ B     (m, d),
    ŝ(X) = −U_J Λ_J⁻¹ U_Jᵀ B          (n, d)   (the same formula at Y = X, since K U_J = U_J Λ_J).

The in-sample estimate is thus exact Stein's −K⁻¹B with the inverse restricted to the top-J
eigenspace (spectral cut-off instead of a ridge). Sign: the result estimates +∇log q. The
bandwidth (length-scale h, see :mod:`mcmcadapt.score.kernels`) is set from the fitted particles
only, never from the query batch. Memory O(n² + n·d).
"""

import numbers

import numpy as np
import scipy.linalg as sla

from ..errors import HyperparameterError
from .base import AUTO, ScoreEstimator
from .kernels import divergence_sum, query_blocks


class SSGE(ScoreEstimator):
    """Spectral Stein gradient estimator.

    Parameters
    ----------
    kernel, bandwidth, bandwidth_scale, beta
        See :class:`~mcmcadapt.score.base.ScoreEstimator`.
    n_eigen : None or int ≥ 1
        Number J of leading eigenpairs kept. None: use ``eigen_threshold``.
    eigen_threshold : float in (0, 1] or "auto"
        With ``n_eigen=None``, keep the smallest J whose eigenvalues sum to at least this
        fraction of trace(K). "auto": chosen by held-out score-matching loss.

    Eigenvalues below n·ε·λ_1 are numerically zero (their Nyström eigenfunctions are noise
    amplified by 1/λ) and are always dropped, so ``n_eigen_`` may be smaller than requested.

    Fitted attributes: ``n_eigen_`` (J used), ``eigenvalues_`` (J,) descending, plus those of
    the base class.
    """

    auto_grids = {
        "bandwidth": (0.5, 1.0, 2.0, 4.0),
        "eigen_threshold": (0.9, 0.99, 0.999, 0.9999),
    }

    def __init__(self, kernel="rbf", bandwidth="median", n_eigen=None, eigen_threshold=0.99,
                 bandwidth_scale=1.0, beta=-0.5):
        super().__init__(kernel=kernel, bandwidth=bandwidth, bandwidth_scale=bandwidth_scale,
                         beta=beta)
        self.n_eigen = n_eigen
        self.eigen_threshold = eigen_threshold

    def _check_config(self):
        super()._check_config()
        if self.n_eigen is not None:
            if (isinstance(self.n_eigen, bool) or not isinstance(self.n_eigen, numbers.Integral)
                    or self.n_eigen < 1):
                raise HyperparameterError(
                    f"n_eigen must be None or a positive integer (the number of eigenpairs "
                    f"kept), got {self.n_eigen!r}."
                )
            if self.eigen_threshold == AUTO:
                raise HyperparameterError(
                    "eigen_threshold='auto' has no effect when n_eigen is given; pass "
                    "n_eigen=None to select the threshold automatically."
                )
        if self.eigen_threshold != AUTO:
            t = self.eigen_threshold
            if not isinstance(t, numbers.Real) or not (0.0 < t <= 1.0):
                raise HyperparameterError(
                    f"eigen_threshold must be a fraction in (0, 1] or 'auto', got {t!r}."
                )

    def _eigenpairs(self, K):
        """Top eigenpairs of the Gram K (destroyed): (λ (J,) descending, U (n, J))."""
        n = K.shape[0]
        if self.n_eigen is not None:
            if self.n_eigen > n:
                raise HyperparameterError(
                    f"n_eigen={self.n_eigen} exceeds the number of particles n={n}; pass at "
                    f"most {n}, or None to use eigen_threshold."
                )
            J = int(self.n_eigen)
        else:
            # The threshold needs the whole spectrum; eigenvalues alone are much cheaper than
            # eigenvectors, which are then computed only for the J kept.
            lam_all = sla.eigvalsh(K, check_finite=False)[::-1]
            cum = np.cumsum(lam_all)
            # argmax, not searchsorted: round-off makes the tail of cum slightly non-monotone.
            J = int(np.argmax(cum >= self.eigen_threshold * cum[-1] * (1.0 - 1e-12))) + 1
        lam, U = sla.eigh(K, subset_by_index=[n - J, n - 1], overwrite_a=True,
                          check_finite=False, driver="evr")
        lam, U = lam[::-1], U[:, ::-1]
        keep = lam > n * np.finfo(float).eps * lam[0]
        return lam[keep], U[:, keep]

    def _fit(self, X, D):
        km = self.kernel_.matrices_from_sqdist(D)
        # Centring leaves B unchanged in exact arithmetic and keeps rowsum(W)·x − W X free of
        # cancellation for particles far from the origin.
        B = divergence_sum(km, X - X.mean(axis=0))
        lam, U = self._eigenpairs(km.K)
        del km
        UB = U.T @ B                                      # (J, d)
        self.eigenvalues_ = lam
        self.n_eigen_ = lam.size
        self.G_ = -U @ (UB / lam[:, None])                # in-sample: −U Λ⁻¹ Uᵀ B
        self.coef_ = U @ (UB / lam[:, None] ** 2)         # out-of-sample: ŝ(Y) = −K_YX coef

    def _gradients(self, Y):
        if Y is None:
            return self.G_.copy()
        out = np.empty_like(Y)
        for rows in query_blocks(Y.shape[0], self.n_):
            out[rows] = -(self.kernel_.gram(Y[rows], self.X_) @ self.coef_)
        return out
