"""Direction of the estimated one-step KL gradient for ULA, against the exact one.

Setting (as in ``tests/test_adaptation_kl.py``): target N(0, Σ) with Σ = diag(linspace(0.5,
1.5, d)²), population x ~ N(0, 0.3Σ) (narrower than the target, so the entropy term decides
the direction), ULA with a diagonal preconditioner, step 0.6 and inverse-mass diagonal
linspace(0.8, 1.2, d). The law after one step is Gaussian, so the exact φ-gradient of
KL(q_φ ‖ p) is available in closed form; the table gives the median over seeds of the cosine
between it and :func:`mcmcadapt.adaptation.kl.kl_gradient` with each score estimator
(default settings unless stated). Without the entropy term the cosine is ≈ −1.

A second table runs the whole loop: ULA tuned by ``objective="kl"`` on Neal's 100-d Gaussian
(sds 0.01…1) with 32 (fewer than d) and 256 chains, 625 iterations, then 4 × 2000 draws of
the tuned kernel: the tuned step size and the errors of the draws' sds and means in target-sd
units (median over seeds), by estimator. ULA's own discretisation bias is part of the error.

    python benchmarks/entropy_gradient.py              # d ∈ {5, 50, 200}, n ∈ {64, 512}, 5 seeds
    python benchmarks/entropy_gradient.py --seeds 10
    python benchmarks/entropy_gradient.py --no-tune    # only the first table
"""

import argparse

import numpy as np
from threadpoolctl import threadpool_limits


def exact_kl_gradient(ula, phi, sigma, s0, h=1e-6):
    d = sigma.shape[0]

    def kl(p):
        described = ula.describe(p)
        eps, M = described["step_size"], np.diag(described["inv_mass_diag"])
        A = np.eye(d) - 0.5 * eps**2 * M / np.diag(sigma)
        C = A @ s0 @ A.T + eps**2 * M
        return 0.5 * (np.trace(C / np.diag(sigma)[:, None]) - d + np.sum(np.log(np.diag(sigma)))
                      - np.linalg.slogdet(C)[1])

    g = np.zeros_like(phi)
    for j in range(phi.size):
        e = np.zeros_like(phi)
        e[j] = h
        g[j] = (kl(phi + e) - kl(phi - e)) / (2 * h)
    return g


def gaussian_setting(d):
    """(model, ULA, φ, S0, exact KL gradient) of the module docstring's setting in d dims."""
    from mcmcadapt.models.targets import gaussian
    from mcmcadapt.transitions import ULA

    sigma = np.diag(np.linspace(0.5, 1.5, d) ** 2)
    s0 = 0.3 * sigma
    model = gaussian(np.zeros(d), sigma)
    ula = ULA(precond="diag")
    phi = ula.init_params(model, step_size=0.6)
    phi[1:] = np.log(np.linspace(0.8, 1.2, d))
    return model, ula, phi, s0, exact_kl_gradient(ula, phi, sigma, s0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--dims", type=int, nargs="*", default=[5, 50, 200])
    ap.add_argument("--sizes", type=int, nargs="*", default=[64, 512])
    ap.add_argument("--no-tune", dest="tune", action="store_false",
                    help="skip the end-to-end table (ULA tuned on neal100)")
    ap.add_argument("--tune-seeds", type=int, default=3)
    args = ap.parse_args(argv)

    from mcmcadapt.adaptation.kl import kl_gradient
    from mcmcadapt.score import SSGE, KernelScoreMatching, NuMethod, Stein, Tikhonov

    estimators = [("Stein", lambda: Stein()),
                  ("Stein auto", lambda: Stein(bandwidth="auto", eta="auto")),
                  ("SSGE", lambda: SSGE()), ("KSM", lambda: KernelScoreMatching()),
                  ("Tikhonov", lambda: Tikhonov()), ("NuMethod", lambda: NuMethod())]
    print("## cos(estimated, exact) of the one-step KL gradient, ULA on a Gaussian "
          f"(median of {args.seeds} seeds)\n")
    print("| d | n | " + " | ".join(lab for lab, _ in estimators) + " |")
    print("|---|---|" + "---|" * len(estimators))
    with threadpool_limits(1):
        for d in args.dims:
            model, ula, phi, s0, exact = gaussian_setting(d)
            for n in args.sizes:
                cells = []
                for _, make in estimators:
                    cos = []
                    for seed in range(args.seeds):
                        rng = np.random.default_rng([seed, d, n])
                        X = rng.standard_normal((n, d)) * np.sqrt(np.diag(s0))
                        state = ula.init(model, X)
                        noise = ula.draw_noise(n, d, rng)
                        prop = ula.propose(model, state, phi, noise)
                        g, _ = kl_gradient(model, ula, state, phi, noise, prop, make())
                        cos.append(g @ exact / (np.linalg.norm(g) * np.linalg.norm(exact)))
                    cells.append(f"{np.median(cos):+.2f}")
                print(f"| {d} | {n} | " + " | ".join(cells) + " |", flush=True)
        if args.tune:
            tuned_ula_table(args.tune_seeds)


def tuned_ula_table(n_seeds, chains=(32, 256), estimators=("stein", "ksm", "nu")):
    import warnings

    import mcmcadapt as ma
    from mcmcadapt.models.targets import get

    model = get("neal100")
    print(f"\n## ULA tuned by kl on neal100 (d = 100), 625 iterations, then 4 × 2000 draws "
          f"(median of {n_seeds} seeds)\n")
    print("| chains | estimator | tuned ε | median sd err | max sd err | max mean err |")
    print("|---|---|---|---|---|---|")
    for n in chains:
        for est in estimators:
            rows = []
            for seed in range(n_seeds):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    r = ma.tune(model, "ula", "kl", estimator=est, chains=n, steps=625,
                                seed=seed, progress=False)
                    tree = ma.sample(model, r, chains=4, draws=2000, seed=seed + 100,
                                     progress=False)
                post = tree["posterior"]
                X = model.from_named({v: post[v].values for v in post.data_vars})
                X = X.reshape(-1, model.dim)
                sd_err = np.abs(X.std(0) - model.true_std) / model.true_std
                mean_err = np.abs(X.mean(0) - model.true_mean) / model.true_std
                rows.append((r.params["step_size"], np.median(sd_err), sd_err.max(),
                             mean_err.max()))
            med = np.median(np.array(rows), axis=0)
            print(f"| {n} | {est} | {med[0]:.3f} | {med[1]:.3f} | {med[2]:.3f} "
                  f"| {med[3]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
