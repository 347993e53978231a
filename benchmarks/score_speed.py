"""Speed and memory of the Stein gradient estimator (fit + in-sample gradients).

Compares, in the same run and on the same particles X ~ N(0, I_d), the V-statistic estimate
Ĝ = −(K + ηI)⁻¹B with the RBF kernel, median bandwidth and η = 0.1, computed by

* ``Stein``: ``mcmcadapt.score.Stein().fit(X).gradients()``;
* ``BLAS``: a straightforward numpy + scipy implementation of the same formula (GEMM
  distances, ``np.median`` of all pairwise distances, ``np.exp``, K X by GEMM,
  ``scipy.linalg.cho_factor``/``cho_solve``);
* ``broadcast``: plain numpy that broadcasts the n×n×d differences, with ``einsum`` so that
  only one n×n×d array exists, and ``np.linalg.solve``;
* ``naive``: the same written as the public ports write it, ``np.sum`` over broadcast
  products, so two n×n×d arrays are alive at the peak.

A broadcasting method is skipped, and marked so, where its n×n×d arrays would exceed
``--max-broadcast-gb`` (default 4 GB).

Times are the minimum over repetitions, interleaved between the methods. The agreement column
is the largest relative difference of the other methods' Ĝ from the BLAS one, with Stein given
the same (exact) median bandwidth, since by default it takes the median from a fixed subset
of 250 000 pairs. Peak memory is
measured in a fresh child process per method and cell: ``traced`` is the tracemalloc peak
(numpy's and scipy's array allocations), ``RSS`` the child's maximum resident set size, which
includes the interpreter and libraries (about the "baseline RSS" printed above the table).

Threads: the estimators' policy (``mcmcadapt.score.set_threads``) and the baselines' BLAS
are set to ``--threads`` (default 1, the package default); a second table compares thread
settings at n = 2000, d = 100. OPENBLAS_CORETYPE is left as the environment sets it.

    python benchmarks/score_speed.py            # n ∈ {500, 2000, 5000}, d ∈ {10, 100, 1000}
    python benchmarks/score_speed.py --quick    # n ∈ {500, 2000}, d ∈ {10, 100}
    python benchmarks/score_speed.py --sizes 2000 --dims 100 --max-broadcast-gb 8
"""

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import scipy.linalg as sla
from scipy.spatial.distance import pdist
from threadpoolctl import threadpool_info, threadpool_limits

from mcmcadapt.score import Stein, set_threads

ETA = 0.1


# -- the three implementations --------------------------------------------------------------
def stein_package(X):
    return Stein(eta=ETA).fit(X).gradients()


def stein_blas(X):
    n = X.shape[0]
    sq = np.einsum("ij,ij->i", X, X)
    D = sq[:, None] + sq[None, :] - 2.0 * (X @ X.T)
    np.maximum(D, 0.0, out=D)
    h = np.median(np.sqrt(D[np.triu_indices(n, 1)]))
    K = np.exp(-D / (2.0 * h * h))
    B = (K.sum(axis=1)[:, None] * X - K @ X) / (h * h)
    factor = sla.cho_factor(K + ETA * np.eye(n), lower=True)
    return -sla.cho_solve(factor, B)


def stein_broadcast(X):
    n = X.shape[0]
    diff = X[:, None, :] - X[None, :, :]  # (n, n, d)
    D = np.einsum("ijk,ijk->ij", diff, diff)
    h = np.median(np.sqrt(D[np.triu_indices(n, 1)]))
    K = np.exp(-D / (2.0 * h * h))
    B = np.einsum("ij,ijk->ik", K, diff) / (h * h)  # Σ_j ∇_{x_j} k(x_i, x_j)
    return -np.linalg.solve(K + ETA * np.eye(n), B)


def stein_broadcast_naive(X):
    """The public ports' form: every step materialises its own n×n×d temporary."""
    n = X.shape[0]
    diff = X[:, None, :] - X[None, :, :]
    D = np.sum(diff**2, axis=-1)
    h = np.median(np.sqrt(D[np.triu_indices(n, 1)]))
    K = np.exp(-D / (2.0 * h * h))
    B = np.sum(K[:, :, None] * diff, axis=1) / (h * h)
    return -np.linalg.solve(K + ETA * np.eye(n), B)


METHODS = {"Stein": stein_package, "BLAS": stein_blas, "broadcast": stein_broadcast,
           "naive": stein_broadcast_naive}
#: n×n×d arrays alive at the peak of each broadcasting method
BROADCAST_ARRAYS = {"broadcast": 1, "naive": 2}


def particles(n, d):
    return np.random.default_rng([n, d]).standard_normal((n, d))


def broadcast_gb(n, d):
    return n * n * d * 8 / 1e9


# -- memory in a child process ---------------------------------------------------------------
def peak_rss_mb():
    """High-water resident set size of this process (VmHWM; unlike getrusage's ru_maxrss it
    is not inherited from the parent across fork + exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e3
    return float("nan")


def child(method, n, d, threads):
    """Run one method once under tracemalloc; print JSON with the peaks."""
    import tracemalloc

    set_threads(blas=threads, numba_threads=threads)
    X = particles(n, d)
    METHODS["Stein"](X[:50])  # load the Numba cache outside the measurement
    rss0 = peak_rss_mb()
    with threadpool_limits(threads or None):
        tracemalloc.start()
        METHODS[method](X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(json.dumps({"traced": peak / 1e6, "rss": peak_rss_mb(), "rss0": rss0}))


def measure_memory(method, n, d, threads):
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, str(n), str(d), str(threads)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- timing ----------------------------------------------------------------------------------
def time_methods(methods, X, reps, threads):
    set_threads(blas=threads, numba_threads=threads)
    best = {m: np.inf for m in methods}
    results = {}
    with threadpool_limits(threads or None):
        for _ in range(reps):
            for m in methods:
                t0 = time.perf_counter()
                results[m] = METHODS[m](X)
                best[m] = min(best[m], time.perf_counter() - t0)
    # Stein takes its median from a fixed subset of pairs above 250 000 pairs; check the
    # formula itself at the exact median the baselines use.
    h = np.median(pdist(X))
    results["Stein"] = Stein(bandwidth=h, eta=ETA).fit(X).gradients()
    ref = results["BLAS"]
    agree = {m: float(np.max(np.abs(r - ref)) / np.max(np.abs(ref))) for m, r in results.items()}
    return best, agree


def thread_table(reps):
    """Stein and the BLAS baseline at n = 2000, d = 100 under several thread settings."""
    X = particles(2000, 100)
    settings = [(1, 1), (2, 1), (1, 2), (2, 2)]
    best = {}
    for _ in range(reps):
        for blas, nb in settings:
            set_threads(blas=blas, numba_threads=nb)
            t0 = time.perf_counter()
            Stein(eta=ETA).fit(X).gradients()
            best[("Stein", blas, nb)] = min(best.get(("Stein", blas, nb), np.inf),
                                            time.perf_counter() - t0)
        for blas in (1, None):
            with threadpool_limits(blas):
                t0 = time.perf_counter()
                stein_blas(X)
                key = ("BLAS", blas or "default", "-")
                best[key] = min(best.get(key, np.inf), time.perf_counter() - t0)
    set_threads(blas=1, numba_threads=1)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n ∈ {500, 2000}, d ∈ {10, 100}")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS and Numba threads for every method (0 = library defaults)")
    ap.add_argument("--max-broadcast-gb", type=float, default=4.0)
    ap.add_argument("--sizes", type=int, nargs="*", default=None, help="values of n")
    ap.add_argument("--dims", type=int, nargs="*", default=None, help="values of d")
    ap.add_argument("--no-memory", action="store_true", help="skip the child-process memory runs")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        method, n, d, threads = args.child
        return child(method, int(n), int(d), int(threads))

    import numba

    sizes = args.sizes or ((500, 2000) if args.quick else (500, 2000, 5000))
    dims = args.dims or ((10, 100) if args.quick else (10, 100, 1000))
    libs = ", ".join(f"{os.path.basename(i['filepath']).split('-')[0]} {i['version']} "
                     f"({i['num_threads']} threads by default)" for i in threadpool_info())
    print("# Stein estimator: fit + in-sample gradients (RBF, median bandwidth, η = 0.1)\n")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__};"
          f" {os.cpu_count()} CPUs; BLAS: {libs}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}.")
    t = args.threads or "library default"
    print(f"Threads in the main table: BLAS {t} and Numba {t} for all methods.\n")

    stein_package(particles(50, 3))  # compile / load the Numba cache
    rows = []
    for n, d in itertools.product(sizes, dims):
        gb = broadcast_gb(n, d)
        methods = ["Stein", "BLAS"] + [m for m, k in BROADCAST_ARRAYS.items()
                                       if k * gb <= args.max_broadcast_gb]
        reps = 5 if n * n * d <= 4e8 else 2
        times, agree = time_methods(methods, particles(n, d), reps, args.threads)
        mem = {}
        if not args.no_memory:
            mem = {m: measure_memory(m, n, d, args.threads) for m in methods}
        rows.append((n, d, gb, times, agree, mem))
        print(f"n={n} d={d}: " + ", ".join(f"{m} {times[m]:.3f}s" for m in methods),
              file=sys.stderr, flush=True)

    if rows and rows[0][5]:
        print(f"baseline RSS of a child process after imports: "
              f"{rows[0][5]['Stein']['rss0']:.0f} MB\n")
    print("| n | d | Stein s | BLAS s | Stein/BLAS | broadcast s | broadcast/Stein | naive s | "
          "naive/Stein | max rel. diff vs BLAS (same h) | traced MB Stein / BLAS / broadcast / "
          "naive | RSS MB Stein / BLAS / broadcast / naive |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, d, gb, times, agree, mem in rows:
        cells = []
        for m, k in BROADCAST_ARRAYS.items():
            if m in times:
                cells += [f"{times[m]:.3f}", f"{times[m] / times['Stein']:.1f}"]
            else:
                cells += [f"skipped ({k}×{gb:.1f} GB)", "–"]
        diff = max(v for k, v in agree.items() if k != "BLAS")
        if mem:
            traced = " / ".join(f"{mem[m]['traced']:.0f}" if m in mem else "–" for m in METHODS)
            rss = " / ".join(f"{mem[m]['rss']:.0f}" if m in mem else "–" for m in METHODS)
        else:
            traced = rss = "not measured"
        print(f"| {n} | {d} | {times['Stein']:.3f} | {times['BLAS']:.3f} | "
              f"{times['Stein'] / times['BLAS']:.2f} | {' | '.join(cells)} | {diff:.1e} | "
              f"{traced} | {rss} |")

    print("\n## Thread settings at n = 2000, d = 100 (minimum time over repetitions)\n")
    print("| method | BLAS threads | Numba threads | s |")
    print("|---|---|---|---|")
    for (m, blas, nb), s in thread_table(3 if args.quick else 5).items():
        print(f"| {m} | {blas} | {nb} | {s:.3f} |")


if __name__ == "__main__":
    main()
