"""KL gradients from a subset of the coordinates: what they cost in accuracy.

``KLObjective(coordinates=m)`` estimates each iteration's one-step KL gradient from m of the
d coordinates (uniform, scaled by d/m: unbiased). Two tables:

1. Direction: ULA on a Gaussian (the setting of ``entropy_gradient.py``: d = 200, n = 512,
   target N(0, Σ), population N(0, 0.3Σ)), where the exact gradient is known in closed
   form: the median cosine between one subsampled estimate and the exact gradient, over
   seeds × column draws. All coordinates gives the estimator's own error.
2. End to end on the BNN (bnn-australian, d = 801): ULA and the learned kernel tuned by kl
   with 50 chains × 600 iterations from the prior, per m: the test NLL and error of the tuned
   population's Monte-Carlo predictive, the tuned step size (ULA), and the seconds outside
   the model per second inside it over the whole run (kernel step included; the overhead
   table of ``adaptation.py`` separates the adaptation's share). Medians over seeds.

    python benchmarks/kl_coordinates.py              # 3 seeds (~1 min)
    python benchmarks/kl_coordinates.py --seeds 5
"""

import argparse
import warnings

import numpy as np

from entropy_gradient import gaussian_setting


def direction_table(seeds, draws, d=200, n=512, sizes=(None, 64, 32, 16)):
    from mcmcadapt.adaptation.estimators import make_estimator
    from mcmcadapt.adaptation.kl import draw_columns, kl_gradient

    model, ula, phi, s0, exact = gaussian_setting(d)
    cos = {m: [] for m in sizes}
    for seed in range(seeds):
        rng = np.random.default_rng([seed, d, n])
        state = ula.init(model, rng.standard_normal((n, d)) * np.sqrt(np.diag(s0)))
        noise = ula.draw_noise(n, d, rng)
        prop = ula.propose(model, state, phi, noise)
        for m in sizes:
            for _ in range(1 if m is None else draws):
                g, _ = kl_gradient(model, ula, state, phi, noise, prop, make_estimator("stein"),
                                   draw_columns(m, d, rng))
                cos[m].append(g @ exact / (np.linalg.norm(g) * np.linalg.norm(exact)))
    print(f"## cos(estimate, exact) of the one-step KL gradient, ULA on N(0, Σ), d = {d}, "
          f"n = {n} (median over {seeds} seeds × {draws} column draws)\n")
    print("| coordinates | " + " | ".join("all" if m is None else str(m) for m in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    print("| cosine | " + " | ".join(f"{np.median(cos[m]):+.2f}" for m in sizes) + " |\n",
          flush=True)


def bnn_table(seeds, steps, chains=50, sizes=(None, 256, 128, 64, 32)):
    import mcmcadapt as ma
    from mcmcadapt.models.targets import get

    try:
        model = get("bnn-australian")
    except Exception as err:  # the shared data folder may be absent
        print(f"(BNN table skipped: {err})")
        return
    print(f"## {model.name} (d = {model.dim}), kl, {chains} chains × {steps} iterations from the "
          f"prior (median over {seeds} seeds; NLL range in brackets)\n")
    print("| kernel | coordinates | test NLL | test error | tuned step | outside / inside model |")
    print("|---|---|---|---|---|---|")
    for kernel in ("ula", "learned"):
        for m in sizes:
            rows = []
            for seed in range(seeds):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    r = ma.tune(model, kernel, "kl", chains=chains, steps=steps, seed=seed,
                                progress=False, objective_options={"coordinates": m})
                ev = model.evaluate(r.state.x)
                t = r.timing
                rows.append((ev["nll"], ev["error"], r.params["step_size"],
                             (t["total"] - t["model"]) / t["model"]))
            a = np.array(rows)
            med = np.median(a, axis=0)
            step = f"{med[2]:.3g}" if kernel == "ula" else "–"
            print(f"| {kernel} | {'all' if m is None else m} | {med[0]:.4f} "
                  f"[{a[:, 0].min():.4f}, {a[:, 0].max():.4f}] | {med[1]:.3f} | {step} "
                  f"| {100 * med[3]:.0f}% |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--draws", type=int, default=20, help="column draws per seed (table 1)")
    ap.add_argument("--steps", type=int, default=600, help="tuning iterations (table 2)")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        direction_table(args.seeds, args.draws)
        bnn_table(args.seeds, args.steps)


if __name__ == "__main__":
    main()
