"""``summarize``: convergence table, sampler checks, KSD, efficiency and explicit warnings."""

import json
import warnings as warnings_module
from dataclasses import dataclass, field

import numpy as np

from .._validation import positive_int
from ..errors import InputError
from . import _arviz
from .ksd_check import fmt_ksd, ksd_profile
from .predictive import with_model_predictive
from .quantities import diagnosed_quantities, group_names, posterior_flat

# Warning thresholds (Vehtari et al. 2021 for R-hat and ESS; Betancourt 2016 for E-BFMI).
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3
# |z| of the KSD trend statistic (first vs last window, see ksd_check) above which the run is
# flagged. The variance estimate is conservative: on stationary draws (independent and AR(1),
# d = 1 to 10, at least ksd_check.TREND_MIN_POINTS points per window) |z| stayed below 2.4
# in every one of thousands of simulated runs.
KSD_TREND_Z = 2.5
# A chain is called frozen only from this many draws on: in a short run a working sampler
# can reject every proposal by chance (0.55^5 = 5% for 5 draws at acceptance 0.45).
FROZEN_MIN_DRAWS = 20

# what the acceptance of a kernel without an accept/reject step means
UNADJUSTED_NOTE = ("unadjusted kernel: every step is accepted, and its discretisation bias "
                   "is invisible to R-hat and ESS; compare with a Metropolis-adjusted kernel")


def is_unadjusted(summary):
    """True when the run's kernel (a built-in name) has no accept/reject step."""
    from ..transitions import make

    try:
        return not make(str(summary.run.get("kernel"))).metropolis
    except Exception:     # noqa: BLE001 — a custom or unknown kernel: nothing to say
        return False


# how the counts read when minibatch gradients are among them
MINIBATCH_NOTE = " (full-data equivalents: a minibatch gradient counts its share of the data)"
COLUMNS = ("mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat")


@dataclass
class DiagnosticWarning:
    """One failed check: ``kind`` (``"r_hat"``, ``"ess"``, ``"stuck"``, ``"divergences"``,
    ``"ebfmi"``, ``"ksd_trend"``, ``"interrupted"``, ``"sample_stats"``: non-finite values
    there), a ``message`` saying what and what to
    do, and the ``labels`` of the quantities concerned (may be empty)."""

    kind: str
    message: str
    labels: list = field(default_factory=list)

    def __str__(self):
        return f"[{self.kind}] {self.message}"


@dataclass
class Summary:
    """Result of :func:`summarize`.

    ``labels`` (k,) names the diagnosed scalar quantities and ``columns`` maps each of
    :data:`COLUMNS` to a (k,) array; ``flagged`` (k,) bool marks rows that fail the R-hat or
    ESS threshold or never change. Sampler statistics are None where the output lacks them.
    ``ess_per_grad`` holds the minimum over quantities of bulk and tail ESS divided by every
    gradient evaluation of the run (warm-up included), counted in full-data gradients
    (``n_grad_warmup``, ``n_grad_sampling``): ``minibatch_counts`` says that minibatch
    gradients were counted at their share of the data.
    """

    labels: list
    columns: dict
    flagged: np.ndarray
    source: str
    note: str
    n_chains: int
    n_draws: int
    divergences: int | None
    acceptance: float | None
    acceptance_per_chain: np.ndarray | None
    ebfmi: np.ndarray | None
    ksd: float | None
    ksd_windows: np.ndarray | None
    ksd_points: np.ndarray | None
    ksd_trend_z: float | None
    n_grad_warmup: int | None
    n_grad_sampling: int | None
    ess_per_grad: dict | None
    warnings: list
    thresholds: dict
    run: dict
    ksd_score: str = "the model score"
    minibatch_counts: bool = False

    @property
    def ok(self):
        """True when no check failed."""
        return not self.warnings

    @property
    def n_grad(self):
        if self.n_grad_warmup is None or self.n_grad_sampling is None:
            return None
        return self.n_grad_warmup + self.n_grad_sampling

    @property
    def table(self):
        """The per-quantity table as a pandas DataFrame indexed by label."""
        import pandas as pd

        return pd.DataFrame({c: self.columns[c] for c in COLUMNS}, index=self.labels)

    def checks(self):
        """(passed, not_checked): short descriptions of the checks this summary ran and of
        those it could not run (one chain, no divergence record, too few draws for the KSD
        trend), so that "no warnings" claims only what was checked."""
        t = self.thresholds
        passed, skipped = [], []
        if self.n_chains >= 2:
            passed.append(f"R-hat <= {t['rhat_max']}")
        else:
            skipped.append("R-hat (needs 2 or more chains)")
        passed.append(f"bulk and tail ESS >= {t['ess_per_chain_min']} per chain")
        if self.divergences is not None:
            passed.append("no divergences")
        else:
            skipped.append("divergences (the output records none)")
        if self.ebfmi is not None:
            passed.append(f"E-BFMI >= {t['ebfmi_min']}")
        if self.ksd is not None:
            if np.isfinite(self.ksd_trend_z):
                passed.append("no KSD trend")
            else:
                skipped.append("KSD trend (too few draws kept per window)")
        return passed, skipped

    def to_text(self, max_rows=20):
        from .render import render_text

        positive_int(max_rows, "max_rows", error=InputError)
        return render_text(self, max_rows=max_rows)

    def __str__(self):
        return self.to_text()


def _sample_stat(idata, group, name):
    if group not in group_names(idata) or name not in idata[group].to_dataset():
        return None
    return np.asarray(idata[group].to_dataset()[name].values)


def _grad_counts(idata, n_chains):
    """(warm-up, sampling, minibatch): gradient counts, None where unknown, in full-data
    gradients (a minibatch gradient on b of N points counts b/N: root attributes
    ``n_grad_full_*``; trees written before them count evaluations), and whether that
    differs from the evaluations made.

    Sampling counts are what the run paid, restarts after a resume included, so draws
    thinned or cut from the start still count: the root attribute ``n_grad_sampling``,
    covering ``chains_sampled`` chains, of which a tree whose chains were selected counts the
    share of its ``n_chains`` (the diagnosed group's). Trees without ``chains_sampled`` (from
    elsewhere, or written before it) sum the draws' own ``n_grad``, with draws cut from the
    start (labels starting above 0) counted at the kept draws' mean cost. The warm-up (one
    population for every chain) comes from the root attribute, else the adaptation record's
    cumulative count (the warm-up draws keep only a few thinned chains of the population
    and would undercount it)."""
    attrs = idata.attrs
    minibatch = False

    def full_count(part):           # the full-data count, and whether it is not the evaluations
        evaluations = int(attrs[f"n_grad_{part}"])
        full = float(attrs.get(f"n_grad_full_{part}", evaluations))
        return full, not np.isclose(full, evaluations)

    per_draw = _sample_stat(idata, "sample_stats", "n_grad")
    if "n_grad_sampling" in attrs and "chains_sampled" in attrs:
        full, minibatch = full_count("sampling")
        sampled = max(int(attrs["chains_sampled"]), 1)
        sampling = int(round(full * min(n_chains, sampled) / sampled))
    elif per_draw is not None and per_draw.size:
        sampling = int(per_draw.sum())
        draws = idata["sample_stats"].to_dataset()["n_grad"]
        first = int(draws["draw"].values.min()) if "draw" in draws.coords else 0
        if first > 0:
            sampling += int(round(per_draw.mean() * per_draw.shape[0] * first))
    elif "n_grad_sampling" in attrs:
        sampling = int(attrs["n_grad_sampling"])
    else:
        return None, None, False
    if "n_grad_warmup" in attrs:
        full, differs = full_count("warmup")
        return int(round(full)), sampling, minibatch or differs
    warmup = _sample_stat(idata, "adaptation", "n_grad")
    return (None if warmup is None or warmup.size == 0 else int(warmup[-1])), sampling, minibatch


def _run_info(idata):
    attrs = dict(idata.attrs)
    info = {k: attrs[k] for k in ("model", "kernel", "objective", "estimator", "tuning_seed",
                                  "seed") if k in attrs}
    if "settings" in attrs:
        try:
            info["settings"] = json.loads(attrs["settings"])
        except (TypeError, ValueError):
            info["settings"] = attrs["settings"]
    info["interrupted"] = bool(int(attrs.get("interrupted", 0)))
    info["tuning_interrupted"] = bool(int(attrs.get("tuning_interrupted", 0)))
    if attrs.get("error"):
        info["error"] = str(attrs["error"])
    try:
        seeds = json.loads(attrs.get("resume_seeds", "[]"))
    except (TypeError, ValueError):
        seeds = []
    if seeds:
        info["resume_seeds"] = seeds
    return info


def _fmt_labels(labels, limit=5):
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _stride(idata, conv, n_chains, n_draws):
    """Autocorrelation time (draws) to space the KSD's points: total draws over the smallest
    bulk ESS among the diagnosed quantities and the log density (which sees every parameter,
    also when the quantities are predictive)."""
    ess = [conv["ess_bulk"]]
    lp = _sample_stat(idata, "sample_stats", "lp")
    if lp is not None and lp.shape[:2] == (n_chains, n_draws) and np.all(np.isfinite(lp)):
        with np.errstate(invalid="ignore", divide="ignore"):
            ess.append(_arviz.convergence(lp.reshape(n_chains, n_draws, 1))["ess_bulk"])
    ess = np.concatenate(ess)
    ess = ess[np.isfinite(ess) & (ess > 0)]
    if not ess.size:
        return 1
    return max(1, int(np.ceil(n_chains * n_draws / ess.min())))


def _convergence_checks(labels, conv, rhat_max, ess_min, ess_per_chain_min, warnings):
    """Append R-hat and ESS warnings; return the (k,) flags of the failing quantities."""
    bad_rhat = conv["r_hat"] > rhat_max
    bad_ess = (conv["ess_bulk"] < ess_min) | (conv["ess_tail"] < ess_min)
    if bad_rhat.any():
        names = [lab for lab, b in zip(labels, bad_rhat) if b]
        worst = float(np.nanmax(conv["r_hat"]))
        warnings.append(DiagnosticWarning(
            "r_hat",
            f"R-hat > {rhat_max} for {len(names)} of {len(labels)} quantities "
            f"({_fmt_labels(names)}; max {worst:.4g}): the chains disagree. Run longer, "
            "tune longer, or check for multimodality.", names))
    if bad_ess.any():
        names = [lab for lab, b in zip(labels, bad_ess) if b]
        worst = float(np.min(np.fmin(conv["ess_bulk"], conv["ess_tail"])[bad_ess]))
        warnings.append(DiagnosticWarning(
            "ess",
            f"bulk or tail ESS < {ess_per_chain_min} per chain (< {ess_min:g} in total) for "
            f"{len(names)} {'quantity' if len(names) == 1 else 'quantities'} "
            f"({_fmt_labels(names)}; min {worst:.0f}): estimates "
            "are unreliable. Draw more, or improve the kernel's tuning.", names))
    return bad_rhat | bad_ess


def _stuck_checks(labels, draws, warnings):
    """Append warnings for chains that never moved and for quantities with a single value in
    every draw (R-hat is then 0/0 and ESS meaningless, so the checks above stay silent);
    return the (k,) flags of those quantities.

    draws : (chains, draws, k)."""
    moves = np.ptp(draws, axis=1) > 0
    frozen = np.flatnonzero(~moves.any(axis=1))
    if draws.shape[1] < FROZEN_MIN_DRAWS:
        frozen = frozen[:0]
    constant = ~(np.ptp(draws, axis=(0, 1)) > 0)
    names = [lab for lab, b in zip(labels, constant) if b]
    if frozen.size:
        warnings.append(DiagnosticWarning(
            "stuck",
            f"chain(s) {frozen.tolist()} never moved: every quantity has one value in all "
            f"{draws.shape[1]} draws. The kernel rejected every proposal (a step size far too "
            "large for where the chain sits) or the chain started where the density or its "
            "gradient breaks down"
            + ("" if frozen.size == draws.shape[0] else
               "; the other chains' draws may be fine, the run as a whole is not")
            + ". Check the initial values and the tuned step size.",
            names if frozen.size == draws.shape[0] else []))
    if names and frozen.size < draws.shape[0]:
        warnings.append(DiagnosticWarning(
            "stuck",
            f"{len(names)} of {len(labels)} quantities have the same value in every draw of "
            f"every chain ({_fmt_labels(names)}): R-hat and ESS are undefined for them. A "
            "parameter that never moves means the sampler is stuck in it; a derived quantity "
            "may simply be constant.", names))
    return constant


def _sampler_checks(idata, ebfmi_min, warnings):
    """Divergences, acceptance and E-BFMI from ``sample_stats``, with their warnings."""
    diverging = _sample_stat(idata, "sample_stats", "diverging")
    divergences = None if diverging is None else int(np.count_nonzero(diverging))
    if divergences:
        step = _sample_stat(idata, "sample_stats", "step_size")
        if step is not None and step.shape == diverging.shape and np.ptp(step) > 0:
            # a step range (HMC with step_spread): its largest steps are meant to fail where
            # the target is narrowest; divergences at its small steps are the warning sign
            small = step <= np.median(step)
            n_small = int(np.count_nonzero(diverging & small))
            message = (
                f"{divergences} divergent transitions of {diverging.size}, {n_small} of them "
                "at steps in the lower half of the step range. The range's large steps are "
                "expected to diverge where the target is narrowest (they are rejected, and "
                "the range's small steps are meant to reach those regions; this count does "
                "not show that they did: compare with a longer run or a reparameterised "
                "model). Divergences at small steps mean the draws miss regions of high "
                "curvature.")
        else:
            message = (
                f"{divergences} divergent transitions of {diverging.size}: steps that broke "
                "down (an HMC trajectory whose energy error exceeded its threshold, an "
                "unadjusted step that lowered log p by more than 1000, or a non-finite "
                "density) were rejected, so the draws may miss regions of high curvature. "
                "Reduce the step size (a higher target acceptance) or reparameterise.")
        warnings.append(DiagnosticWarning("divergences", message))
    acc = _sample_stat(idata, "sample_stats", "acceptance_rate")
    energy = _sample_stat(idata, "sample_stats", "energy")
    # our own output never holds non-finite values here; a tree made elsewhere may
    for name, values, effect in (("acceptance_rate", acc, "the mean acceptance leaves them out"),
                                 ("energy", energy, "E-BFMI was not computed")):
        bad = 0 if values is None else int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            warnings.append(DiagnosticWarning(
                "sample_stats", f"sample_stats.{name} holds {bad} non-finite value(s) of "
                f"{values.size}: {effect}. The sampler that wrote them should be checked."))
    ebfmi = None
    if energy is not None and np.all(np.isfinite(energy)) and energy.shape[1] >= 2:
        ebfmi = _arviz.ebfmi(energy)
        low = np.flatnonzero(ebfmi < ebfmi_min)
        if low.size:
            warnings.append(DiagnosticWarning(
                "ebfmi",
                f"E-BFMI < {ebfmi_min} in chain(s) {low.tolist()} (min {ebfmi.min():.2f}): "
                "momentum resampling explores the energy levels poorly; a better "
                "preconditioner or a reparameterisation usually helps."))
    with warnings_module.catch_warnings():
        warnings_module.simplefilter("ignore", RuntimeWarning)   # an all-NaN chain: NaN
        return {"divergences": divergences,
                "acceptance": None if acc is None else float(np.nanmean(acc)),
                "acceptance_per_chain": None if acc is None else np.nanmean(acc, axis=1),
                "ebfmi": ebfmi}


def _ksd_checks(idata, model, stride, points, n_windows, seed, trend_z, warnings):
    """KSD profile of the run (see :mod:`.ksd_check`) and its trend warning."""
    prof = ksd_profile(posterior_flat(idata, model), model, stride=stride, points=points,
                       n_windows=n_windows, seed=seed)
    first, last, z = prof.windows[0], prof.windows[-1], prof.trend_z
    if z > trend_z:
        warnings.append(DiagnosticWarning(
            "ksd_trend",
            f"KSD falls from {fmt_ksd(first)} (first window of draws) to {fmt_ksd(last)} "
            "(last); "
            f"trend z = {z:.1f} > {trend_z}: the chains were still approaching the target "
            "when sampling began. Tune longer or discard the early draws."))
    elif z < -trend_z:
        warnings.append(DiagnosticWarning(
            "ksd_trend",
            f"KSD rises from {fmt_ksd(first)} (first window of draws) to {fmt_ksd(last)} "
            "(last); "
            f"trend z = {z:.1f} < -{trend_z}: the chains drift away from the target during "
            "the run (unstable kernel or step size too large)."))
    return prof


def _ess_per_grad(labels, conv, n_warm, n_samp):
    """Min bulk and tail ESS over the quantities per gradient evaluation of the whole run."""
    if n_samp is None or n_samp + (n_warm or 0) <= 0:
        return None
    total = n_samp + (n_warm or 0)
    out = {"warmup_counted": n_warm is not None}
    for col in ("ess_bulk", "ess_tail"):
        finite = np.isfinite(conv[col])
        i = int(np.nanargmin(conv[col])) if finite.any() else None
        out[col] = np.nan if i is None else float(conv[col][i]) / total
        out[col + "_label"] = None if i is None else labels[i]
    return out


def summarize(idata, model=None, *, ksd_points=200, ksd_windows=4, seed=0,
              rhat_max=RHAT_MAX, ess_per_chain_min=ESS_PER_CHAIN_MIN, ebfmi_min=EBFMI_MIN,
              ksd_trend_z=KSD_TREND_Z):
    """Diagnose a sampling output DataTree (layout: docs/architecture.md, "sampling output").

    Parameters
    ----------
    idata : xarray.DataTree
        Output of :func:`mcmcadapt.sample`. Needs a ``posterior`` group; uses
        ``sample_stats``, a ``predictive`` group and the root attributes when present.
    model : Model, optional
        The sampled model. When given, the kernel Stein discrepancy of the draws against
        ``model``'s score is computed: in each of ``ksd_windows`` consecutive windows of the
        run, draws about one autocorrelation time apart, at most ``ksd_points`` of them
        (seeded by ``seed``); see :mod:`mcmcadapt.diagnostics.ksd_check`. A model that
        defines predictive quantities (the Bayesian neural networks, whose weights are not
        identifiable) is diagnosed on them when ``idata`` has no ``predictive`` group yet
        (:func:`~mcmcadapt.diagnostics.add_predictive` stores them in the tree).
    rhat_max, ess_per_chain_min, ebfmi_min, ksd_trend_z : float
        Warning thresholds: R-hat above ``rhat_max``; bulk or tail ESS below
        ``ess_per_chain_min`` × chains; E-BFMI of a chain below ``ebfmi_min``; KSD trend
        statistic beyond ``ksd_trend_z`` either way. Any divergence warns.

    Returns
    -------
    Summary
    """
    if not hasattr(idata, "children"):
        raise InputError("summarize expects an xarray DataTree from mcmcadapt.sample; got "
                         f"{type(idata).__name__}.")
    positive_int(ksd_points, "ksd_points", minimum=2, error=InputError)
    for name, value in (("rhat_max", rhat_max), ("ess_per_chain_min", ess_per_chain_min),
                        ("ebfmi_min", ebfmi_min), ("ksd_trend_z", ksd_trend_z)):
        if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                or not np.isfinite(value) or value < 0):
            raise InputError(f"{name} must be a finite number >= 0, got {value!r}.")
    positive_int(ksd_windows, "ksd_windows", error=InputError)
    idata = with_model_predictive(idata, model)
    q = diagnosed_quantities(idata)
    n_chains, n_draws, _ = q.draws.shape
    if n_draws < 4:
        raise InputError(
            f"only {n_draws} draws per chain; diagnostics need at least 4 (sample longer)."
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        conv = _arviz.convergence(q.draws)
    flat = q.draws.reshape(-1, q.draws.shape[2])
    columns = {"mean": flat.mean(axis=0), "sd": flat.std(axis=0, ddof=1), **conv}
    warnings = []
    flagged = _convergence_checks(q.labels, conv, rhat_max, ess_per_chain_min * n_chains,
                                  ess_per_chain_min, warnings)
    flagged |= _stuck_checks(q.labels, q.draws, warnings)
    sampler = _sampler_checks(idata, ebfmi_min, warnings)
    ksd = (None if model is None else
           _ksd_checks(idata, model, _stride(idata, conv, n_chains, n_draws), ksd_points,
                       ksd_windows, seed, ksd_trend_z, warnings))
    n_warm, n_samp, minibatch = _grad_counts(idata, n_chains)
    run = _run_info(idata)
    if run["tuning_interrupted"]:
        steps = run.get("settings", {}).get("steps") if isinstance(run.get("settings"),
                                                                    dict) else None
        warnings.append(DiagnosticWarning(
            "interrupted",
            "tuning was interrupted"
            + (f" before its {steps} iterations" if steps else "")
            + ": the kernel samples with the parameters tuned so far, and the warm-up "
            "gradients counted are those spent until then. Tune again for a finished "
            "adaptation."))
    if run["interrupted"]:
        why = (f"sampling stopped because the model failed ({run['error']})"
               if run.get("error") else "the run was interrupted")
        warnings.append(DiagnosticWarning(
            "interrupted",
            f"{why}; these diagnostics use the {n_draws} draws per chain that were completed"
            + ("; mcmcadapt.resume(model, idata) (command line: mcmcadapt resume "
               "IDATA.nc) continues the chains." if "transition" in idata.attrs else ".")))
    return Summary(
        labels=list(q.labels), columns=columns, flagged=flagged, source=q.source, note=q.note,
        n_chains=n_chains, n_draws=n_draws, **sampler,
        ksd=None if ksd is None else ksd.overall,
        ksd_windows=None if ksd is None else ksd.windows,
        ksd_points=None if ksd is None else ksd.points,
        ksd_trend_z=None if ksd is None else ksd.trend_z,
        n_grad_warmup=n_warm, n_grad_sampling=n_samp, minibatch_counts=minibatch,
        ess_per_grad=_ess_per_grad(q.labels, conv, n_warm, n_samp), warnings=warnings,
        thresholds={"rhat_max": rhat_max, "ess_per_chain_min": ess_per_chain_min,
                    "ebfmi_min": ebfmi_min, "ksd_trend_z": ksd_trend_z},
        run=run,
        ksd_score=("the model's estimated score (a surrogate: a small KSD says the draws fit "
                   "the surrogate, not that they fit the target)"
                   if getattr(model, "score_is_estimated", False) else "the model score"))
