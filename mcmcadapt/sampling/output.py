"""Assemble the ArviZ 1.x DataTree of a run (groups per docs/architecture.md).

Groups
------
posterior            (chain, draw, <var>_dim_k...) named variables, constrained space
sample_stats         (chain, draw): acceptance_rate, step_size, diverging, lp, n_grad, energy
warmup_posterior     the warm-up record of the tuning population: ``record_chains`` chains
warmup_sample_stats  (default 4) kept every ``warmup_thin``-th iteration (coordinate ``draw``
                     holds the iteration number), so at most ``warmup_max_draws`` draws each
adaptation          (iteration): objective, acceptance_rate, step_size, grad_norm, beta,
                     status, n_bad, n_grad (cumulative); parameters from ``describe(φ)`` as
                     ``param_<name>`` on dim ``param_iteration`` (every iteration unless thinned)
sampler_state        what continuing the run needs (:func:`~.resume.resume`): ``x`` (chain,
                     unconstrained_dim), the unconstrained positions after the draw
                     ``last_draw`` (the last one kept), and ``phi`` (phi_dim), the tuned
                     kernel parameters
Root attributes: model, kernel, objective, estimator, n_grad_warmup, n_grad_sampling (every
gradient the sampling paid for, a resume's restarts included), n_grad_full_warmup and
n_grad_full_sampling (the same in full-data gradients: a minibatch gradient counts its share
of the data; what ESS per gradient divides by), chains_sampled (the chains those counts
cover; a tree whose chains are selected afterwards counts its share), seed,
settings (JSON), interrupted (0/1), tuning_interrupted (0/1), params (JSON of describe(φ)),
tuning_seed, ``error`` when a model failure stopped sampling, draws_requested (the draws
per chain asked for, resumed ones included), ``transition`` (JSON {"kernel": name,
"options": constructor options}; absent for a custom kernel without
:meth:`~mcmcadapt.transitions.base.Transition.config`), ``rng_state`` (JSON of the random
generator's state after the last draw, so that a resumed run continues the same stream) and
``resume_seeds`` (JSON list, one entry per resumption: the seed given, or null).
"""

import json

import numpy as np


def _named_dataset(model, X, extra_coords):
    """Dataset of the named variables of ``model`` for positions X (chain, draw, d)."""
    import xarray as xr

    data, coords = {}, dict(extra_coords)
    for name, arr in model.to_named(X).items():
        dims = ["chain", "draw"] + [f"{name}_dim_{k}" for k in range(arr.ndim - 2)]
        data[name] = (dims, arr)
        # index coordinates, as ArviZ's converters give them (its plots select by them)
        coords.update({dim: np.arange(size) for dim, size in zip(dims[2:], arr.shape[2:])})
    return xr.Dataset(data, coords=coords, attrs=group_attrs())


def group_attrs():
    """ArviZ's provenance attributes of a group (creation time, libraries and versions)."""
    import arviz_base as azb

    from .. import __version__

    return {**azb.make_attrs(), "inference_library": "mcmcadapt",
            "inference_library_version": __version__}


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def draw_coords(shape, first, chains=None):
    """Coordinates of draws ``first, first + 1, …`` for an array (chain, draw, ...), with
    chain labels ``chains`` (default 0, 1, …)."""
    return {"chain": np.arange(shape[0]) if chains is None else np.asarray(chains),
            "draw": np.arange(first, first + shape[1])}


def _stats_dataset(stats, coords):
    import xarray as xr

    return xr.Dataset({k: (("chain", "draw"), v) for k, v in stats.items()}, coords=coords,
                      attrs=group_attrs())


def sampler_state(transition, phi, x, last_draw, chains):
    """The ``sampler_state`` group and the root attributes that continuing a run needs:
    the unconstrained positions ``x`` (chain, d) after draw ``last_draw`` (−1: before the
    first), φ, and the kernel's constructor options (omitted for a custom kernel without
    ``config()``)."""
    import xarray as xr

    group = xr.Dataset({"x": (("chain", "unconstrained_dim"), np.asarray(x, dtype=np.float64)),
                        "phi": (("phi_dim",), np.asarray(phi, dtype=np.float64)),
                        "last_draw": ((), np.int64(last_draw))},
                       coords={"chain": np.asarray(chains)})
    try:
        spec = {"kernel": transition.name, "options": transition.config()}
        attrs = {"transition": json.dumps(spec)}
    except (NotImplementedError, TypeError):  # no config(), or options that are not JSON
        attrs = {}
    return group, attrs


def rng_state(rng):
    """JSON of a Generator's bit-generator state (Python ints: exact)."""
    return json.dumps(rng.bit_generator.state)


def build_datatree(model, result, run, counting, seed, rng, draws_requested):
    """DataTree from a :class:`~.sample.ChainRun` (draws, per-draw stats, final state) and
    the tuning result (its history and warm-up record); ``counting`` is the sampling's
    :class:`~mcmcadapt.adaptation.counting.CountingModel`, ``rng`` the generator the draws
    came from (its state is kept for :func:`~.resume.resume`)."""
    import xarray as xr

    coords = draw_coords(run.x.shape, 0)
    groups = {"posterior": _named_dataset(model, run.x, coords),
              "sample_stats": _stats_dataset(run.stats, coords)}
    wd = result.warmup_draws
    if wd is not None and wd["x"].shape[1] > 0:
        k, T, _ = wd["x"].shape
        wcoords = {"chain": np.arange(k), "draw": wd["iteration"]}
        groups["warmup_posterior"] = _named_dataset(model, wd["x"], wcoords)
        wstats = {name: (("chain", "draw"), wd[name])
                  for name in ("lp", "acceptance_rate", "diverging", "n_grad", "energy")
                  if name in wd}
        wstats["step_size"] = (("chain", "draw"), np.broadcast_to(wd["step_size"], (k, T)))
        groups["warmup_sample_stats"] = xr.Dataset(wstats, coords=wcoords, attrs=group_attrs())
    h = result.history
    n_it = len(h["acceptance_rate"])
    adapt = {name: ("iteration", h[name]) for name in
             ("objective", "acceptance_rate", "step_size", "grad_norm", "beta", "status",
              "n_bad", "n_grad")}
    for name, arr in h["params"].items():
        arr = np.asarray(arr)
        dims = ["param_iteration"] + [f"{name}_dim_{k}" for k in range(arr.ndim - 1)]
        adapt[f"param_{name}"] = (dims, arr)
    groups["adaptation"] = xr.Dataset(
        adapt, coords={"iteration": np.arange(n_it), "param_iteration": h["param_iteration"]})
    groups["sampler_state"], state_attrs = sampler_state(
        result.transition, result.phi, run.state.x, run.x.shape[1] - 1, coords["chain"])
    attrs = {
        "model": str(result.model_name or getattr(model, "name", "model")),
        "kernel": str(result.kernel), "objective": str(result.objective),
        "estimator": str(result.estimator),
        "n_grad_warmup": int(result.n_grad), "n_grad_sampling": int(counting.n_grad),
        "n_grad_full_warmup": float(result.n_grad if getattr(result, "n_grad_full", None)
                                    is None else result.n_grad_full),
        "n_grad_full_sampling": float(counting.n_grad_full),
        "chains_sampled": int(run.x.shape[0]),
        "seed": json.dumps(seed if isinstance(seed, (int, type(None))) else "generator"),
        "tuning_seed": json.dumps(result.seed),
        "settings": json.dumps(result.settings),
        "params": json.dumps(_jsonable(result.params)),
        "interrupted": int(bool(run.interrupted)),
        "tuning_interrupted": int(bool(result.interrupted)),
        "draws_requested": int(draws_requested),
        "rng_state": rng_state(rng),
        "resume_seeds": json.dumps([]),
        **state_attrs,
    }
    if run.error is not None:
        attrs["error"] = str(run.error)
    return xr.DataTree.from_dict({"/": xr.Dataset(attrs=attrs), **groups})
