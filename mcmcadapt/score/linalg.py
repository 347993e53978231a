"""Dense solves for kernel systems: Cholesky with a jitter retry, and a checked LU path."""

import warnings

import numpy as np
import scipy.linalg as sla

from ..errors import SingularMatrixError
from . import _numba

MAX_JITTER_TRIES = 8


def cholesky_jitter(A, overwrite=False, max_tries=MAX_JITTER_TRIES):
    """Lower Cholesky factor of the symmetric matrix A, adding jitter to the diagonal on failure.

    The first retry adds 1e-10 × mean(diag A); each further one multiplies the jitter by 100.
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
    work = np.array(A, order="F", copy=not overwrite or not A.flags.f_contiguous)
    if not work.flags.f_contiguous:
        # A C-ordered symmetric matrix is its own transpose, which LAPACK reads in place.
        work = work.T
    jitter = 0.0
    for attempt in range(max_tries + 1):
        L, info = sla.lapack.dpotrf(work, lower=1, overwrite_a=1, clean=0)
        if info == 0:
            _numba.zero_upper(L)
            return L, jitter
        if info < 0:
            raise SingularMatrixError(f"LAPACK dpotrf rejected argument {-info}.")
        # dpotrf touched only the lower triangle: rebuild it from the upper one.
        jitter = base * 1e-10 * 100.0**attempt
        _numba.symmetrize_lower_from_upper(work, diag + jitter)
    raise SingularMatrixError(
        f"kernel matrix is not positive definite even with jitter {jitter:.3g} on the "
        "diagonal; increase eta (the ridge) or the bandwidth, or remove duplicate particles."
    )


def cho_solve(L, B):
    """Solve (L Lᵀ) Z = B for a lower-triangular L."""
    return sla.cho_solve((L, True), B, check_finite=False)


def lu_solve_checked(A, B, what="kernel matrix"):
    """Solve A Z = B by LU, raising :class:`SingularMatrixError` when A is (numerically) singular.

    Singularity is judged by LAPACK's reciprocal condition estimate: rcond < n·ε.
    """
    n = A.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sla.LinAlgWarning)
        lu, piv = sla.lu_factor(A, check_finite=False)
    anorm = np.linalg.norm(A, 1)
    rcond, info = sla.lapack.dgecon(lu, anorm, norm="1")
    if info != 0 or not np.isfinite(rcond) or rcond < n * np.finfo(float).eps:
        raise SingularMatrixError(
            f"{what} is singular (reciprocal condition number {rcond:.3g}); increase eta "
            "(the ridge) or change the bandwidth."
        )
    return sla.lu_solve((lu, piv), B, check_finite=False)
