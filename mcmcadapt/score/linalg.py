"""Dense solves for kernel systems: Cholesky with a jitter retry, and a checked LU path."""

import warnings

import numpy as np
import scipy.linalg as sla

from ..errors import SingularMatrixError
from . import _numba

MAX_JITTER_TRIES = 5
_dpotrs = sla.lapack.dpotrs


def cholesky_jitter(A, overwrite=False, max_tries=MAX_JITTER_TRIES):
    """Lower Cholesky factor of the symmetric matrix A, adding jitter to the diagonal on failure.

    The first retry adds 1e-10 × mean(diag A); each further one multiplies the jitter by 100,
    up to 1e-2 × mean(diag A) (a larger jitter would change the answer, not just rescue it).
    Returns ``(L, jitter)`` where ``jitter`` is the amount finally added (0.0 if none).
    ``overwrite=True`` lets the factorisation reuse A's memory (A is then destroyed), so a
    large fit holds a single n×n buffer. Raises :class:`SingularMatrixError` when even the
    largest jitter fails.
    """
    diag = np.diag(A).copy()
    base = float(np.mean(diag))
    if not np.isfinite(base) or base <= 0:
        raise SingularMatrixError(
            "kernel matrix has a non-positive or non-finite diagonal; check the particles "
            "and the kernel bandwidth."
        )
    if overwrite and A.flags.f_contiguous:
        work = A
    elif overwrite and A.flags.c_contiguous:
        # A C-ordered symmetric matrix is its own transpose, which LAPACK reads in place.
        work = A.T
    else:
        work = np.array(A, order="F")
    jitter = 0.0
    for attempt in range(max_tries + 1):
        if attempt:
            # dpotrf touched only the lower triangle: rebuild it from the upper one.
            jitter = base * 1e-10 * 100.0 ** (attempt - 1)
            _numba.symmetrize_lower_from_upper(work, diag + jitter)
        L, info = sla.lapack.dpotrf(work, lower=1, overwrite_a=1, clean=0)
        if info == 0:
            _numba.zero_upper(L)
            return L, jitter
        if info < 0:
            raise SingularMatrixError(f"LAPACK dpotrf rejected argument {-info}.")
    raise SingularMatrixError(
        f"kernel matrix is not positive definite even with jitter {jitter:.3g} on the "
        "diagonal; increase eta (the ridge) or the bandwidth, or remove duplicate particles."
    )


def cho_solve(L, B):
    """Solve (L Lᵀ) Z = B for a lower-triangular L (n, n) and B (n,) or (n, k); a new array.

    LAPACK's dpotrs directly: scipy's wrapper spends longer on argument checks than the
    solve of a 50×50 system takes."""
    Z, info = _dpotrs(L, B, lower=1)
    if info != 0:
        raise SingularMatrixError(f"LAPACK dpotrs rejected argument {-info}.")
    return Z


def lu_factor_checked(A, what="kernel matrix", overwrite=False, symmetric=False):
    """LU factorisation ``(lu, piv)`` of the square matrix A, for :func:`lu_solve`.

    Raises :class:`SingularMatrixError` when A is (numerically) singular, judged by LAPACK's
    reciprocal condition estimate: rcond < n·ε. ``overwrite=True`` lets the factors take A's
    memory (A is then destroyed) when A is Fortran-ordered, or C-ordered and declared
    ``symmetric`` (symmetric but indefinite systems such as the Stein U-statistic's).
    """
    n = A.shape[0]
    anorm = float(np.max(np.sum(np.abs(A), axis=0)))
    # A symmetric C-ordered A is its own transpose, i.e. the same matrix in Fortran order.
    work = A.T if symmetric and A.flags.c_contiguous else A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sla.LinAlgWarning)
        lu, piv = sla.lu_factor(work, overwrite_a=overwrite, check_finite=False)
    rcond, info = sla.lapack.dgecon(lu, anorm, norm="1")
    if info != 0 or not np.isfinite(rcond) or rcond < n * np.finfo(float).eps:
        raise SingularMatrixError(
            f"{what} is singular (reciprocal condition number {rcond:.3g}); increase eta "
            "(the ridge) or change the bandwidth."
        )
    return lu, piv


def lu_solve(factor, B):
    """Solve A Z = B with ``factor = lu_factor_checked(A)``."""
    return sla.lu_solve(factor, B, check_finite=False)


def lu_solve_checked(A, B, what="kernel matrix"):
    """Solve A Z = B by LU, raising :class:`SingularMatrixError` when A is (numerically) singular.

    Singularity is judged by LAPACK's reciprocal condition estimate: rcond < n·ε.
    """
    return lu_solve(lu_factor_checked(A, what), B)
