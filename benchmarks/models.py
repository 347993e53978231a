"""Throughput of log density + gradient for 256 particles: Numba kernels vs plain numpy.

Targets: a one-hidden-layer BNN classifier on australian-size data (690 x 14 inputs, 50 hidden
units; synthetic inputs of that shape, so it runs without ../shared/data) with each
activation, and Bayesian logistic regression on German credit (1000 x 24 + intercept; a
synthetic stand-in of the same shape when ../shared/data is absent). The numpy baselines are
plain vectorised numpy, checked against the library before timing. BNN: forward and backward
pass written with stacked matmuls over a batch of particles, (b, N, H) intermediates; timed
with all 256 particles in one batch and in batches of 8, whose intermediates stay in cache
(about twice as fast here: the single batch is bound by memory traffic through ~70 MB
temporaries). Logistic regression: two GEMMs over all particles. glibc's malloc thresholds
are fixed first (:func:`steady_malloc`) so that numpy's temporaries are not page-faulted in
afresh on every call.

Run:  .venv/bin/python benchmarks/models.py [--repeats 15]
Prints a markdown table; speed-up = best numpy wall time (any batching, any BLAS threads) /
this wall time (> 1: faster), and for single-threaded rows also best single-threaded numpy
CPU time / this CPU time of the calling thread, which other processes on a shared machine do
not inflate. Target: Numba >= 3x on the BNN. Thread settings and the load average are
printed with the table: on a busy two-core machine the parallel timings depend on what else
is running.
"""

import argparse
import ctypes
import os
import time

import numba
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from mcmcadapt.datasets import DataNotFoundError, load
from mcmcadapt.models.targets import BNN, logistic_regression

N_PARTICLES = 256
NUMPY_BATCH = 8


def numpy_bnn(theta, X, y, H, activation):
    """Bernoulli-logit BNN log posterior and gradient, batched with stacked matmuls."""
    n = theta.shape[0]
    d = X.shape[1]
    W1 = theta[:, : d * H].reshape(n, d, H)
    b1 = theta[:, d * H: d * H + H]
    W2 = theta[:, d * H + H: d * H + 2 * H]
    b2 = theta[:, d * H + 2 * H]
    A = np.matmul(X, W1) + b1[:, None, :]                       # (n, N, H)
    if activation == "sigmoid":
        Z = 1.0 / (1.0 + np.exp(-A))
        dZ = Z * (1.0 - Z)
    elif activation == "tanh":
        Z = np.tanh(A)
        dZ = 1.0 - Z * Z
    else:
        Z = np.maximum(A, 0.0)
        dZ = (A > 0).astype(np.float64)
    F = np.matmul(Z, W2[:, :, None])[:, :, 0] + b2[:, None]    # (n, N)
    ll = np.sum(y * F - np.logaddexp(0.0, F), axis=1)
    R = y - 1.0 / (1.0 + np.exp(-F))
    D = R[:, :, None] * W2[:, None, :] * dZ                    # (n, N, H)
    g = np.concatenate([
        np.matmul(X.T, D).reshape(n, -1), D.sum(axis=1),
        np.matmul(R[:, None, :], Z)[:, 0, :], R.sum(axis=1, keepdims=True)], axis=1)
    p = theta.shape[1]
    return ll - 0.5 * np.sum(theta**2, 1) - 0.5 * p * np.log(2 * np.pi), g - theta


def numpy_bnn_batched(theta, X, y, H, activation, batch=NUMPY_BATCH):
    """:func:`numpy_bnn` over consecutive batches of ``batch`` particles."""
    parts = [numpy_bnn(theta[i: i + batch], X, y, H, activation)
             for i in range(0, theta.shape[0], batch)]
    return np.concatenate([lp for lp, _ in parts]), np.concatenate([g for _, g in parts])


def numpy_logistic(B, Xd, y):
    """Logistic regression log posterior and gradient with two GEMMs; Xd includes the intercept."""
    E = B @ Xd.T                                                # (n, N)
    ll = np.sum(y * E - np.logaddexp(0.0, E), axis=1)
    g = (y - 1.0 / (1.0 + np.exp(-E))) @ Xd
    d = B.shape[1]
    return ll - 0.5 * np.sum(B**2, 1) - 0.5 * d * np.log(2 * np.pi), g - B


def steady_malloc():
    """Fix glibc's malloc thresholds (mmap only above 32 MB, trim the heap only above 1 GB
    free), so that numpy's temporaries below 32 MB are reused across calls instead of going
    back to the OS and being page-faulted in again. Left dynamic, glibc switched regimes
    mid-run: the batched numpy baseline then took 3x longer, with ~70,000 page faults per
    call. Returns whether the settings took (glibc only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20)
                and libc.mallopt(m_trim_threshold, 1 << 30))


def best_time(fn, repeats):
    """Best and median wall time, and best CPU time of the calling thread (meaningful for
    single-threaded runs only: it excludes time lost to other processes)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return min(wall), float(np.median(wall)), min(cpu)


def numba_threads(k):
    previous = numba.get_num_threads()
    numba.set_num_threads(k)
    return previous


def time_both(label, model, numpy_fns, theta, repeats, rows):
    """Time the library's logp_and_grad against each numpy baseline in ``numpy_fns``
    (implementation name -> function of no arguments)."""
    lp, g = model.logp_and_grad(theta)
    results = {}
    for name, numpy_fn in numpy_fns.items():
        lp0, g0 = numpy_fn()
        np.testing.assert_allclose(lp, lp0, rtol=1e-9)
        np.testing.assert_allclose(g, g0, rtol=1e-7, atol=1e-9 * np.abs(g0).max())
        for blas in (1, None):
            with threadpool_limits(blas, user_api="blas"):
                results[(name, blas or "default")] = best_time(numpy_fn, repeats)
    default = numba.get_num_threads()
    for k in sorted({1, default}):
        previous = numba_threads(k)
        try:
            results[("numba", k)] = best_time(lambda: model.logp_and_grad(theta), repeats)
        finally:
            numba_threads(previous)
    base_wall = min(v[0] for k, v in results.items() if k[0] != "numba")
    base_cpu = min(v[2] for k, v in results.items() if k[0] != "numba" and k[1] == 1)
    for (impl, threads), (best, med, cpu) in results.items():
        single = threads == 1
        rows.append((label, impl, threads, best * 1e3, med * 1e3, N_PARTICLES / best,
                     base_wall / best, cpu * 1e3 if single else None,
                     base_cpu / cpu if single else None))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    malloc_fixed = steady_malloc()
    rng = np.random.default_rng(0)
    rows = []
    load_before = os.getloadavg()

    X = rng.standard_normal((690, 14))
    y = (rng.random(690) < 0.45).astype(np.float64)
    for activation in ("sigmoid", "tanh", "relu"):
        t0 = time.perf_counter()
        m = BNN(X, y, hidden=50, activation=activation)
        theta = 0.3 * rng.standard_normal((N_PARTICLES, m.dim))
        m.logp_and_grad(theta[:2])
        first = time.perf_counter() - t0
        numpy_fns = {
            f"numpy, batches of {NUMPY_BATCH}":
                lambda: numpy_bnn_batched(theta, X, y, 50, activation),
            f"numpy, 1 batch of {N_PARTICLES}": lambda: numpy_bnn(theta, X, y, 50, activation)}
        time_both(f"BNN 690x14, H=50, {activation} (first call {first:.2f} s)", m, numpy_fns,
                  theta, args.repeats, rows)

    try:
        ds = load("german")
        Xs, ys, label = ds.X_train, ds.y_train, "logistic German credit 1000x25"
    except DataNotFoundError:
        Xs = rng.standard_normal((1000, 24))
        ys = (rng.random(1000) < 0.3).astype(np.float64)
        label = "logistic synthetic 1000x25 (German credit absent)"
    m = logistic_regression(Xs, ys, standardize=False)
    Xd = np.column_stack([np.ones(Xs.shape[0]), Xs])
    B = 0.1 * rng.standard_normal((N_PARTICLES, m.dim))
    time_both(label, m, {"numpy": lambda: numpy_logistic(B, Xd, ys)}, B, args.repeats, rows)

    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"## logp + grad throughput, {N_PARTICLES} particles\n")
    print(f"cores: {os.cpu_count()}; numba {numba.__version__}, threading layer "
          f"{numba.threading_layer()}, default threads {numba.get_num_threads()}; BLAS "
          f"libraries (api, default threads): {blas}; glibc malloc thresholds fixed: "
          f"{malloc_fixed}; load average before/after: "
          f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f}\n")
    print("| target | implementation | threads | best wall ms | median wall ms | "
          "particle evals/s | speed-up vs best numpy (wall) | CPU ms (1 thread) | "
          "speed-up vs best 1-thread numpy (CPU) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for label, impl, threads, best, med, rate, ratio, cpu, cpu_ratio in rows:
        cpu_s = "" if cpu is None else f"{cpu:.2f}"
        cpu_r = "" if cpu_ratio is None else f"{cpu_ratio:.2f}x"
        print(f"| {label} | {impl} | {threads} | {best:.2f} | {med:.2f} | {rate:,.0f} | "
              f"{ratio:.2f}x | {cpu_s} | {cpu_r} |")
    print("\nthreads: BLAS threads for numpy, Numba threads for numba (the numba rows run the "
          "library's Model.logp_and_grad, validation included). numpy BNN baseline: plain "
          "vectorised numpy, forward and backward pass as stacked matmuls (X @ W1, Z @ W2, "
          "X^T @ D, R @ Z) and elementwise ufuncs over (batch, N, H) arrays, run on all "
          f"{N_PARTICLES} particles at once and on batches of {NUMPY_BATCH} (intermediates in "
          "cache); the numba kernel fuses both passes per particle in blocks of data rows. "
          "numpy logistic baseline: two GEMMs over all particles.")


if __name__ == "__main__":
    main()
