"""HTML assembly: one self-contained page (inline CSS, PNGs as base64 data URIs, no script,
no external resource). Every piece of text from the run is escaped."""

import base64
import json
from html import escape

import numpy as np

from ..diagnostics.ksd_check import fmt_ksd, ksd_caveat
from ..diagnostics.render import cell, rows_to_show
from ..diagnostics.summary import COLUMNS, MINIBATCH_NOTE, UNADJUSTED_NOTE, is_unadjusted

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1150px; padding: 1.2em 2em 3em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
.sub { color: #555; margin-top: 0; }
ul.warnings { list-style: none; padding: 0; }
li.warning { background: #fdecea; border-left: 5px solid #c62828; padding: 0.5em 0.8em;
             margin: 0.4em 0; }
li.warning b { color: #b71c1c; }
p.ok { background: #e8f5e9; border-left: 5px solid #2e7d32; padding: 0.5em 0.8em; }
p.note { background: #f3f3f3; border-left: 5px solid #888; padding: 0.5em 0.8em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e2e2e2; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
tr.flag td { background: #fff3e0; }
td.bad { color: #b71c1c; font-weight: bold; }
table.kv td { text-align: left; }
table.kv td:first-child { color: #555; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
"""


def data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(png, alt, caption):
    return (f'<figure><img src="{data_uri(png)}" alt="{escape(alt)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _num(value, col=""):
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if not np.isfinite(value):
        return "n/a"
    if col.startswith("ess"):
        return f"{value:.0f}"
    if col == "r_hat":
        return f"{value:.3f}" if value < 1e3 else f"{value:.3g}"  # a frozen chain's is huge
    return f"{value:.4g}"


def kv_table(pairs):
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def warnings_section(summary):
    if summary.warnings:
        items = "".join(f'<li class="warning"><b>{escape(w.kind)}</b>: {escape(w.message)}</li>'
                        for w in summary.warnings)
        body = f'<ul class="warnings">{items}</ul>'
    else:
        passed, skipped = summary.checks()
        text = ("No warnings: " + ", ".join(passed) + "."
                + (" Not checked: " + "; ".join(skipped) + "." if skipped else ""))
        body = ('<p class="ok">' + escape(text).replace("&lt;=", "&le;").replace("&gt;=", "&ge;")
                + "</p>")
    return f'<section id="warnings"><h2>Warnings</h2>{body}</section>'


def summary_table(summary, max_rows):
    s = summary
    t = s.thresholds
    ess_min = t["ess_per_chain_min"] * s.n_chains
    shown = rows_to_show(s, max_rows)
    head = "".join(f"<th>{c}</th>" for c in ("quantity",) + COLUMNS)
    rows = []
    for i in shown:
        cells = []
        for c in COLUMNS:
            v = s.columns[c][i]
            bad = (c == "r_hat" and v > t["rhat_max"]) or (c.startswith("ess") and v < ess_min)
            cls = ' class="bad"' if bad else ""
            cells.append(f"<td{cls}>{cell(s, c, i, _num)}</td>")
        cls = ' class="flag"' if s.flagged[i] else ""
        rows.append(f"<tr{cls}><td>{escape(s.labels[i])}</td>{''.join(cells)}</tr>")
    more = ""
    if len(shown) < len(s.labels):
        n_bad = int(s.flagged.sum()) - int(s.flagged[shown].sum())
        more = (f"<p>{len(s.labels) - len(shown)} more quantities not shown (the table keeps "
                f"the worst: flagged first, then by R-hat); {n_bad} of them flagged.</p>")
    if s.n_chains < 2:
        more += "<p>r_hat n/a: R-hat compares chains and needs at least 2.</p>"
    return (f'<table class="summary"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{more}")


def sampler_rows(summary):
    s = summary
    pairs = [("chains x draws", f"{s.n_chains} x {s.n_draws}")]
    if s.divergences is not None:
        pairs.append(("divergent transitions", str(s.divergences)))
    if s.acceptance is not None:
        per = ", ".join(f"{a:.3f}" for a in s.acceptance_per_chain)
        pairs.append(("mean acceptance rate", f"{s.acceptance:.3f} (per chain: {per})"
                      + (f"; {escape(UNADJUSTED_NOTE)}" if is_unadjusted(s) else "")))
    if s.ebfmi is not None:
        pairs.append(("E-BFMI per chain", ", ".join(f"{v:.2f}" for v in s.ebfmi)))
    if s.ksd is not None:
        wins = ", ".join(fmt_ksd(v) for v in s.ksd_windows)
        kept = ", ".join(str(int(n)) for n in s.ksd_points)
        caveat = ksd_caveat(s.ksd, s.ksd_points)
        pairs.append(("KSD (IMQ) vs model score",
                      (f"against {escape(s.ksd_score)}: "
                       if s.ksd_score != "the model score" else "")
                      + f"{escape(fmt_ksd(s.ksd))}" + (f" ({escape(caveat)})" if caveat else "")
                      + f"; per consecutive window of the run: {escape(wins)} (draws kept: "
                      f"{kept}); trend z = {_num(s.ksd_trend_z)} (warns beyond "
                      f"&plusmn;{s.thresholds['ksd_trend_z']})"))
    else:
        pairs.append(("KSD (IMQ) vs model score", "not computed (no model given)"))
    if s.ess_per_grad is not None:
        e = s.ess_per_grad
        pairs.append(("min ESS per gradient (bulk)",
                      f"{e['ess_bulk']:.4g} ({escape(str(e['ess_bulk_label']))})"))
        pairs.append(("min ESS per gradient (tail)",
                      f"{e['ess_tail']:.4g} ({escape(str(e['ess_tail_label']))})"))
        pairs.append(("gradient evaluations",
                      f"{_num(s.n_grad_warmup)} warm-up + {_num(s.n_grad_sampling)} sampling"
                      + (escape(MINIBATCH_NOTE) if s.minibatch_counts else "")))
    return pairs


def _compact(value, limit=8):
    """JSON-ready ``value`` with long arrays replaced by their shape and range."""
    if isinstance(value, dict):
        return {k: _compact(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.size > limit and np.issubdtype(arr.dtype, np.number):
            return (f"array of shape {arr.shape}: min {arr.min():.4g}, "
                    f"median {np.median(arr):.4g}, max {arr.max():.4g}")
        return arr.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def settings_section(summary, params, messages):
    run = summary.run
    pairs = [(k.replace("_", " "), escape(str(run[k])))
             for k in ("model", "kernel", "objective", "estimator", "tuning_seed", "seed")
             if k in run]
    pairs.append(("tuning interrupted", "yes" if run.get("tuning_interrupted") else "no"))
    pairs.append(("sampling interrupted", "yes" if run.get("interrupted") else "no"))
    if run.get("resume_seeds"):
        seeds = ", ".join("continued stream" if s is None else escape(str(s))
                          for s in run["resume_seeds"])
        pairs.append(("resumed", f"{len(run['resume_seeds'])} time(s) (seeds: {seeds})"))
    parts = [kv_table(pairs)]
    if params:
        parts.append("<h3>Tuned kernel parameters</h3>"
                     f"<pre>{escape(json.dumps(_compact(params), indent=1, default=repr))}</pre>")
    if "settings" in run:
        text = json.dumps(_compact(run["settings"]), indent=1, default=repr)
        parts.append(f"<h3>Settings</h3><pre>{escape(text)}</pre>")
    if messages:
        items = "".join(f"<li>{escape(m)}</li>" for m in messages)
        parts.append(f"<h3>Messages from tuning</h3><ul>{items}</ul>")
    return f'<section id="settings"><h2>Run settings</h2>{"".join(parts)}</section>'


def page(title, subtitle, sections):
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><p class=\"sub\">{escape(subtitle)}</p></header>"
            + "".join(sections) + "</body></html>\n")
