"""Accuracy of the score estimators against analytic scores.

Metric: relative MSE  mean_i ‖ŝ(y_i) − s(y_i)‖² / mean_i ‖s(y_i)‖²  (0 is perfect; the zero
estimate scores 1), in-sample (at the n fitted particles) and held-out (at ``--m-test`` fresh
draws from the same distribution).

Distributions (both in R^d):

* ``gauss``: N(0, I_d); s(x) = −x.
* ``grid``: the equal-weight mixture of d unit-covariance Gaussians N(μ_k, I_d), k = 1..d, whose
  means are hypercube corners μ_k ∈ {−½, ½}^d with independent uniform random signs (drawn once
  per d from seed 1000 + d; corners may repeat). This is the "grid" experiment of Zhou, Shi &
  Zhu (2020) (their vertices {0, 1}^d, shifted here to be centred). s(x) = Σ_k w_k(x)(μ_k − x)
  with softmax responsibilities w_k(x) ∝ exp(−½‖x − μ_k‖²).

Two more, off by default (``--dists``), check that defaults chosen on the first two do not
fail on clearly non-Gaussian shapes:

* ``bimodal``: ½N(−1.5·e_1, I_d) + ½N(1.5·e_1, I_d) (two modes along the first axis).
* ``student``: the multivariate Student t with ν = 5 and scale I_d;
  s(x) = −(ν + d) x / (ν + ‖x‖²).

For every estimator and cell (distribution, d, n) the table reports

* ``default``: the estimator's default hyper-parameters;
* ``auto``: every hyper-parameter in the estimator's ``auto_grids`` set to "auto" (the
  score-matching loss of :mod:`mcmcadapt.score.selection` by each estimator's own
  ``auto_criterion`` — held out, SSGE's the mean of held-out and in-sample — or the one
  given by ``--criterion``), with the values it chose;
* ``grid best``: the oracle best over the same grid, chosen separately for in-sample and
  held-out error with the true score. auto/best is the ratio of auto's error to that oracle
  (target ≤ 1.5). The grids are each estimator's ``auto_grids``: bandwidth × {0.5, 1, 2, 4}
  median (KDE × {0.125, 0.25, 0.5, 1}) times the second parameter — Stein η ∈ {1e-3 … 1},
  kernel score matching η ∈ {1e-4 … 1e-1} (relative ridge), SSGE eigenvalue cut-off and
  Tikhonov η ∈ {0.01 … 10}, ν-method iterations ∈ {2, 4, …, 64}.

A final table, for choosing defaults, gives per estimator the grid points with the smallest
geometric mean (over all cells) of held-out error / cell's grid best.

    python benchmarks/score_accuracy.py            # d ∈ {2, 8, 32}, n ∈ {256, 2048}
    python benchmarks/score_accuracy.py --quick    # d ∈ {2, 8}, n = 256, fewer test points
    python benchmarks/score_accuracy.py --dists bimodal,student --dims 2 8
    python benchmarks/score_accuracy.py --criterion insample   # "auto" by the in-sample loss
    python benchmarks/score_accuracy.py --summary-from results.json   # compact table again

BLAS threads are limited to ``--threads`` (default 1) for the whole run.
"""

import argparse
import itertools
import math
import platform
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits


# -- distributions -------------------------------------------------------------------------
def gauss(d):
    return (lambda n, rng: rng.standard_normal((n, d))), (lambda Y: -Y)


def grid_mixture(d, c=0.5):
    means = c * np.random.default_rng(1000 + d).choice([-1.0, 1.0], size=(d, d))

    def sample(n, rng):
        return means[rng.integers(0, d, size=n)] + rng.standard_normal((n, d))

    def score(Y):
        # Σ_k w_k (μ_k − y) via ‖y − μ_k‖² = ‖y‖² − 2 y·μ_k + ‖μ_k‖² (no m×d×d array).
        L = Y @ means.T - 0.5 * np.sum(means**2, axis=1)
        L -= L.max(axis=1, keepdims=True)
        w = np.exp(L)
        w /= w.sum(axis=1, keepdims=True)
        return w @ means - Y

    return sample, score


def bimodal(d, c=1.5):
    means = np.zeros((2, d))
    means[:, 0] = (-c, c)

    def sample(n, rng):
        return means[rng.integers(0, 2, size=n)] + rng.standard_normal((n, d))

    def score(Y):
        # Two components ±c·e_1: responsibilities depend on y_1 only.
        w1 = 1.0 / (1.0 + np.exp(-2.0 * c * Y[:, 0]))
        S = -Y.copy()
        S[:, 0] += c * (2.0 * w1 - 1.0)
        return S

    return sample, score


def student(d, nu=5.0):
    def sample(n, rng):
        return rng.standard_normal((n, d)) / np.sqrt(rng.chisquare(nu, size=n) / nu)[:, None]

    def score(Y):
        return -(nu + d) * Y / (nu + np.sum(Y**2, axis=1, keepdims=True))

    return sample, score


DISTRIBUTIONS = {"gauss": gauss, "grid": grid_mixture, "bimodal": bimodal, "student": student}


def rel_mse(S, T):
    return float(np.mean(np.sum((S - T) ** 2, axis=1)) / np.mean(np.sum(T**2, axis=1)))


# -- estimators ----------------------------------------------------------------------------
def estimator_specs(variants):
    """(label, class, fixed constructor arguments)."""
    from mcmcadapt.score.kde import KDE
    from mcmcadapt.score.regularized import NuMethod, Tikhonov
    from mcmcadapt.score.score_matching import KernelScoreMatching
    from mcmcadapt.score.spectral import SSGE

    specs = []
    try:
        from mcmcadapt.score.stein import Stein

        specs.append(("Stein", Stein, {}))
    except ImportError:
        print("(mcmcadapt.score.stein not available: Stein skipped)\n")
    specs += [
        ("SSGE", SSGE, {}),
        ("KDE", KDE, {}),
        ("KSM", KernelScoreMatching, {}),
        ("Tikhonov", Tikhonov, {}),
        ("NuMethod", NuMethod, {}),
    ]
    if variants:
        specs += [
            ("Tikhonov[diag]", Tikhonov, {"matrix_kernel": "diagonal"}),
            ("NuMethod[diag]", NuMethod, {"matrix_kernel": "diagonal"}),
        ]
    return specs


def hand_grid(cls, fixed):
    """Grid points as constructor arguments: the estimator's auto grids, with bandwidth
    multiples applied to its default bandwidth_scale exactly as "auto" does."""
    grids = cls.auto_grids
    scale = cls(**fixed).bandwidth_scale
    names = list(grids)
    points = []
    for values in itertools.product(*(grids[k] for k in names)):
        kw = dict(fixed)
        label = []
        for k, v in zip(names, values):
            if k == "bandwidth":
                kw["bandwidth"] = "median"
                kw["bandwidth_scale"] = scale * v
                label.append(f"h={scale * v:g}·med")
            else:
                kw[k] = v
                label.append(f"{k}={v:g}")
        points.append((", ".join(label), kw))
    return points


def describe_default(cls, fixed):
    est = cls(**fixed)
    if est.bandwidth == "median":
        parts = [f"h={est.bandwidth_scale:g}·med"]
    else:
        parts = [f"h={est.bandwidth}"]
    parts += [f"{k}={getattr(est, k):g}" for k in cls.auto_grids if k != "bandwidth"]
    return ", ".join(parts)


def describe_choice(est):
    chosen = est.selection_["chosen"]
    scale = type(est)().bandwidth_scale
    out = []
    for k, v in chosen.items():
        out.append(f"h={scale * v:g}·med" if k == "bandwidth" else f"{k}={v:g}")
    return ", ".join(out)


def evaluate(est, X, TX, Y, TY):
    t = time.perf_counter()
    est.fit(X)
    G = est.gradients()
    elapsed = time.perf_counter() - t
    return rel_mse(G, TX), rel_mse(est.gradients(Y), TY), elapsed


def summary_table(records):
    """The README's compact table: per cell, every estimator's "auto" error in-sample /
    held-out, and the worst ratio of "auto" to the grid best over estimators and both sides."""
    labels = list(dict.fromkeys(r["estimator"] for r in records))
    cells = list(dict.fromkeys((r["dist"], r["d"], r["n"]) for r in records))
    lines = ["| dist | d | n | " + " | ".join(labels) + " | worst auto/best |",
             "|---|---|---|" + "---|" * (len(labels) + 1)]
    for cell in cells:
        by_label = {r["estimator"]: r for r in records if (r["dist"], r["d"], r["n"]) == cell}
        worst = 0.0
        entries = []
        for label in labels:
            r = by_label.get(label)
            if r is None:
                entries.append("–")
                continue
            best = np.min(np.array(list(r["grid"].values())), axis=0)
            worst = max(worst, *(np.array(r["auto"]) / best))
            entries.append(f"{r['auto'][0]:.4f} / {r['auto'][1]:.4f}")
        lines.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | " + " | ".join(entries)
                     + f" | {worst:.2f} |")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="d ∈ {2, 8}, n = 256, 500 test points")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    ap.add_argument("--m-test", type=int, default=None, help="held-out points (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", action="store_true",
                    help="also the diagonal-kernel Tikhonov and ν-method")
    ap.add_argument("--only", nargs="*", default=None, help="estimator labels to run")
    ap.add_argument("--dists", default="gauss,grid",
                    help="comma-separated, of " + ", ".join(DISTRIBUTIONS))
    ap.add_argument("--dims", type=int, nargs="*", default=None)
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--json", default=None, help="also write every measured error to this file")
    ap.add_argument("--criterion", choices=("heldout", "insample", "combined"), default=None,
                    help="what 'auto' minimises (the estimators' auto_criterion; default: each "
                         "estimator's own)")
    ap.add_argument("--summary-from", default=None, metavar="JSON",
                    help="print the compact table from a --json file of an earlier run and stop")
    args = ap.parse_args(argv)
    if args.summary_from:
        import json

        with open(args.summary_from) as fh:
            print(summary_table(json.load(fh)))
        return
    dims = args.dims or ((2, 8) if args.quick else (2, 8, 32))
    sizes = args.sizes or ((256,) if args.quick else (256, 2048))
    dists = args.dists.split(",")
    unknown = [x for x in dists if x not in DISTRIBUTIONS]
    if unknown:
        ap.error(f"unknown distributions {unknown}")
    m_test = args.m_test or (500 if args.quick else 1000)

    import numba

    specs = estimator_specs(args.variants)
    if args.only:
        specs = [s for s in specs if s[0] in args.only]
    print("# Score-estimator accuracy (relative MSE, lower is better)\n")
    print(f"python {platform.python_version()}, numpy {np.__version__}, BLAS threads "
          f"{args.threads}, numba threads {numba.get_num_threads()}, held-out points {m_test}, "
          f"seed {args.seed}, 'auto' criterion "
          f"{args.criterion or 'each estimator default'}\n")
    print("Defaults: " + "; ".join(f"{lab} ({describe_default(c, f)})" for lab, c, f in specs))
    print()

    # grid_errors[label][grid label] -> list of (held-out error / cell best) per cell
    grid_ratios = {lab: {} for lab, _, _ in specs}
    default_ratios = {lab: [] for lab, _, _ in specs}
    rows = []
    records = []
    header = ("| dist | d | n | estimator | default in | default out | auto in | auto out | "
              "auto choice | best in | best out (grid point) | auto/best in | auto/best out | "
              "fit s (default) |")
    sep = "|" + "---|" * (header.count("|") - 1)
    with threadpool_limits(args.threads):
        for dist_name, d, n in itertools.product(dists, dims, sizes):
            sample, score = DISTRIBUTIONS[dist_name](d)
            rng = np.random.default_rng([args.seed, d, n, list(DISTRIBUTIONS).index(dist_name)])
            X, Y = sample(n, rng), sample(m_test, rng)
            TX, TY = score(X), score(Y)
            print(f"## {dist_name}, d = {d}, n = {n}", file=sys.stderr, flush=True)
            for label, cls, fixed in specs:
                t0 = time.perf_counter()
                din, dout, dtime = evaluate(cls(**fixed), X, TX, Y, TY)
                criterion = {} if args.criterion is None else {"auto_criterion": args.criterion}
                auto = cls(**fixed, **{k: "auto" for k in cls.auto_grids}, **criterion)
                ain, aout, _ = evaluate(auto, X, TX, Y, TY)
                results = [(glabel, *evaluate(cls(**kw), X, TX, Y, TY)[:2])
                           for glabel, kw in hand_grid(cls, fixed)]
                bin_ = min(results, key=lambda r: r[1])
                bout = min(results, key=lambda r: r[2])
                for glabel, _, gout in results:
                    grid_ratios[label].setdefault(glabel, []).append(gout / bout[2])
                default_ratios[label].append(dout / bout[2])
                records.append({"dist": dist_name, "d": d, "n": n, "estimator": label,
                                "default": [din, dout], "auto": [ain, aout],
                                "auto_choice": auto.selection_["chosen"],
                                "grid": {g: [gi, go] for g, gi, go in results}})
                row = (f"| {dist_name} | {d} | {n} | {label} | {din:.4f} | {dout:.4f} | "
                       f"{ain:.4f} | {aout:.4f} | {describe_choice(auto)} | {bin_[1]:.4f} | "
                       f"{bout[2]:.4f} ({bout[0]}) | {ain / bin_[1]:.2f} | {aout / bout[2]:.2f} | "
                       f"{dtime:.2f} |")
                rows.append(row)
                print(f"   {label}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print(header)
    print(sep)
    for row in rows:
        print(row)
    print("\n## Summary: \"auto\" in-sample / held-out, worst auto/best per cell\n")
    print(summary_table(records))

    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)

    print("\n## Choosing defaults: geometric mean over cells of held-out error / cell's "
          "grid best\n")
    print("| estimator | current default | best grid points (geometric-mean ratio) |")
    print("|---|---|---|")
    for label, cls, fixed in specs:
        gm = {g: math.exp(np.mean(np.log(r))) for g, r in grid_ratios[label].items()}
        top = sorted(gm, key=gm.get)[:3]
        cur = math.exp(np.mean(np.log(default_ratios[label])))
        print(f"| {label} | {describe_default(cls, fixed)}: {cur:.2f} | "
              + "; ".join(f"{g}: {gm[g]:.2f}" for g in top) + " |")


if __name__ == "__main__":
    main()
