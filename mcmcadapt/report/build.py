"""``report``: write the diagnostics of a run as one self-contained HTML file."""

import json
import pathlib
import reprlib
from html import escape

import numpy as np

from ..diagnostics import diagnosed_quantities, summarize
from ..diagnostics.predictive import with_model_predictive
from ..diagnostics.summary import MINIBATCH_NOTE, Summary
from .._validation import positive_int
from ..errors import InputError
from . import figures
from .html import figure, kv_table, page, sampler_rows, settings_section, summary_table
from .html import warnings_section

BASELINE_LABEL = "window adaptation (baseline)"


def _plot_indices(summary, k, max_plots):
    """Flagged quantities first (worst R-hat first), then the others in order."""
    flagged = [i for i in np.argsort(-np.nan_to_num(summary.columns["r_hat"]))
               if summary.flagged[i]]
    rest = [i for i in range(k) if not summary.flagged[i]]
    return sorted((flagged + rest)[:max_plots])


def _adaptation_dataset(idata, result):
    import xarray as xr

    if "adaptation" in idata.children:
        return idata["adaptation"].to_dataset()
    if result is None or not getattr(result, "history", None):
        return None
    h = result.history
    data = {k: ("iteration", np.asarray(v)) for k, v in h.items()
            if k not in ("params", "param_iteration") and np.ndim(v) == 1}
    for name, arr in h.get("params", {}).items():
        arr = np.asarray(arr)
        data[f"param_{name}"] = (("param_iteration",) + tuple(
            f"{name}_dim_{j}" for j in range(arr.ndim - 1)), arr)
    coords = {"param_iteration": np.asarray(h.get("param_iteration", []))}
    return xr.Dataset(data, coords=coords)


def _target_accept(run):
    settings = run.get("settings")
    if not isinstance(settings, dict):
        return None
    for where in (settings.get("objective"), settings):
        if isinstance(where, dict) and isinstance(where.get("target_accept"), (int, float)):
            return float(where["target_accept"])
    return None


def _params(idata, result):
    if result is not None and getattr(result, "params", None):
        return result.params
    try:
        return json.loads(idata.attrs["params"])
    except (KeyError, TypeError, ValueError):
        return None


def _baseline_label(baseline):
    run = baseline.run
    if run.get("objective") == "window":
        return BASELINE_LABEL
    what = "/".join(str(run[k]) for k in ("kernel", "objective") if k in run)
    return f"{what or 'another run'} (baseline)"


def baseline_problem(run, baseline):
    """Why ``baseline`` cannot be compared with ``run``, or None. Each is a pair (model name
    or None, diagnosed labels or None): the models must agree where both are known, and the
    labels where both are given."""
    (a, labels), (b, b_labels) = run, baseline
    if a is not None and b is not None and a != b:
        return f"it sampled model {b!r}, this run {a!r}"
    if labels is not None and b_labels is not None and list(labels) != list(b_labels):
        return (f"its quantities {reprlib.repr(list(b_labels))} differ from this run's "
                f"{reprlib.repr(list(labels))}")
    return None


def _efficiency_section(summary, baseline):
    if summary.ess_per_grad is None:
        # ESS per gradient needs this run's counts; a baseline alone compares with nothing
        return ('<section id="efficiency"><h2>Efficiency</h2><p>No gradient counts in this '
                "output, so ESS per gradient evaluation is not available.</p></section>")
    e = summary.ess_per_grad
    rows, runs = [("this run", e["ess_bulk"], e["ess_tail"])], [summary]
    unusable = None
    if baseline is not None:
        b = baseline.ess_per_grad
        if b is None:
            unusable = "it has no gradient counts"
        elif b["warmup_counted"] != e["warmup_counted"]:
            unusable = ("the warm-up gradients are counted in one run and unknown in the "
                        "other")
        else:
            rows.append((_baseline_label(baseline), b["ess_bulk"], b["ess_tail"]))
            runs.append(baseline)
    head = ("<tr><th>run</th><th>min bulk ESS / gradient</th><th>min tail ESS / gradient</th>"
            "<th>chains x draws</th><th>gradients (warm-up + sampling)</th>"
            "<th>warnings</th></tr>")
    body = "".join(
        f"<tr><td>{escape(r[0])}</td><td>{r[1]:.4g}</td><td>{r[2]:.4g}</td>"
        f"<td>{s.n_chains} x {s.n_draws}</td>"
        f"<td>{'n/a' if s.n_grad_warmup is None else s.n_grad_warmup} + {s.n_grad_sampling}</td>"
        f"<td>{escape(', '.join(sorted({w.kind for w in s.warnings})) or 'none')}</td></tr>"
        for r, s in zip(rows, runs))
    parts = [f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"]
    if any(s.minibatch_counts for s in runs):
        parts.append(f"<p>Gradients{escape(MINIBATCH_NOTE)}.</p>")
    if unusable:
        parts.append(f"<p>The baseline given cannot be compared: {escape(unusable)}.</p>")
    elif len(rows) > 1 and (summary.n_chains * summary.n_draws
                            != baseline.n_chains * baseline.n_draws):
        parts.append("<p>The two runs kept different numbers of draws: the warm-up's cost is "
                     "spread over more draws in the longer one, so the ratio favours it. "
                     "Compare runs of the same length.</p>")
    if len(rows) > 1:
        ratio_b = rows[0][1] / rows[1][1] if rows[1][1] > 0 else np.inf
        ratio_t = rows[0][2] / rows[1][2] if rows[1][2] > 0 else np.inf
        pairs = [("this run / baseline (bulk)", f"{ratio_b:.2f}x"),
                 ("this run / baseline (tail)", f"{ratio_t:.2f}x")]
        parts.append(kv_table(pairs))
        parts.append(figure(figures.efficiency_comparison(rows), "ESS per gradient comparison",
                            "Minimum over quantities of ESS per gradient evaluation, every "
                            "gradient of warm-up and sampling counted. Longer is better."))
    elif not unusable:
        parts.append("<p>No window-adaptation baseline was given (pass <code>baseline=</code> "
                     "or run <code>mcmcadapt run --baseline</code>) to compare against.</p>")
    return f'<section id="efficiency"><h2>Efficiency</h2>{"".join(parts)}</section>'


def report(idata, result=None, path="report.html", *, model=None, baseline=None, summary=None,
           max_rows=50, max_plots=6):
    """Write the HTML report of a run and return its path.

    Parameters
    ----------
    idata : xarray.DataTree
        Output of :func:`mcmcadapt.sample` (layout in docs/architecture.md).
    result : TuneResult, optional
        The tuning result; supplies the tuned parameters and tuning messages (else they are
        read from the DataTree's attributes) and the adaptation history when the DataTree
        has no ``adaptation`` group.
    path : str or path-like
        Where to write the file (parent folders are created).
    model : Model, optional
        Passed to :func:`~mcmcadapt.diagnostics.summarize` for the KSD.
    baseline : DataTree or Summary, optional
        A run of the same model (same name and quantities, else an ``InputError``), usually
        with window adaptation, for the ESS-per-gradient comparison; the report shows both
        runs' lengths, gradient counts and warnings beside the ratio.
    summary : Summary, optional
        Reuse an existing summary instead of recomputing it.
    max_rows, max_plots : int
        Table rows (the worst first) and quantities in the trace and rank plots.
    """
    positive_int(max_rows, "max_rows", error=InputError)
    positive_int(max_plots, "max_plots", error=InputError)
    idata = with_model_predictive(idata, model)
    if summary is None:
        summary = summarize(idata, model)
    elif not isinstance(summary, Summary):
        raise InputError("summary must be a mcmcadapt.diagnostics.Summary or None.")
    if baseline is not None and not isinstance(baseline, Summary):
        if not hasattr(baseline, "children"):
            raise InputError(
                "baseline must be the DataTree of a window-adaptation run (or its Summary).")
        baseline = summarize(baseline, model)  # diagnosed as the run is (predictive)
    why = None if baseline is None else baseline_problem(
        (summary.run.get("model"), summary.labels), (baseline.run.get("model"), baseline.labels))
    if why:
        raise InputError(f"the baseline does not belong to this run: {why}.")
    q = diagnosed_quantities(idata)
    run = summary.run

    title = f"mcmcadapt report: {run.get('model', 'model')}"
    subtitle = ", ".join(f"{k} {run[k]}" for k in ("kernel", "objective", "estimator")
                         if k in run) + f"; {summary.n_chains} chains x {summary.n_draws} draws"
    why = (f'<p class="note">Diagnosed quantities: {escape(summary.note)}.</p>'
           if summary.source != "posterior" else "")
    sections = [warnings_section(summary),
                f'<section id="summary"><h2>Summary</h2>{why}'
                f"{summary_table(summary, max_rows)}<h3>Sampler</h3>"
                f"{kv_table(sampler_rows(summary))}</section>"]

    idx = _plot_indices(summary, len(q.labels), max_plots)
    labels = [q.labels[i] for i in idx]
    trace_png, rank_png = figures.trace_and_rank(q.draws[:, :, idx], labels)
    shown = ", ".join(labels) + (f" ({len(idx)} of {len(q.labels)}; flagged first)"
                                 if len(idx) < len(q.labels) else "")
    sections.append(
        '<section id="traces"><h2>Trace and rank plots</h2>'
        + figure(trace_png, "trace plots", f"Draws per chain and their densities: {shown}.")
        + (figure(rank_png, "rank plots",
                  "Fractional-rank Δ-ECDF per chain: curves inside the envelope mean the "
                  "chains agree.") if rank_png is not None
           else "<p>No rank plots: they compare chains, and this run has one.</p>")
        + "</section>")

    adapt = _adaptation_dataset(idata, result)
    png = None if adapt is None else figures.adaptation_curves(adapt, _target_accept(run))
    body = (figure(png, "adaptation curves", "Objective, acceptance rate, step size and "
                   "preconditioner over the adaptation iterations.")
            if png is not None else "<p>No adaptation record in this output.</p>")
    sections.append(f'<section id="adaptation"><h2>Adaptation</h2>{body}</section>')

    sections.append(_efficiency_section(summary, baseline))
    messages = list(getattr(result, "messages", None) or [])
    sections.append(settings_section(summary, _params(idata, result), messages))

    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(title, subtitle, sections), encoding="utf-8")
    return out
