"""``resume``: continue the chains of a saved run with the kernel it was tuned to."""

import json
import warnings

import numpy as np

from .._validation import as_generator, positive_int
from ..adaptation.counting import CountingModel
from ..adaptation.progress import Progress
from ..errors import InputError
from .output import _named_dataset, _stats_dataset, draw_coords, rng_state, sampler_state
from .sample import run_chains

#: groups a resumed tree keeps; any other (e.g. the CLI's ``predictive``) described the
#: earlier draws only and is dropped
KEPT_GROUPS = ("posterior", "sample_stats", "warmup_posterior", "warmup_sample_stats",
               "adaptation", "sampler_state")


def resume(model, idata, draws=None, seed=None, progress=None):
    """Continue every chain of ``idata`` (a DataTree from :func:`~.sample.sample` or an
    earlier ``resume``, in memory or read back from NetCDF) for ``draws`` more draws, and
    return the tree with them appended.

    Parameters
    ----------
    model : Model
        The model that was sampled: its dimension and named variables are checked against
        the stored draws.
    idata : DataTree
        Holds the ``posterior`` and ``sampler_state`` groups (positions after the last
        draw, tuned φ) and the ``transition`` attribute (the kernel's constructor options).
        Chains may be selected (``idata.isel(chain=[0, 2])``) and burn-in dropped
        (``idata.isel(draw=slice(500, None))``) first; the appended draws carry on the
        chain labels and draw numbers. A tree whose end was cut cannot continue.
    draws : int or None
        Draws to add per chain. None: the draws an interrupted run still owes
        (``draws_requested`` minus the draws it has run).
    seed : None, int or Generator
        None continues the stored random stream (``rng_state``, rewound to the last kept
        draw when a step was interrupted half-way): a run interrupted and resumed is then
        draw for draw the run that was not interrupted. A seed starts a new stream instead.
    progress : None (on a terminal), True or False

    Chains restart from their stored positions: the log density and gradient there are
    evaluated once (counted in ``n_grad_sampling``); minibatch kernels (SGLD) restart from
    the full-data gradient, where an uninterrupted run would carry its last minibatch
    estimate. Groups derived from the earlier draws (anything but :data:`KEPT_GROUPS`) are
    dropped. As in ``sample``, a KeyboardInterrupt or a model failure keeps the draws
    completed so far.
    """
    from ..score._threads import compute_threads

    transition, phi, X, chains, last = _saved_state(idata)
    _check_model(model, idata, X)
    requested = int(idata.attrs.get("draws_requested", last + 1))
    if draws is None:
        draws = requested - (last + 1)
        if draws < 1:
            raise InputError(
                f"the run is complete ({last + 1} of {requested} draws per chain); pass "
                "draws= to add more (command line: --draws N).")
    draws = positive_int(draws, "draws", error=InputError)
    if seed is None and "rng_state" in idata.attrs:
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = json.loads(str(idata.attrs["rng_state"]))
        except (TypeError, ValueError, KeyError) as exc:
            raise InputError(f"the tree's rng_state attribute is not a generator state "
                             f"({exc}); pass a seed to resume with a new stream.") from None
    else:
        rng = as_generator(seed)
    with compute_threads():  # one BLAS thread by default, as in sample()
        counting = CountingModel(model)
        state = transition.init(counting, X)
        run = run_chains(counting, transition, phi, state, draws, rng,
                         Progress(draws, f"resume {transition.name}", progress))
    return _extend(idata, model, transition, phi, run, chains, last, counting, seed,
                   rng, requested=max(requested, last + 1 + draws))


def _saved_state(idata):
    """(transition, φ, positions (chains, d), chain labels, last draw index) of a tree, after
    checking that its posterior ends where its sampler state stands."""
    from .. import transitions

    children = getattr(idata, "children", {})
    if ("sampler_state" not in children or "posterior" not in children
            or "transition" not in idata.attrs):
        raise InputError(
            "this DataTree has no sampler state to continue from (the 'posterior' and "
            "'sampler_state' groups and the 'transition' attribute that sample() writes for "
            "the built-in kernels); sample again with mcmcadapt.sample.")
    try:
        spec = json.loads(str(idata.attrs["transition"]))
        transition = transitions.make(spec["kernel"], **spec["options"])
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(f"the tree's transition attribute does not describe a kernel "
                         f"({type(exc).__name__}: {exc}).") from None
    saved = idata["sampler_state"].to_dataset()
    X = np.array(saved["x"].values, dtype=np.float64)
    phi = np.array(saved["phi"].values, dtype=np.float64)
    chains = saved["chain"].values if "chain" in saved.coords else np.arange(X.shape[0])
    last = int(saved["last_draw"].values) if "last_draw" in saved else None
    post = idata["posterior"].to_dataset()
    labels = post["chain"].values if "chain" in post.coords else np.arange(post.sizes["chain"])
    if len(labels) != len(chains) or not np.array_equal(labels, chains):
        raise InputError(
            f"the posterior holds chains {labels.tolist()} but the sampler state chains "
            f"{np.asarray(chains).tolist()}; select chains on the whole tree (idata.isel("
            "chain=...) keeps both groups in step) or resume the tree sample() returned.")
    draws = post["draw"].values if "draw" in post.coords else np.arange(post.sizes["draw"])
    ends = int(draws[-1]) if draws.size else -1
    if last is None:
        last = ends
    if ends != last:
        raise InputError(
            f"the posterior ends at draw {ends} but the sampler state stands after draw "
            f"{last}: the chains can only continue from their last draw. Resume the tree "
            "before cutting its end (dropping burn-in at the start is fine).")
    return transition, phi, X, chains, last


def _check_model(model, idata, X):
    """The model must have the dimension and the named variables of the sampled one."""
    if X.shape[1] != model.dim:
        raise InputError(
            f"the saved chains have dimension {X.shape[1]} but the model has {model.dim}; "
            "resume with the model that was sampled.")
    named = {k: v.shape[2:] for k, v in model.to_named(X[:1, None, :]).items()}
    post = idata["posterior"].to_dataset()
    stored = {k: tuple(post[k].shape[2:]) for k in post.data_vars}
    if named != stored:
        raise InputError(
            f"the posterior holds variables {_shapes(stored)} but the model names "
            f"{_shapes(named)}; resume with the model that was sampled.")


def _shapes(variables):
    return ", ".join(f"{k}{list(v) if v else ''}" for k, v in sorted(variables.items()))


def _extend(idata, model, transition, phi, run, chains, last, counting, seed, rng, requested):
    """A new tree: ``idata``'s kept groups with ``run``'s draws appended after draw
    ``last``."""
    import xarray as xr

    coords = draw_coords(run.x.shape, last + 1, chains)
    appended = {"posterior": _named_dataset(model, run.x, coords),
                "sample_stats": _stats_dataset(run.stats, coords)}
    groups = {}
    for name in KEPT_GROUPS:
        if name in appended:
            groups[name] = xr.concat([idata[name].to_dataset(), appended[name]], dim="draw",
                                     join="exact")
        elif name in idata.children:
            groups[name] = idata[name].to_dataset()
    groups["sampler_state"], state_attrs = sampler_state(
        transition, phi, run.state.x, last + run.x.shape[1], chains)
    attrs = dict(idata.attrs)
    attrs.pop("error", None)
    seeds = json.loads(str(attrs.get("resume_seeds", "[]")))
    seeds.append(seed if isinstance(seed, (int, type(None))) else "generator")
    # the earlier draws' cost: the kept chains' share of what the run paid, or, for a tree
    # that does not say how many chains that covered, the kept draws' own counts
    if "chains_sampled" in attrs:
        share = min(len(chains) / max(int(attrs["chains_sampled"]), 1), 1.0)
        paid = int(attrs.get("n_grad_sampling", 0))
        before = int(round(paid * share))
        before_full = float(attrs.get("n_grad_full_sampling", paid)) * share
    else:
        before = int(idata["sample_stats"]["n_grad"].values.sum()) \
            if "n_grad" in idata["sample_stats"].data_vars else 0
        before_full = float(before)
    attrs.update(state_attrs, n_grad_sampling=before + counting.n_grad,
                 n_grad_full_sampling=before_full + counting.n_grad_full,
                 chains_sampled=len(chains),
                 interrupted=int(bool(run.interrupted)), draws_requested=int(requested),
                 rng_state=rng_state(rng), resume_seeds=json.dumps(seeds))
    if run.error is not None:
        attrs["error"] = str(run.error)
    tree = xr.DataTree.from_dict({"/": xr.Dataset(attrs=attrs), **groups})
    if "predictive" in idata.children:
        # the draws changed, so the derived quantities are computed again (the model's own;
        # quantities a caller supplied to add_predictive cannot be, and are said to be lost)
        from ..diagnostics.predictive import has_predictive, with_model_predictive

        stored = idata["predictive"]
        if has_predictive(model):
            tree = with_model_predictive(tree, model)
            # a caller's quantities are replaced even under the model's names; trees written
            # before the group recorded its source can only be compared by name
            source = stored.attrs.get("source")
            lost = (sorted(stored.data_vars) if source == "caller" else [] if source == "model"
                    else sorted(set(stored.data_vars) - set(tree["predictive"].data_vars)))
            if lost:
                warnings.warn(
                    f"the tree's 'predictive' group held quantities computed by the caller "
                    f"({', '.join(lost)}); it now holds the model's own. Call mcmcadapt."
                    "diagnostics.add_predictive(idata, model, quantities=...) on the resumed "
                    "tree to compute yours again.", RuntimeWarning, stacklevel=3)
            return tree
        warnings.warn("the tree's 'predictive' group was computed by quantities this model "
                      "does not define; call mcmcadapt.diagnostics.add_predictive(idata, model, "
                      "quantities=...) again on the resumed tree.", RuntimeWarning, stacklevel=3)
    return tree
