"""Figures of the report, each returned as PNG bytes (matplotlib Agg backend).

Trace and rank plots come from ArviZ's plotting (arviz_plots, matplotlib backend); the
adaptation curves and the efficiency comparison are plain matplotlib line and bar charts.
All imports are local: matplotlib and ArviZ take seconds to import.
"""

import io

import numpy as np

DPI = 80


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig):
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _selection_tree(draws, labels):
    """A DataTree with one scalar (chain, draw) variable per label, for arviz_plots."""
    import xarray as xr

    chains, n_draws, _ = draws.shape
    ds = xr.Dataset({lab: (("chain", "draw"), draws[:, :, i]) for i, lab in enumerate(labels)},
                    coords={"chain": np.arange(chains), "draw": np.arange(n_draws)})
    return xr.DataTree.from_dict({"posterior": ds})


def trace_and_rank(draws, labels):
    """``(trace_png, rank_png)`` for draws (chain, draw, k) of the quantities ``labels``:
    a trace with per-chain densities, and fractional-rank Δ-ECDF plots (ArviZ). Rank plots
    compare chains, so with a single chain ``rank_png`` is None."""
    _pyplot()
    import arviz_plots as azp

    tree = _selection_tree(draws, labels)
    pngs = []
    for plot in (azp.plot_trace_dist, azp.plot_rank):
        if plot is azp.plot_rank and draws.shape[0] < 2:
            pngs.append(None)
            continue
        fig = plot(tree, backend="matplotlib").viz["figure"].item()
        fig.tight_layout()  # arviz_plots' grid lets titles of a second row overlap the first
        pngs.append(_png(fig))
    return tuple(pngs)


def _param_lines(values):
    """Lines to draw for one recorded parameter of shape (iterations, ...): the matrix
    diagonal for a dense preconditioner, every coordinate when there are few, else the
    min / median / max over coordinates."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 3 and v.shape[1] == v.shape[2]:
        v = np.diagonal(v, axis1=1, axis2=2)
    v = v.reshape(v.shape[0], -1)
    if v.shape[1] <= 8:
        return [(f"[{j}]" if v.shape[1] > 1 else "", v[:, j]) for j in range(v.shape[1])]
    return [("min", v.min(axis=1)), ("median", np.median(v, axis=1)), ("max", v.max(axis=1))]


def adaptation_curves(adaptation, target_accept=None):
    """PNG of the adaptation record: objective, acceptance rate, step size, and every other
    recorded parameter (``param_<name>``) against the iteration. ``adaptation`` is the
    ``adaptation`` group as an xarray Dataset."""
    plt = _pyplot()
    panels = []
    it = np.asarray(adaptation["iteration"].values) if "iteration" in adaptation.coords else None
    for name, title, log in (("objective", "objective", False),
                             ("acceptance_rate", "acceptance rate", False),
                             ("step_size", "step size", True)):
        if name in adaptation:
            y = np.asarray(adaptation[name].values, dtype=np.float64)
            x = it if it is not None and len(it) == len(y) else np.arange(len(y))
            panels.append((title, [("", x, y)], log, name == "acceptance_rate"))
    pit = (np.asarray(adaptation["param_iteration"].values)
           if "param_iteration" in adaptation.coords else None)
    for name in adaptation.data_vars:
        if not name.startswith("param_") or name == "param_step_size":
            continue
        values = np.asarray(adaptation[name].values)
        if not np.issubdtype(values.dtype, np.number) or values.size == 0:
            continue
        x = pit if pit is not None and len(pit) == values.shape[0] else np.arange(values.shape[0])
        lines = [(lab, x, y) for lab, y in _param_lines(values)]
        panels.append((name[len("param_"):].replace("_", " "), lines, True, False))
    if not panels:
        return None
    ncols = 2
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 3.0 * nrows), squeeze=False)
    for ax, (title, lines, log, is_acc) in zip(axes.flat, panels):
        for lab, x, y in lines:
            ax.plot(x, y, lw=1.2, label=lab or None)
        if is_acc and target_accept is not None:
            ax.axhline(target_accept, color="0.4", ls="--", lw=1, label="target")
        if log and all(np.all(np.asarray(y)[np.isfinite(y)] > 0) for _, _, y in lines):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("iteration")
        if any(lab for lab, _, _ in lines) or (is_acc and target_accept is not None):
            ax.legend(fontsize=8, ncol=2)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


def efficiency_comparison(rows):
    """PNG bar chart of min ESS per gradient evaluation (bulk and tail), one bar group per
    run; ``rows`` is a list of ``(run label, ess_bulk_per_grad, ess_tail_per_grad)``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.9 * len(rows)))
    y = np.arange(len(rows))
    h = 0.38
    ax.barh(y - h / 2, [r[1] for r in rows], height=h, label="bulk")
    ax.barh(y + h / 2, [r[2] for r in rows], height=h, label="tail")
    ax.set_yticks(y, [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("min ESS per gradient evaluation (warm-up counted)")
    ax.legend()
    fig.tight_layout()
    return _png(fig)
