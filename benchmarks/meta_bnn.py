"""Meta-learned BNN samplers (Li & Turner 2018, Sec. 4.2), reproduced.

Train the coordinate-wise learned sampler on crabs by the unrolled KL objective, once per
entropy-gradient estimator (Stein, SSGE, KDE, kernel score matching) and once without the
entropy term ("MAP"); then run every sampler, and two SGLD baselines, on australian, breast,
pima and sonar with the paper's protocol and print markdown tables of test NLL, test error
and squared KSD (mean ± standard error over splits) at fixed step counts.

    python benchmarks/meta_bnn.py --train-only       # train (≈ 1-2 min per estimator), save
    python benchmarks/meta_bnn.py --jobs 2           # test the saved samplers (hours: see
                                                     #   --measure-cost; --cache-dir resumes)
    python benchmarks/meta_bnn.py --particles 100 --jobs 2   # the same with 100 particles
    python benchmarks/meta_bnn.py --quick            # reduced sizes, trains in memory (minutes)
    python benchmarks/meta_bnn.py --measure-cost     # per-step costs, extrapolated run time

Protocol (paper; ../shared/data/README.md): splits i = 0..4 seeded i*100, 40% of a
permutation to simulate, 60% to test, features standardised with the 40% statistics;
BNN with 50 sigmoid hidden units, prior N(0, I); 500 particles from the prior, minibatch 32,
2000 steps (5000 for sonar). Baselines: SGLD with the paper's step 1e-5 in the paper's
convention θ' = θ + ε∇log p̂ + √(2ε)ξ (Welling–Teh step 2ε = 2e-5 here), and SGLD whose
step is tuned per split by our one-step KL objective (mcmcadapt.tune, Stein entropy
gradient, 50 chains from the prior; its tuning gradients are reported, not charged).
Training (paper code): crabs, whole set standardised, 20 hidden units, 50 particles,
10-step unrolls, restart from the prior every 10 unrolls, Adam 1e-3 for 500 iterations.
Data columns: ``--columns standard`` (default) handles the quirks documented in the data
README (australian label = column 14, breast ID column dropped, crabs row counter dropped);
``--columns paper`` uses the paper's index files as they are.
"""

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

RESULTS = HERE / "results"
IMG = ROOT / "docs" / "img"
ESTIMATORS = ("stein", "ssge", "kde", "ksm", "map")
LABELS = {"stein": "learned (Stein)", "ssge": "learned (SSGE)", "kde": "learned (KDE)",
          "ksm": "learned (KSM)", "map": "learned (MAP)", "untrained": "learned (untrained)",
          "sgld": "SGLD ε=1e-5", "sgld_kl": "SGLD (KL-tuned ε)"}
TEST_SETS = ("australian", "breast", "pima", "sonar")


@dataclass
class Config:
    """Sizes of one run; :data:`PAPER` is the paper's protocol, :data:`QUICK` a reduction."""

    iterations: int = 500          # meta-training Adam steps
    train_particles: int = 50
    unroll: int = 10
    restart_every: int = 10
    lr: float = 1e-3
    train_hidden: int = 20
    splits: int = 5
    particles: int = 500
    steps: dict = field(default_factory=lambda: {"sonar": 5000, "*": 2000})
    eval_every: dict = field(default_factory=lambda: {"sonar": 100, "*": 50})
    report_at: dict = field(default_factory=lambda: {"sonar": (500, 2000, 5000),
                                                     "*": (200, 1000, 2000)})
    batch: int = 32
    hidden: int = 50
    sgld_step: float = 1e-5        # paper convention: θ + ε∇ + √(2ε)ξ
    tune_chains: int = 50
    tune_steps: int = 300
    ksd_points: int = 200

    def of(self, table, name):
        return table.get(name, table["*"])


PAPER = Config()
QUICK = Config(iterations=60, splits=1, particles=100,
               steps={"sonar": 400, "*": 300}, eval_every={"*": 25},
               report_at={"sonar": (100, 400), "*": (100, 300)}, tune_steps=60, ksd_points=100)


# ---------------------------------------------------------------------------------------------
def load_model(name, split=None, root=None, columns="standard", hidden=50):
    """BNN posterior on ``name``: split ``i`` → seed i*100, 40% train / 60% test; ``split``
    None → the whole set (training the sampler)."""
    from mcmcadapt.datasets import load_uci_binary
    from mcmcadapt.models.targets import BNN

    if split is None:
        ds = load_uci_binary(name, root=root, test_fraction=0.0, columns=columns)
    else:
        ds = load_uci_binary(name, root=root, test_fraction=0.6, seed=100 * split, columns=columns)
    return BNN.from_dataset(ds, hidden=hidden, activation="sigmoid")


def train_samplers(cfg, estimators, root=None, columns="standard", seed=0, save_dir=None,
                   progress=None, log=print):
    """Meta-train one sampler per estimator on crabs: {name: (transition, phi, info)}, info
    with ``seconds``, ``logp_first50``/``logp_last50`` (population mean log p after each
    unroll, first and last 50 iterations) and ``score_ratio`` (mean RMS‖ĝ‖/RMS‖∇log p‖, the
    weight of the entropy term)."""
    from mcmcadapt.meta import FastLearned, meta_train, save_sampler

    model = load_model("crabs", None, root, columns, hidden=cfg.train_hidden)
    out = {}
    for est in estimators:
        t0 = time.perf_counter()
        res = meta_train(model, est, transition=FastLearned(batch_size=cfg.batch, seed=seed),
                         particles=cfg.train_particles, unroll=cfg.unroll,
                         iterations=cfg.iterations, restart_every=cfg.restart_every,
                         lr=cfg.lr, seed=seed, progress=progress)
        lp = res.history["logp"]
        w = min(50, lp.size)
        info = dict(res.settings, train_dataset="crabs", columns=columns,
                    seconds=round(time.perf_counter() - t0, 1), n_grad=res.n_grad,
                    logp_first50=float(np.nanmean(lp[:w])), logp_last50=float(np.nanmean(lp[-w:])),
                    score_ratio=float(np.nanmean(res.history["score_ratio"])),
                    n_skipped=int(np.sum(res.history["status"] >= 2)))
        log(f"trained {est:5s} on crabs in {info['seconds']:6.1f} s; log p after an unroll "
            f"{info['logp_first50']:.1f} → {info['logp_last50']:.1f}; entropy/target score "
            f"ratio {info['score_ratio']:.4f}")
        if save_dir is not None:
            save_sampler(Path(save_dir) / f"meta_sampler_{est}.json", res.transition, res.phi, info)
        out[est] = (res.transition, res.phi, info)
    return out


def load_samplers(estimators, params_dir=RESULTS, batch=32):
    """Saved samplers: {name: (transition, phi, info)}."""
    from mcmcadapt.meta import load_sampler

    return {est: load_sampler(Path(params_dir) / f"meta_sampler_{est}.json", batch_size=batch)
            for est in estimators}


# ---------------------------------------------------------------------------------------------
def ksd_value(model, X, rng, points):
    """Squared KSD, as its unbiased U-statistic (may be negative; averages over splits stay
    unbiased), of a random subsample of the particles against the full-data posterior
    score. IMQ kernel, β = −½, h = median pairwise distance of the subsample: BNN
    particles sit ~√(2d) apart, where an h = 1 kernel is flat and the statistic is noise."""
    from mcmcadapt.score.ksd import ksd_squared

    idx = rng.choice(X.shape[0], size=min(points, X.shape[0]), replace=False)
    _, S = model.logp_and_grad(X[idx])
    return ksd_squared(X[idx], S, kernel="imq", bandwidth="median")


def run_sampler(model, transition, phi, X0, steps, eval_every, report_at, seed, ksd_points):
    """Run the population ``steps`` steps from X0; test NLL / error every ``eval_every``
    steps (and at step 0), KSD at the ``report_at`` steps."""
    rng = np.random.default_rng(seed)
    ksd_rng = np.random.default_rng(seed + 1)
    state = transition.init(model, X0)
    curve = {"step": [0], "nll": [], "error": []}
    first = model.evaluate(state.x)
    curve["nll"].append(first["nll"])
    curve["error"].append(first["error"])
    ksd = {}
    n_div = 0
    t0 = time.perf_counter()
    t_eval = 0.0
    for t in range(1, steps + 1):
        state, info = transition.step(model, state, phi, rng)
        n_div += int(info.diverging.sum())
        if t % eval_every == 0 or t == steps or t in report_at:
            te = time.perf_counter()
            m = model.evaluate(state.x)
            curve["step"].append(t)
            curve["nll"].append(m["nll"])
            curve["error"].append(m["error"])
            if t in report_at:
                ksd[t] = ksd_value(model, state.x, ksd_rng, ksd_points)
            t_eval += time.perf_counter() - te
    return {"curve": {k: np.asarray(v) for k, v in curve.items()}, "ksd": ksd,
            "seconds": time.perf_counter() - t0 - t_eval, "n_diverging": n_div}


def kl_tuned_sgld(model, cfg, seed):
    """SGLD whose (Welling–Teh) step is tuned by the one-step KL objective: (kernel, φ, info)."""
    from mcmcadapt import tune
    from mcmcadapt.meta import make_entropy_estimator
    from mcmcadapt.transitions import SGLD

    est, _ = make_entropy_estimator("stein")
    res = tune(model, kernel="sgld", objective="kl", estimator=est, chains=cfg.tune_chains,
               steps=cfg.tune_steps, seed=seed,
               kernel_options={"step_size": 2 * cfg.sgld_step, "batch_size": cfg.batch},
               # the protocol's start (the paper's step), not the MALA-twin heuristic's
               objective_options={"init_step_size": False},
               init=model.sample_prior(cfg.tune_chains, seed=seed + 7), progress=False)
    kernel = SGLD(step_size=res.params["step_size"], batch_size=cfg.batch)
    return kernel, kernel.init_params(model), {"step_size_wt": res.params["step_size"],
                                               "n_grad": res.n_grad}


def run_split(cfg, samplers, name, split, root=None, columns="standard", seed=0,
              baselines=True):
    """Every sampler on one split of one data set: ([(label, run)], tuned-SGLD info or None)."""
    from mcmcadapt.transitions import SGLD

    steps = cfg.of(cfg.steps, name)
    every = cfg.of(cfg.eval_every, name)
    report = tuple(s for s in cfg.of(cfg.report_at, name) if s <= steps)
    model = load_model(name, split, root, columns, hidden=cfg.hidden)
    X0 = model.sample_prior(cfg.particles, seed=seed + 1000 + split)
    runs, info = [], None
    if baselines:
        sgld = SGLD(step_size=2 * cfg.sgld_step, batch_size=cfg.batch)
        runs.append(("sgld", sgld, sgld.init_params(model)))
        t0 = time.perf_counter()
        kernel, phi, info = kl_tuned_sgld(model, cfg, seed + split)
        info["seconds"] = time.perf_counter() - t0
        runs.append(("sgld_kl", kernel, phi))
    for est, (tr, phi, _) in samplers.items():
        runs.append((est, tr, phi))
    out = [(label, run_sampler(model, tr, phi, X0, steps, every, report, seed + split,
                               cfg.ksd_points))
           for label, tr, phi in runs]
    return out, info


def task_key(cfg, samplers, name, split, columns, seed, baselines):
    """A short hash of everything a (data set, split) task's result depends on."""
    import hashlib

    desc = {"name": name, "split": split, "columns": columns, "seed": seed,
            "baselines": baselines, "steps": cfg.of(cfg.steps, name),
            "every": cfg.of(cfg.eval_every, name), "report": cfg.of(cfg.report_at, name),
            **{k: getattr(cfg, k) for k in ("particles", "batch", "hidden", "sgld_step",
                                            "tune_chains", "tune_steps", "ksd_points")},
            "samplers": {k: [repr(tr), hashlib.sha1(np.asarray(phi).tobytes()).hexdigest()]
                         for k, (tr, phi, _) in samplers.items()}}
    return hashlib.sha1(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def _dump(out, info):
    runs = [[label, {"curve": {k: v.tolist() for k, v in r["curve"].items()},
                     "ksd": {str(k): v for k, v in r["ksd"].items()},
                     "seconds": r["seconds"], "n_diverging": r["n_diverging"]}]
            for label, r in out]
    return json.dumps({"runs": runs, "tuned": info})


def _load(text):
    doc = json.loads(text)
    out = [(label, {"curve": {k: np.asarray(v) for k, v in r["curve"].items()},
                    "ksd": {int(k): v for k, v in r["ksd"].items()},
                    "seconds": r["seconds"], "n_diverging": r["n_diverging"], "cached": True})
           for label, r in doc["runs"]]
    return out, doc["tuned"]


def cached_run_split(cache_dir, cfg, samplers, name, split, root, columns, seed, baselines):
    """:func:`run_split`, its result stored in ``cache_dir`` (None: no cache) under
    :func:`task_key`, so an interrupted benchmark resumes where it stopped."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{name}_split{split}_{task_key(cfg, samplers, name, split, columns, seed, baselines)}.json"
        if path.is_file():
            return _load(path.read_text())
    out, info = run_split(cfg, samplers, name, split, root, columns, seed, baselines)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dump(out, info))
    return out, info


def _worker_init():
    """One Numba and one BLAS thread per worker process."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    threadpool_limits(1)


def evaluate_all(cfg, samplers, datasets, root=None, columns="standard", seed=0, baselines=True,
             jobs=1, cache_dir=None, log=print):
    """Run every sampler on every split of every data set; ``jobs`` > 1 spreads the
    (data set, split) tasks over that many worker processes; ``cache_dir`` keeps finished
    tasks (see :func:`cached_run_split`).

    Returns {dataset: {sampler: [run per split]}} and {dataset: [tuned-SGLD info]}."""
    tasks = [(name, split) for name in datasets for split in range(cfg.splits)]
    results = {name: {} for name in datasets}
    tuned = {}

    def collect(name, split, out, info):
        for label, r in out:
            results[name].setdefault(label, []).append(r)
            log(f"{name:10s} split {split} {LABELS.get(label, label):22s} "
                f"NLL {r['curve']['nll'][-1]:.4f}  err {r['curve']['error'][-1]:.4f}  "
                f"{r['seconds']:6.1f} s")
        if info is not None:
            tuned.setdefault(name, []).append(info)

    if jobs <= 1:
        for name, split in tasks:
            collect(name, split, *cached_run_split(cache_dir, cfg, samplers, name, split, root,
                                                   columns, seed, baselines))
        return results, tuned
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"),
                             initializer=_worker_init) as pool:
        futures = [pool.submit(cached_run_split, cache_dir, cfg, samplers, name, split, root,
                               columns, seed, baselines) for name, split in tasks]
        for (name, split), fut in zip(tasks, futures):
            collect(name, split, *fut.result())
    return results, tuned


# ---------------------------------------------------------------------------------------------
def mean_se(values):
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or np.all(np.isnan(v)):
        return np.nan, np.nan
    se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan
    return float(np.mean(v)), float(se)


def fmt(m, se, digits=3):
    if np.isnan(m):
        return "n/a"
    if np.isnan(se):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def at_step(run, metric, step):
    c = run["curve"]
    i = int(np.flatnonzero(c["step"] == step)[0])
    return c[metric][i]


def summary(results):
    """{dataset: {sampler: {step: {"nll": (m, se), "error": ..., "ksd": ...}}}}."""
    out = {}
    for name, by in results.items():
        out[name] = {}
        for label, runs in by.items():
            steps = sorted(runs[0]["ksd"]) or [int(runs[0]["curve"]["step"][-1])]
            out[name][label] = {
                s: {"nll": mean_se([at_step(r, "nll", s) for r in runs]),
                    "error": mean_se([at_step(r, "error", s) for r in runs]),
                    "ksd": mean_se([r["ksd"].get(s, np.nan) for r in runs])}
                for s in steps}
    return out


def markdown(summ, results, tuned, header=""):
    lines = [header, ""] if header else []
    for name, by in summ.items():
        steps = sorted(next(iter(by.values())))
        n_splits = len(next(iter(results[name].values())))
        lines.append(f"### {name} ({n_splits} split{'s' if n_splits > 1 else ''}; "
                     f"mean ± s.e. over splits)")
        lines.append("")
        cols = [f"NLL @{s}" for s in steps] + [f"error @{steps[-1]}", f"KSD² @{steps[-1]}",
                                               "s / run"]
        lines.append("| sampler | " + " | ".join(cols) + " |")
        lines.append("|---" * (len(cols) + 1) + "|")
        for label, per in by.items():
            last = per[steps[-1]]
            secs = np.mean([r["seconds"] for r in results[name][label]])
            cells = [fmt(*per[s]["nll"]) for s in steps] + [fmt(*last["error"]),
                                                           fmt(*last["ksd"], digits=2),
                                                           f"{secs:.0f}"]
            lines.append(f"| {LABELS.get(label, label)} | " + " | ".join(cells) + " |")
        if name in tuned:
            eps = [t["step_size_wt"] / 2 for t in tuned[name]]
            lines.append("")
            lines.append(f"KL-tuned SGLD step (paper convention ε): "
                         f"{', '.join(f'{e:.2e}' for e in eps)}; tuning cost "
                         f"{np.mean([t['n_grad'] for t in tuned[name]]):.0f} gradient rows and "
                         f"{np.mean([t['seconds'] for t in tuned[name]]):.0f} s per split.")
        lines.append("")
    lines += claims(results)
    return "\n".join(lines)


def paired(results, name, a, b):
    """Mean and s.e. over splits of the final-step NLL difference a − b (same splits, same
    starting particles and seeds)."""
    d = [ra["curve"]["nll"][-1] - rb["curve"]["nll"][-1]
         for ra, rb in zip(results[name][a], results[name][b])]
    return mean_se(d)


#: NLL differences below this are reported as ties whatever their standard error
NEGLIGIBLE = 5e-4


def verdict(m, se):
    """'lower' / 'higher' when the difference exceeds two standard errors and
    :data:`NEGLIGIBLE`, else a tie."""
    if abs(m) < NEGLIGIBLE:
        return f"tie (|Δ| < {NEGLIGIBLE:g})"
    if not np.isnan(se) and abs(m) <= 2 * se:
        return "tie (within 2 s.e.)"
    return "lower" if m < 0 else "higher"


def claims(results):
    """The paper's two claims, checked on the final-step test NLL with paired differences."""
    out = ["### The paper's claims, measured (final-step test NLL, paired over splits)", ""]
    have = [n for n, by in results.items() if "stein" in by]
    if not have:
        return out + ["(no Stein-trained sampler in this run)", ""]
    ok = []
    for name in have:
        if "sgld" not in results[name]:
            continue
        m, se = paired(results, name, "stein", "sgld")
        v = verdict(m, se)
        ok.append(v != "higher")
        out.append(f"- {name}: NLL(Stein-trained) − NLL(SGLD ε=1e-5) = {fmt(m, se, 4)} → {v}")
    if ok:
        out.append(f"- Stein-trained matches or beats SGLD on {sum(ok)} of {len(ok)} sets "
                   f"(paper: at least 3 of 4).")
    for other in ("kde", "ksm", "map"):
        if all(other in results[n] for n in have):
            parts = [paired(results, n, "stein", other) for n in have]
            m = float(np.mean([p[0] for p in parts]))
            se = float(np.sqrt(np.nansum([p[1] ** 2 for p in parts])) / len(parts))
            se = np.nan if all(np.isnan(p[1]) for p in parts) else se
            out.append(f"- average over sets of NLL(Stein-trained) − NLL({other.upper()}-trained)"
                       f" = {fmt(m, se, 4)} → {verdict(m, se)}")
    out.append("")
    return out


def plot(results, path):
    """Test NLL against steps, one panel per data set, mean over splits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for label, runs in results[name].items():
            steps = runs[0]["curve"]["step"]
            nll = np.mean([r["curve"]["nll"] for r in runs], axis=0)
            style = "--" if label.startswith("sgld") else "-"
            ax.plot(steps, nll, style, label=LABELS.get(label, label), lw=1.4)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel("test NLL")
        lo = min(np.min(np.mean([r["curve"]["nll"] for r in runs], axis=0))
                 for runs in results[name].values())
        ax.set_ylim(lo - 0.05, lo + 0.6)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def compact(summ, tuned, cfg, settings):
    """JSON-ready summary (a few KB): the table numbers and the run settings."""
    return {"settings": settings, "config": {k: v for k, v in vars(cfg).items()},
            "summary": {n: {lab: {str(s): v for s, v in per.items()} for lab, per in by.items()}
                        for n, by in summ.items()},
            "tuned_sgld": tuned}


# ---------------------------------------------------------------------------------------------
def step_costs(cfg, samplers, datasets, root=None, columns="standard", steps=20, seed=0):
    """Measured seconds per step of SGLD and of a learned sampler with ``cfg.particles``
    particles on split 0 of each set, and the protocol's extrapolated run time:
    {dataset: {"sgld": s, "learned": s, "protocol": s}}, protocol = splits × (2 SGLD runs +
    one run per learned sampler) × steps."""
    from mcmcadapt.transitions import SGLD

    learned = next(iter(samplers.values()))
    out = {}
    for name in datasets:
        model = load_model(name, 0, root, columns, hidden=cfg.hidden)
        X0 = model.sample_prior(cfg.particles, seed=seed)
        sgld = SGLD(step_size=2 * cfg.sgld_step, batch_size=cfg.batch)
        per = {}
        for label, (tr, phi) in (("sgld", (sgld, sgld.init_params(model))),
                                 ("learned", learned[:2])):
            rng = np.random.default_rng(seed)
            state, _ = tr.step(model, tr.init(model, X0), phi, rng)  # compile / warm up
            t0 = time.perf_counter()
            for _ in range(steps):
                state, _ = tr.step(model, state, phi, rng)
            per[label] = (time.perf_counter() - t0) / steps
        per["dim"] = model.dim
        per["protocol"] = cfg.splits * cfg.of(cfg.steps, name) * (
            2 * per["sgld"] + len(samplers) * per["learned"])
        out[name] = per
    return out


def cost_table(costs, cfg, n_learned):
    lines = [f"| data set | dim | SGLD s/step | learned s/step | {cfg.splits} splits × "
             f"(2 SGLD + {n_learned} learned) runs, hours |", "|---|---|---|---|---|"]
    for name, c in costs.items():
        lines.append(f"| {name} ({cfg.of(cfg.steps, name)} steps) | {c.get('dim', '')} | "
                     f"{c['sgld']:.4f} | {c['learned']:.4f} | {c['protocol'] / 3600:.2f} |")
    total = sum(c["protocol"] for c in costs.values()) / 3600
    lines.append(f"| **total** | | | | **{total:.2f}** |")
    return lines


def with_steps(cfg, spec):
    """``cfg`` with the step counts of ``spec`` ("N" for every set, or "name=N,..."); the
    evaluation interval and table columns follow (N/40; N/10, N/2, N)."""
    steps, every, report = dict(cfg.steps), dict(cfg.eval_every), dict(cfg.report_at)
    for item in spec.split(","):
        name, _, n = item.rpartition("=")
        name, n = name or "*", int(n)
        if name == "*":
            steps, every, report = {}, {}, {}
        steps[name] = n
        every[name] = max(1, n // 40)
        report[name] = tuple(sorted({max(1, n // 10), n // 2, n}))
    for table, default in ((steps, cfg.steps), (every, cfg.eval_every), (report, cfg.report_at)):
        table.setdefault("*", default["*"])
    return replace(cfg, steps=steps, eval_every=every, report_at=report)


def training_table(samplers):
    lines = ["### Meta-training on crabs", "",
             "| estimator | iterations × unroll | s | log p after an unroll, first → last 50 "
             "iterations | entropy/target score ratio |",
             "|---|---|---|---|---|"]
    for est, (_, _, info) in samplers.items():
        lines.append(f"| {est} | {info.get('iterations', '?')} × {info.get('unroll', '?')} | "
                     f"{info.get('seconds', float('nan')):.0f} | "
                     f"{info.get('logp_first50', float('nan')):.1f} → "
                     f"{info.get('logp_last50', float('nan')):.1f} | "
                     f"{info.get('score_ratio', float('nan')):.4f} |")
    return lines + [""]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="reduced sizes; trains in memory")
    ap.add_argument("--train", action="store_true",
                    help="meta-train and save the samplers (default: load them from --params-dir)")
    ap.add_argument("--train-only", action="store_true", help="train, save, and stop")
    ap.add_argument("--measure-cost", action="store_true",
                    help="time 20 steps per sampler type and data set, print the protocol's "
                    "extrapolated run time, and stop")
    ap.add_argument("--estimators", default=",".join(ESTIMATORS))
    ap.add_argument("--datasets", default=",".join(TEST_SETS))
    ap.add_argument("--splits", type=int, default=None)
    ap.add_argument("--particles", type=int, default=None)
    ap.add_argument("--steps", default=None,
                    help="steps per test set: N for all, or e.g. sonar=2000 (default 2000, "
                    "sonar 5000); evaluations every N/40 steps, table columns at N/10, N/2, N")
    ap.add_argument("--cache-dir", default=None,
                    help="keep each finished (data set, split) here and reuse it on a rerun")
    ap.add_argument("--jobs", type=int, default=1,
                    help="worker processes for the test runs (one Numba/BLAS thread each)")
    ap.add_argument("--columns", choices=("standard", "paper"), default="standard")
    ap.add_argument("--data-root", default=None, help="folder holding uci_binary/ "
                    "(default ../shared/data)")
    ap.add_argument("--params-dir", default=str(RESULTS))
    ap.add_argument("--threads", type=int, default=None,
                    help="Numba threads of the main process (default: Numba's default); BLAS "
                    "is limited to 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default=None, help="name of the plot/summary files "
                    "(default: quick, paper or custom)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--out", default=None, help="also write the markdown to this file")
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from mcmcadapt.datasets import DataNotFoundError, shared_data_root

    try:
        root = shared_data_root(args.data_root)
    except DataNotFoundError as err:
        print(f"skipping: {err}")
        return 0
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    cfg = QUICK if args.quick else PAPER
    cfg = replace(cfg, splits=args.splits or cfg.splits, particles=args.particles or cfg.particles)
    if args.steps:
        cfg = with_steps(cfg, args.steps)
    custom = bool(args.steps or args.splits or args.particles)
    tag = args.tag or ("quick" if args.quick else "custom" if custom else "paper")
    estimators = [e for e in args.estimators.split(",") if e]
    datasets = [d for d in args.datasets.split(",") if d]
    t_start = time.perf_counter()
    with threadpool_limits(1):
        if args.train or args.train_only or args.quick:
            samplers = train_samplers(cfg, estimators, root, args.columns, args.seed,
                                      save_dir=None if args.quick else args.params_dir)
        else:
            samplers = load_samplers(estimators, args.params_dir, cfg.batch)
        if args.train_only:
            print("\n".join(training_table(samplers)))
            return 0
        if args.measure_cost:
            costs = step_costs(cfg, samplers, datasets, root, args.columns, seed=args.seed)
            print(f"## Cost of the protocol ({cfg.particles} particles, one process, "
                  f"Numba threads {numba.get_num_threads()}, BLAS threads 1)\n")
            print("\n".join(cost_table(costs, cfg, len(samplers))))
            return 0
        results, tuned = evaluate_all(cfg, samplers, datasets, root, args.columns, args.seed,
                                      jobs=args.jobs, cache_dir=args.cache_dir)
    total = time.perf_counter() - t_start
    summ = summary(results)
    steps = ", ".join(f"{d} {cfg.of(cfg.steps, d)}" for d in datasets)
    threads = (f"{args.jobs} worker processes × 1 Numba thread" if args.jobs > 1
               else f"Numba threads {numba.get_num_threads()}")
    n_tasks = len(datasets) * cfg.splits
    n_cached = sum(1 for by in results.values() for r in next(iter(by.values()))
                   if r.get("cached"))
    cached = f", {n_cached} of {n_tasks} (set, split) tasks from the cache" if n_cached else ""
    header = (f"## Meta-learned BNN samplers ({tag}: {cfg.splits} split(s), {cfg.particles} "
              f"particles, minibatch {cfg.batch}, steps: {steps}; columns={args.columns}; "
              f"{threads}, BLAS threads 1; total {total / 60:.1f} min{cached})")
    text = "\n".join([header, ""] + training_table(samplers) + [markdown(summ, results, tuned)])
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    settings = {"mode": tag, "columns": args.columns, "jobs": args.jobs,
                "numba_threads": numba.get_num_threads(), "blas_threads": 1,
                "seconds_total": round(total, 1), "seed": args.seed, "estimators": estimators,
                "datasets": datasets,
                "training": {k: v[2] for k, v in samplers.items()}}
    if not args.quick:
        (Path(args.params_dir) / f"meta_bnn_summary_{tag}.json").write_text(
            json.dumps(compact(summ, tuned, cfg, settings), default=float, indent=0))
    if not args.no_plot:
        plot(results, IMG / f"meta_bnn_nll_{tag}.png")
    return 0



if __name__ == "__main__":
    sys.exit(main())
