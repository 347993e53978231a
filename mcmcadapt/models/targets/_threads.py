"""Thread count for the Numba kernels, chosen per call from the amount of work."""

import numba

# Below this many multiply-adds a kernel call runs on the calling thread: waking Numba's
# workers costs tens of microseconds on an idle machine and whole scheduler slices
# (~50 ms per call was measured) on a busy two-core one, which dwarfs small minibatch calls.
PARALLEL_MIN_WORK = 2_000_000


def run_kernel(kernel, work, *args):
    """``kernel(*args)`` with one Numba thread when ``work`` is small, else the current count.

    ``numba.set_num_threads`` is thread-local, so restoring it leaves other callers alone.
    """
    if work >= PARALLEL_MIN_WORK:
        return kernel(*args)
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(previous)
