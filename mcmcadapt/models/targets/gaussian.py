"""Gaussian targets: general, iid, AR(1)-correlated, Neal's 100-d and an ill-conditioned 100-d."""

import numpy as np
from scipy.linalg import cho_solve, solve_triangular

from ..._validation import positive_float, positive_int
from ...errors import InputError
from ..model import Model


def gaussian(mean, cov, name="gaussian", names=None):
    """N(mean, cov), normalised; mean (d,), cov (d, d) symmetric positive definite.

    Log density and gradient from the Cholesky factor (two triangular solves per batch);
    exact Hessian-vector products ``-cov⁻¹ v``; exact draws ``mean + L z``.
    ``true_mean = mean``, ``true_std = sqrt(diag(cov))``.
    """
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    d = mean.size
    if mean.shape != (d,) or cov.shape != (d, d):
        raise InputError(f"mean must be (d,) and cov (d, d); got {mean.shape} and {cov.shape}.")
    if not np.allclose(cov, cov.T, rtol=1e-12, atol=0):
        raise InputError("cov must be symmetric.")
    try:
        L = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise InputError("cov is not positive definite; check its eigenvalues.") from None
    const = -0.5 * d * np.log(2 * np.pi) - np.log(np.diag(L)).sum()

    def logp_and_grad(X):
        Z = solve_triangular(L, (X - mean).T, lower=True)
        G = -solve_triangular(L, Z, lower=True, trans="T")
        return const - 0.5 * np.einsum("ij,ij->j", Z, Z), G.T

    def hvp(X, V):
        return -cho_solve((L, True), V.T).T

    def sample(n, rng):
        return mean + rng.standard_normal((n, d)) @ L.T

    return Model(logp_and_grad, d, names=names, hvp=hvp, name=name,
                 true_mean=mean, true_std=np.sqrt(np.diag(cov)), sampler=sample)


def iid_gaussian(dim=10, sd=1.0):
    """N(0, sd² I) in ``dim`` dimensions."""
    dim = positive_int(dim, "dim")
    return gaussian(np.zeros(dim), np.eye(dim) * positive_float(sd, "sd") ** 2,
                    name=f"gaussian{dim}")


def correlated_gaussian(dim=10, rho=0.9):
    """N(0, Σ) with unit variances and AR(1) correlations Σ_ij = rho^|i-j|."""
    if not -1.0 < rho < 1.0:
        raise InputError(f"rho must lie in (-1, 1), got {rho}.")
    idx = np.arange(dim)
    cov = float(rho) ** np.abs(idx[:, None] - idx[None, :])
    return gaussian(np.zeros(dim), cov, name=f"correlated-gaussian{dim}")


def neal100():
    """Neal's 100-d Gaussian: diagonal, sd = linspace(0.01, 1, 100)."""
    sd = np.linspace(0.01, 1.0, 100)
    return gaussian(np.zeros(100), np.diag(sd**2), name="neal100")


def illcond100():
    """100-d Gaussian with covariance Q·diag(v)·Qᵀ, condition number ≈ 1.9e4.

    rng = default_rng(10); v = sort(1 / rng.gamma(0.5, 1.0, 100));
    Q = qr(rng.standard_normal((100, 100)))[0] (in that order).
    """
    rng = np.random.default_rng(10)
    v = np.sort(1.0 / rng.gamma(0.5, 1.0, 100))
    Q = np.linalg.qr(rng.standard_normal((100, 100)))[0]
    cov = (Q * v) @ Q.T
    return gaussian(np.zeros(100), 0.5 * (cov + cov.T), name="illcond100")
