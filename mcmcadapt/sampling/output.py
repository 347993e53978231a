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
Root attributes: model, kernel, objective, estimator, n_grad_warmup, n_grad_sampling, seed,
settings (JSON), interrupted (0/1), tuning_interrupted (0/1), params (JSON of describe(φ)),
tuning_seed, and ``error`` when a model failure stopped sampling.
"""

import json

import numpy as np


def _named_dataset(model, X, extra_coords):
    """Dataset of the named variables of ``model`` for positions X (chain, draw, d)."""
    import xarray as xr

    data = {}
    for name, arr in model.to_named(X).items():
        dims = ["chain", "draw"] + [f"{name}_dim_{k}" for k in range(arr.ndim - 2)]
        data[name] = (dims, arr)
    return xr.Dataset(data, coords=extra_coords)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def build_datatree(model, result, X, stats, n_grad_sampling, interrupted, seed, error=None):
    """DataTree from draws X (chain, draw, d), per-draw ``stats`` (chain, draw) and the
    tuning result (its history and warm-up record)."""
    import xarray as xr

    chains, draws, _ = X.shape
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    groups = {"posterior": _named_dataset(model, X, coords),
              "sample_stats": xr.Dataset({k: (("chain", "draw"), v) for k, v in stats.items()},
                                         coords=coords)}
    wd = result.warmup_draws
    if wd is not None and wd["x"].shape[1] > 0:
        k, T, _ = wd["x"].shape
        wcoords = {"chain": np.arange(k), "draw": wd["iteration"]}
        groups["warmup_posterior"] = _named_dataset(model, wd["x"], wcoords)
        wstats = {name: (("chain", "draw"), wd[name])
                  for name in ("lp", "acceptance_rate", "diverging", "n_grad", "energy")
                  if name in wd}
        wstats["step_size"] = (("chain", "draw"), np.broadcast_to(wd["step_size"], (k, T)))
        groups["warmup_sample_stats"] = xr.Dataset(wstats, coords=wcoords)
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
    attrs = {
        "model": str(result.model_name or getattr(model, "name", "model")),
        "kernel": str(result.kernel), "objective": str(result.objective),
        "estimator": str(result.estimator),
        "n_grad_warmup": int(result.n_grad), "n_grad_sampling": int(n_grad_sampling),
        "seed": json.dumps(seed if isinstance(seed, (int, type(None))) else "generator"),
        "tuning_seed": json.dumps(result.seed),
        "settings": json.dumps(result.settings),
        "params": json.dumps(_jsonable(result.params)),
        "interrupted": int(bool(interrupted)),
        "tuning_interrupted": int(bool(result.interrupted)),
    }
    if error is not None:
        attrs["error"] = str(error)
    tree = xr.DataTree.from_dict({"/": xr.Dataset(attrs=attrs), **groups})
    return tree
