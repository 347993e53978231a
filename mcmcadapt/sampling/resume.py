"""``resume``: continue the chains of a saved run with the kernel it was tuned to."""

import json

import numpy as np

from .._validation import as_generator
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
        The model that was sampled (its dimension is checked against the stored state).
    idata : DataTree
        Holds the ``sampler_state`` group (positions after the last draw, tuned φ) and the
        ``transition`` attribute (the kernel's constructor options).
    draws : int or None
        Draws to add per chain. None: the draws an interrupted run still owes
        (``draws_requested`` minus the draws it holds).
    seed : None, int or Generator
        None continues the stored random stream (``rng_state``): a run interrupted between
        two draws and resumed is then draw for draw the run that was not interrupted. A
        seed starts a new stream instead.
    progress : None (on a terminal), True or False

    Chains restart from their stored positions: the log density and gradient there are
    evaluated once (counted in ``n_grad_sampling``); minibatch kernels (SGLD) restart from
    the full-data gradient, where an uninterrupted run would carry its last minibatch
    estimate. Groups derived from the earlier draws (anything but :data:`KEPT_GROUPS`) are
    dropped. As in ``sample``, a KeyboardInterrupt or a model failure keeps the draws
    completed so far.
    """
    from .. import transitions
    from ..score._threads import compute_threads

    if "sampler_state" not in getattr(idata, "children", {}) or "transition" not in idata.attrs:
        raise InputError(
            "this DataTree has no sampler state to continue from (the 'sampler_state' group "
            "and 'transition' attribute that sample() writes for the built-in kernels); "
            "sample again with mcmcadapt.sample.")
    spec = json.loads(str(idata.attrs["transition"]))
    transition = transitions.make(spec["kernel"], **spec["options"])
    state_group = idata["sampler_state"]
    X = np.array(state_group["x"].values, dtype=np.float64)
    phi = np.array(state_group["phi"].values, dtype=np.float64)
    if X.shape[1] != model.dim:
        raise InputError(
            f"the saved chains have dimension {X.shape[1]} but the model has {model.dim}; "
            "resume with the model that was sampled.")
    done = int(idata["posterior"].sizes.get("draw", 0))
    requested = int(idata.attrs.get("draws_requested", done))
    if draws is None:
        draws = requested - done
        if draws < 1:
            raise InputError(
                f"the run is complete ({done} of {requested} draws per chain); pass draws= "
                "to add more.")
    draws = int(draws)
    if draws < 1:
        raise InputError(f"draws must be a positive integer, got {draws}.")
    if seed is None and "rng_state" in idata.attrs:
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(str(idata.attrs["rng_state"]))
    else:
        rng = as_generator(seed)
    with compute_threads():  # one BLAS thread by default, as in sample()
        counting = CountingModel(model)
        state = transition.init(counting, X)
        run = run_chains(counting, transition, phi, state, draws, rng,
                         Progress(draws, f"resume {transition.name}", progress))
    return _extend(idata, model, transition, phi, run, done, counting.n_grad, seed, rng,
                   requested=max(requested, done + draws))


def _extend(idata, model, transition, phi, run, done, n_grad, seed, rng, requested):
    """A new tree: ``idata``'s kept groups with ``run``'s draws appended."""
    import xarray as xr

    coords = draw_coords(run.x.shape, done)
    appended = {"posterior": _named_dataset(model, run.x, coords),
                "sample_stats": _stats_dataset(run.stats, coords)}
    groups = {}
    for name in KEPT_GROUPS:
        if name in appended:
            groups[name] = xr.concat([idata[name].to_dataset(), appended[name]], dim="draw")
        elif name in idata.children:
            groups[name] = idata[name].to_dataset()
    groups["sampler_state"], state_attrs = sampler_state(transition, phi, run.state.x)
    attrs = dict(idata.attrs)
    attrs.pop("error", None)
    seeds = json.loads(str(attrs.get("resume_seeds", "[]")))
    seeds.append(seed if isinstance(seed, (int, type(None))) else "generator")
    attrs.update(state_attrs, n_grad_sampling=int(attrs.get("n_grad_sampling", 0)) + int(n_grad),
                 interrupted=int(bool(run.interrupted)), draws_requested=int(requested),
                 rng_state=rng_state(rng), resume_seeds=json.dumps(seeds))
    if run.error is not None:
        attrs["error"] = str(run.error)
    return xr.DataTree.from_dict({"/": xr.Dataset(attrs=attrs), **groups})
