"""Thread policy for the score computations.

numpy and scipy each load their own OpenBLAS, and Numba runs a third (OpenMP) pool. Idle
OpenBLAS threads keep spinning for a while after each call, so alternating between pools
makes them fight for the cores: on the 2-core development machine a 2000×2000 Cholesky
factorisation (scipy's OpenBLAS) right after a numpy GEMM took 1.05 s instead of 50 ms, and
with other processes running any multi-threaded pool lost to a single thread (see
``benchmarks/score_speed.py``). Estimators therefore run their numerics inside
:func:`compute_threads`, which caps every BLAS pool and Numba for the duration and restores
the previous settings afterwards.

The default is one thread for both. :func:`set_threads` changes it, e.g. on a large idle
machine ``set_threads(blas=8)`` for big fits; the environment variables
``MCMCADAPT_BLAS_THREADS`` and ``MCMCADAPT_NUMBA_THREADS`` set the initial values.
"""

import os
import threading
from contextlib import contextmanager

import numba

_policy = {
    "blas": int(os.environ.get("MCMCADAPT_BLAS_THREADS", "1")),
    "numba": int(os.environ.get("MCMCADAPT_NUMBA_THREADS", "1")),
}
_controller = None
# per thread (Numba's thread count is thread-local): the policies applied by the enclosing
# compute_threads blocks, innermost last
_applied = threading.local()


def set_threads(blas=None, numba_threads=None):
    """Set the BLAS and Numba thread counts used inside estimator computations.

    ``None`` leaves a setting unchanged; 0 means "do not limit" (the library's own default).
    Returns the previous policy as a dict.
    """
    previous = dict(_policy)
    for key, value in (("blas", blas), ("numba", numba_threads)):
        if value is not None:
            if int(value) < 0:
                raise ValueError(f"thread count must be >= 0, got {value!r}.")
            _policy[key] = int(value)
    return previous


def get_threads():
    """The current policy: {"blas": int, "numba": int} (0 = not limited)."""
    return dict(_policy)


def _blas_libraries():
    global _controller
    if _controller is None:
        import scipy.linalg  # noqa: F401  (load scipy's BLAS before looking for it)
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas").lib_controllers
    return _controller


@contextmanager
def compute_threads():
    """Apply the thread policy for the duration of a ``with`` block (re-entrant).

    Talks to the thread-pool libraries directly and only when a setting differs, so that
    entering costs microseconds: small fits are called thousands of times during adaptation.
    A block nested in one that applied the same policy (an estimator fitted inside
    :func:`~mcmcadapt.tune`) costs nothing: the settings are already in force.
    """
    blas, nb = _policy["blas"], _policy["numba"]
    stack = getattr(_applied, "stack", None)
    if stack is None:
        stack = _applied.stack = []
    if stack and stack[-1] == (blas, nb):
        stack.append((blas, nb))
        try:
            yield
        finally:
            stack.pop()
        return
    changed_blas = []
    if blas:
        for lib in _blas_libraries():
            previous = lib.get_num_threads()
            if previous != blas:
                lib.set_num_threads(blas)
                changed_blas.append((lib, previous))
    previous_nb = numba.get_num_threads()
    target_nb = min(nb, numba.config.NUMBA_NUM_THREADS) if nb else previous_nb
    if target_nb != previous_nb:
        numba.set_num_threads(target_nb)
    stack.append((blas, nb))
    try:
        yield
    finally:
        stack.pop()
        if target_nb != previous_nb:
            numba.set_num_threads(previous_nb)
        for lib, previous in changed_blas:
            lib.set_num_threads(previous)
