"""Neal's funnel (funnel10): HMC with one tuned step size against HMC with a step range.

The issue's open ground: no peer converges here (NUTS with window adaptation: R-hat
1.07–1.16, x0's mean 0.3–0.5 sd off; ChEES-HMC fails). HMC (diagonal metric, 16 jittered
leapfrog steps, i.e. 1–32 per proposal) is tuned on 32 chains by the window and speed
objectives, once with a single step size and once with ``step_spread=True`` (the step range
of ``mcmcadapt.adaptation.step_range``), then samples 4 chains. Per run: max rank-normalised
R-hat over the ten coordinates, the error of x0's mean and sd in units of its sd (3),
P(x0 < −4) (0.091 under the target: the neck), min bulk ESS, bulk ESS per gradient
evaluation ×10⁻³ (warm-up counted), divergent transitions. "converged" is the issue's bar:
R-hat < 1.01 and x0's mean and sd within 0.1 sd.

    python benchmarks/funnel.py                  # 3 seeds × 4 configurations, ~6 min
    python benchmarks/funnel.py --draws 5000     # shorter runs
    python benchmarks/funnel.py --target eight-schools --objectives window --draws 5000

Other targets with exact moments (``--target``, e.g. the centred eight schools, a funnel in
log τ) report the worst coordinate's mean and sd errors instead of x0's and no neck column.
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np


def run(objective, spread, seed, chains, steps, draws, n_steps, target="funnel10",
        explore=None):
    import arviz_stats as azs

    import mcmcadapt as ma
    from adaptation import flat_draws
    from mcmcadapt.models.targets import get

    model = get(target)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = ma.tune(model, "hmc", objective, chains=chains, steps=steps, seed=seed,
                         precond="diag", progress=False,
                         kernel_options={"n_steps": n_steps, "jitter": True,
                                         "step_spread": spread},
                         objective_options=({"step_range": {"explore": explore}}
                                            if spread and explore is not None else None))
        tree = ma.sample(model, result, chains=4, draws=draws, seed=seed + 1000,
                         progress=False)
    wall = time.perf_counter() - t0
    post = tree["posterior"]
    X = flat_draws(model, post)
    rhat = max(float(np.max(azs.rhat(tree)[v].values)) for v in post.data_vars)
    ess = min(float(np.min(azs.ess(tree, method="bulk")[v].values)) for v in post.data_vars)
    n_grad = tree.attrs["n_grad_warmup"] + tree.attrs["n_grad_sampling"]
    p = result.params
    s = p.get("step_spread", 0.0)
    err_mean = (X.mean(0) - model.true_mean) / model.true_std
    err_sd = (X.std(0) - model.true_std) / model.true_std
    if target == "funnel10":  # x0, the coordinate the bar is about
        k = 0
        neck = float(np.mean(X[:, 0] < -4.0))
    else:  # the worst coordinate
        k = int(np.argmax(np.maximum(np.abs(err_mean), np.abs(err_sd))))
        neck = np.nan
    row = {
        "objective": objective, "spread": spread, "seed": seed,
        "range": (p["step_size"] * np.exp(-s), p["step_size"] * np.exp(s)),
        "rhat": rhat, "mean": err_mean[k] if target == "funnel10" else np.abs(err_mean).max(),
        "sd": err_sd[k] if target == "funnel10" else np.abs(err_sd).max(), "neck": neck,
        "ess": ess, "eff": 1e3 * ess / n_grad, "n_grad": n_grad,
        "div": int(tree["sample_stats"]["diverging"].values.sum()), "wall": wall,
    }
    # the bar for the funnel; the same thresholds on the worst coordinate elsewhere
    row["converged"] = rhat < 1.01 and abs(row["mean"]) < 0.1 and abs(row["sd"]) < 0.1
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="funnel10")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--objectives", default="window,speed")
    parser.add_argument("--chains", type=int, default=32, help="tuning chains")
    parser.add_argument("--steps", type=int, default=400, help="tuning iterations")
    parser.add_argument("--draws", type=int, default=20000, help="draws per sampling chain")
    parser.add_argument("--n-steps", type=int, default=16, help="leapfrog steps (jittered)")
    parser.add_argument("--explore", type=float, default=None,
                        help="octaves of downward exploration of the step range (default: "
                             "the rule's, 2)")
    parser.add_argument("--no-single", action="store_true",
                        help="only the runs with a step range")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    funnel = args.target == "funnel10"
    print(f"{args.target}, HMC diag, {args.n_steps} jittered leapfrog steps; tuning "
          f"{args.chains} chains × {args.steps} iterations, sampling 4 chains × {args.draws} "
          f"draws; seeds 0–{args.seeds - 1}; step range exploration "
          f"{'2 (default)' if args.explore is None else f'{args.explore:g}'} octaves; python "
          f"{platform.python_version()}, load average {load}\n")
    errors = ("x0 mean (sd) | x0 sd (sd) | P(x0 < −4) (0.091)" if funnel
              else "max mean err (sd) | max sd err (sd)")
    print(f"| objective | step range | seed | tuned steps | R-hat | {errors} | min ESS bulk "
          "| ESS/grad ×10⁻³ | gradients | divergences | converged | wall s |")
    print("|---" * (14 if funnel else 13) + "|")
    for objective in args.objectives.split(","):
        for spread in (True,) if args.no_single else (False, True):
            for seed in range(args.seeds):
                r = run(objective, spread, seed, args.chains, args.steps, args.draws,
                        args.n_steps, args.target, args.explore)
                lo, hi = r["range"]
                steps = f"{lo:.3g}–{hi:.3g}" if spread else f"{lo:.3g}"
                errs = (f"{r['mean']:+.2f} | {r['sd']:+.2f} | {r['neck']:.3f}" if funnel
                        else f"{r['mean']:.2f} | {r['sd']:.2f}")
                print(f"| {objective} | {'yes' if spread else 'no'} | {seed} | {steps} "
                      f"| {r['rhat']:.3f} | {errs} | {r['ess']:.0f} | {r['eff']:.2f} "
                      f"| {r['n_grad'] / 1e6:.2f} M | {r['div']} "
                      f"| {'yes' if r['converged'] else 'no'} | {r['wall']:.0f} |",
                      flush=True)


if __name__ == "__main__":
    sys.exit(main())
