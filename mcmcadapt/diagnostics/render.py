"""Plain-text rendering of a :class:`~mcmcadapt.diagnostics.summary.Summary` for a terminal."""

import numpy as np

from .ksd_check import fmt_ksd, ksd_caveat
from .summary import COLUMNS, MINIBATCH_NOTE, UNADJUSTED_NOTE, is_unadjusted

_HEAD = {"mean": "mean", "sd": "sd", "mcse_mean": "mcse_mean", "mcse_sd": "mcse_sd",
         "ess_bulk": "ess_bulk", "ess_tail": "ess_tail", "r_hat": "r_hat"}


def _num(value, col=""):
    if not np.isfinite(value):
        return "n/a"
    if col.startswith("ess"):
        return f"{value:.0f}"
    if col == "r_hat":
        return f"{value:.3f}" if value < 1e3 else f"{value:.3g}"  # a frozen chain's is huge
    return f"{value:.4g}"


def cell(summary, column, i, num=None):
    """The table's text for quantity ``i`` in ``column``: R-hat gets a fourth decimal when
    three would hide that it exceeds the threshold (1.0104 is not "1.010" and flagged)."""
    value = summary.columns[column][i]
    text = (num or _num)(value, column)
    limit = summary.thresholds["rhat_max"]
    if column == "r_hat" and np.isfinite(value) and value > limit and float(text) <= limit:
        return f"{value:.4f}"
    return text


def rows_to_show(summary, max_rows):
    """Indices of the rows to print, in index order: all if few, else the ``max_rows`` worst
    (flagged rows first, then by R-hat descending, then by ESS ascending)."""
    k = len(summary.labels)
    if k <= max_rows:
        return list(range(k))
    c = summary.columns
    rhat = np.nan_to_num(c["r_hat"], nan=0.0)
    ess = np.nan_to_num(np.fmin(c["ess_bulk"], c["ess_tail"]), nan=np.inf)
    order = np.lexsort((ess, -rhat, ~np.asarray(summary.flagged, bool)))
    return sorted(order[:max_rows].tolist())


def render_text(summary, max_rows=20):
    s = summary
    lines = []
    run = s.run
    head = [f"{k}={run[k]}" for k in ("model", "kernel", "objective", "estimator") if k in run]
    lines.append("mcmcadapt diagnostics" + (": " + ", ".join(head) if head else ""))
    lines.append(f"{s.n_chains} chains x {s.n_draws} draws; diagnosing {len(s.labels)} "
                 f"quantities from '{s.source}' ({s.note})")
    lines.append("")
    shown = rows_to_show(s, max_rows)
    width = max(12, max(len(s.labels[i]) for i in shown) + 2)
    lines.append(" " * width + "".join(f"{_HEAD[c]:>11}" for c in COLUMNS))
    for i in shown:
        mark = " !" if s.flagged[i] else ""
        cells = "".join(f"{cell(s, c, i):>11}" for c in COLUMNS)
        lines.append(f"{s.labels[i]:<{width}}{cells}{mark}")
    if len(shown) < len(s.labels):
        hidden = len(s.labels) - len(shown)
        n_bad = int(s.flagged.sum()) - int(s.flagged[shown].sum())
        lines.append(f"... {hidden} more quantities not shown (the table keeps the worst: "
                     f"flagged first, then by R-hat), {n_bad} of them flagged")
    if s.n_chains < 2:
        lines.append("r_hat n/a: R-hat compares chains and needs at least 2.")
    lines.append("")
    stats = []
    if s.divergences is not None:
        stats.append(f"divergences: {s.divergences}")
    if s.acceptance is not None:
        stats.append(f"mean acceptance: {s.acceptance:.3f}"
                     + (f" ({UNADJUSTED_NOTE})" if is_unadjusted(s) else ""))
    if s.ebfmi is not None:
        stats.append("E-BFMI per chain: " + ", ".join(f"{v:.2f}" for v in s.ebfmi))
    if stats:
        lines.append("; ".join(stats))
    if s.ksd is not None:
        wins = ", ".join(fmt_ksd(v) for v in s.ksd_windows)
        kept = ", ".join(str(int(n)) for n in s.ksd_points)
        caveat = ksd_caveat(s.ksd, s.ksd_points)
        lines.append(f"KSD (IMQ) of the draws vs {s.ksd_score}: {fmt_ksd(s.ksd)}"
                     + (f" ({caveat})" if caveat else "")
                     + f"; per window of the run: {wins}; draws kept: {kept}; "
                     f"trend z {_num(s.ksd_trend_z)}")
    if s.ess_per_grad is not None:
        e = s.ess_per_grad
        counted = "warm-up counted" if e["warmup_counted"] else "warm-up NOT counted (unknown)"
        lines.append(
            f"min ESS per gradient evaluation: bulk {e['ess_bulk']:.3g} ({e['ess_bulk_label']}), "
            f"tail {e['ess_tail']:.3g} ({e['ess_tail_label']}); {s.n_grad or s.n_grad_sampling} "
            f"gradients{MINIBATCH_NOTE if s.minibatch_counts else ''}, {counted}")
    lines.append("")
    if s.warnings:
        lines.append(f"{len(s.warnings)} warning(s):")
        lines.extend(f"  WARNING {w}" for w in s.warnings)
    else:
        passed, skipped = s.checks()
        lines.append("No warnings: " + ", ".join(passed) + "."
                     + (" Not checked: " + "; ".join(skipped) + "." if skipped else ""))
    return "\n".join(lines)
