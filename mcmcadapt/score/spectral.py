"""Spectral Stein gradient estimator (SSGE; Shi, Sun & Zhu 2018, "A spectral approach to
gradient estimation for implicit distributions").

The score is expanded in the eigenfunctions of the kernel integral operator, estimated by the
Nyström method from the fitted particles X (n, d). With K = U Λ Uᵀ (eigenvalues descending) and
the top J eigenpairs kept,

    ψ_j(x) = (√n / λ_j) Σ_m U_mj k(x, x_m),            (Nyström eigenfunctions)
    β_j    = −(1/n) Σ_i ∇ψ_j(x_i),                      (Stein: E_q[ψ_j ∇log q] = −E_q[∇ψ_j])
    ŝ(x)   = Σ_j β_j ψ_j(x).

Collecting the sums (B_m = Σ_i ∇_{x_i} k(x_i, x_m), the kernel layer's divergence sum),
β = −n^{-1/2} Λ_J⁻¹ U_Jᵀ B, and therefore

    ŝ(Y) = −K_YX U_J Λ_J⁻² U_Jᵀ B     (m, d),
    ŝ(X) = −U_J Λ_J⁻¹ U_Jᵀ B          (n, d)   (the same formula at Y = X, since K U_J = U_J Λ_J).

The in-sample estimate is thus exact Stein's −K⁻¹B with the inverse restricted to the top-J
eigenspace: the spectral cut-off filter of Zhou, Shi & Zhu (2020), where Stein applies the
Tikhonov filter 1/(λ + η).

Which eigenpairs are kept (first rule that applies):

* ``n_eigen``: the J largest;
* ``eigen_threshold``: the smallest J whose eigenvalues sum to that fraction of trace(K)
  (the rule of Shi et al.);
* otherwise ``eta``: every eigenvalue λ_j > η, an absolute cut-off on the same K + ηI scale as
  Stein's ridge (the default). Measured on Gaussians, the grid mixture, a bimodal mixture and
  Student t (d = 2…32, n = 256…1024): the fraction rule's best value moves with d (0.99 at
  d = 2, 0.9 at d ≥ 8) and, since J then stays fixed as n grows, its error stopped falling with
  n on a 2-D bimodal target; the absolute cut-off keeps more eigenpairs as n grows and η = 1
  was the best or near-best cut-off in most cells.

Sign: the result estimates +∇log q. The bandwidth (length-scale h, see
:mod:`mcmcadapt.score.kernels`) is set from the fitted particles only, never from the query
batch. Only the kept eigenpairs are computed (LAPACK ``syevr`` with an index or value range).
Memory O(n² + n·d).
"""

import numbers
import warnings

import numpy as np
import scipy.linalg as sla

from .._validation import positive_float
from ..errors import HyperparameterError
from .base import AUTO, ScoreEstimator
from .kernels import divergence_sum, query_blocks


class SSGE(ScoreEstimator):
    """Spectral Stein gradient estimator.

    Parameters
    ----------
    kernel, bandwidth, bandwidth_scale, beta
        See :class:`~mcmcadapt.score.base.ScoreEstimator`.
    eta : float > 0 or "auto"
        Keep the eigenpairs of K with eigenvalue above η (used when ``n_eigen`` and
        ``eigen_threshold`` are None). "auto": chosen by the score-matching loss
        (``auto_criterion``).
    n_eigen : None or int ≥ 1
        Keep this many leading eigenpairs.
    eigen_threshold : None or float in (0, 1]
        Keep the smallest J whose eigenvalues sum to at least this fraction of trace(K).
    auto_criterion : {"combined", "heldout", "insample"}
        See :class:`~mcmcadapt.score.base.ScoreEstimator`. The default is "combined" (the
        mean of the in-sample and held-out losses) because the held-out loss alone cannot see
        SSGE's in-sample over-fitting: with a small bandwidth the Nyström eigenfunctions are
        spiky at the fitted particles, and at n = 256, d = 32 held-out selection chose a
        candidate with 2.7× the in-sample error of the grid's best (benchmarks/score_accuracy.py).
        Above 512 particles it is the held-out loss alone (see :mod:`.selection`); below,
        selection costs 2–7× the held-out one (1.5 s at n = 256, d = 32).

    Eigenvalues below n·ε·λ_1 are numerically zero (their Nyström eigenfunctions are noise
    amplified by 1/λ) and are always dropped, so ``n_eigen_`` may be smaller than requested.
    When no eigenvalue exceeds η the estimate is zero (the filter removes everything) and a
    RuntimeWarning says so.

    Fitted attributes: ``n_eigen_`` (J used), ``eigenvalues_`` (J,) descending, plus those of
    the base class.

    Defaults (median bandwidth, η = 1), measured with ``benchmarks/score_accuracy.py``
    (held-out relative MSE, geometric mean of the ratio to each cell's best grid point):
    2.4× on N(0, I) and the grid mixture (where 4 × median, η = 0.1 gets 1.3×) and 1.25× on
    the bimodal and Student-t targets, where it is the best grid point. The bandwidth stays
    the median heuristic as for every estimator here; "auto" adapts it.
    """

    auto_grids = {"bandwidth": (0.5, 1.0, 2.0, 4.0), "eta": (1e-2, 1e-1, 1.0, 10.0)}

    def __init__(self, kernel="rbf", bandwidth="median", eta=1.0, n_eigen=None,
                 eigen_threshold=None, bandwidth_scale=1.0, beta=-0.5,
                 auto_criterion="combined"):
        super().__init__(kernel=kernel, bandwidth=bandwidth, bandwidth_scale=bandwidth_scale,
                         beta=beta, auto_criterion=auto_criterion)
        self.eta = eta
        self.n_eigen = n_eigen
        self.eigen_threshold = eigen_threshold

    def subset_params(self, n):
        if isinstance(self.n_eigen, numbers.Integral) and self.n_eigen > n:
            return {"n_eigen": int(n)}
        return {}

    def degenerate(self):
        if getattr(self, "n_eigen_", None) == 0:
            return f"no eigenvalue of the kernel matrix exceeds eta={self.eta}"
        return None

    def _check_config(self):
        super()._check_config()
        if self.n_eigen is not None and (
            isinstance(self.n_eigen, bool) or not isinstance(self.n_eigen, numbers.Integral)
            or self.n_eigen < 1
        ):
            raise HyperparameterError(
                f"n_eigen must be None or a positive integer (the number of eigenpairs kept), "
                f"got {self.n_eigen!r}."
            )
        t = self.eigen_threshold
        if t is not None and (isinstance(t, (bool, str)) or not isinstance(t, numbers.Real)
                              or not (0.0 < t <= 1.0)):
            raise HyperparameterError(
                f"eigen_threshold must be None or a fraction in (0, 1], got {t!r}."
            )
        if self.eta != AUTO:
            positive_float(self.eta, "eta")
            return
        if self.n_eigen is not None or t is not None:
            raise HyperparameterError(
                "eta='auto' selects the eigenvalue cut-off, which is unused when n_eigen or "
                "eigen_threshold is given; set those to None or pass a numeric eta."
            )

    def _eigenpairs(self, K):
        """Kept eigenpairs of the Gram K (destroyed): (λ (J,) descending, U (n, J))."""
        n = K.shape[0]
        if self.n_eigen is None and self.eigen_threshold is None:
            rng = {"subset_by_value": (float(self.eta), np.inf)}
        else:
            if self.n_eigen is not None:
                if self.n_eigen > n:
                    raise HyperparameterError(
                        f"n_eigen={self.n_eigen} exceeds the number of particles n={n}; pass "
                        f"at most {n}."
                    )
                J = int(self.n_eigen)
            else:
                # The fraction needs the whole spectrum; eigenvalues alone are much cheaper
                # than eigenvectors, which are then computed for the J kept only.
                cum = np.cumsum(sla.eigvalsh(K, check_finite=False)[::-1])
                # argmax, not searchsorted: round-off makes the tail of cum non-monotone.
                J = int(np.argmax(cum >= self.eigen_threshold * cum[-1] * (1.0 - 1e-12))) + 1
            rng = {"subset_by_index": [n - J, n - 1]}
        # K is symmetric, so its transpose (a Fortran-ordered view) is K itself and LAPACK
        # can work in place instead of on a copy.
        lam, U = sla.eigh(K.T, overwrite_a=True, check_finite=False, driver="evr", **rng)
        lam, U = lam[::-1], U[:, ::-1]
        if lam.size == 0:
            warnings.warn(
                f"SSGE: no eigenvalue of the kernel matrix exceeds eta={self.eta}; the "
                "estimate is zero. Lower eta.", RuntimeWarning, stacklevel=5,
            )
            return lam, U
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
            out[rows] = -(self.kernel_.gram(Y[rows] - self.center_, self.Xc_) @ self.coef_)
        return out
