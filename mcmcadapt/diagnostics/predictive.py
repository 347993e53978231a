"""Derived per-draw quantities for models whose parameters are not identifiable.

A model may define ``predictive_quantities(X) -> dict`` mapping names to arrays of shape
``(n,)`` or ``(n, k)`` for unconstrained draws ``X`` (n, d), and a ``predictive_reason``
string (the built-in Bayesian neural networks do: per-draw test log-likelihood and
predictions at a few held-out points).
:func:`add_predictive` evaluates them on every posterior draw and stores them as the
``predictive`` group, which the diagnostics then use in place of the raw parameters (see
:mod:`.quantities`). Storing them makes the saved ``idata.nc`` self-contained: a report can
be re-rendered without the model.
"""

import numpy as np

from ..errors import InputError, ModelError
from .quantities import PREDICTIVE_GROUP, posterior_flat

DEFAULT_REASON = (
    "the model's parameters are not identifiable, so convergence is judged on predictive "
    "quantities instead of the raw parameters"
)


def default_quantities(model):
    """``(quantities, reason)`` for ``model``, or ``(None, None)`` when its parameters are
    diagnosed directly."""
    fn = getattr(model, "predictive_quantities", None)
    if callable(fn):
        return fn, getattr(model, "predictive_reason", DEFAULT_REASON)
    return None, None


def has_predictive(model):
    return default_quantities(model)[0] is not None


def with_model_predictive(idata, model):
    """``idata`` with the ``predictive`` group of ``model``'s own quantities added when it
    has none and the model defines them (else ``idata`` unchanged): what the diagnostics of a
    model with non-identifiable parameters (a Bayesian neural network) must look at."""
    from .quantities import group_names

    if model is None or PREDICTIVE_GROUP in group_names(idata) or not has_predictive(model):
        return idata
    return add_predictive(idata, model)


def add_predictive(idata, model, quantities=None, reason=None, batch=512):
    """Return ``idata`` with a ``predictive`` group of derived per-draw quantities.

    ``quantities`` (default: :func:`default_quantities` of the model) maps unconstrained
    draws (n, d) to a dict of (n,) or (n, k) arrays; it is called on batches of ``batch``
    draws. ``reason`` is stored as the group's ``reason`` attribute and shown in the
    diagnostics and the report; ``source`` records whose quantities they are ("model" or
    "caller").
    """
    import xarray as xr

    fn, why = (quantities, reason) if quantities is not None else default_quantities(model)
    if not callable(fn):
        raise InputError(
            f"model {getattr(model, 'name', '?')!r} defines no predictive_quantities(X); pass "
            "quantities=callable mapping draws (n, d) to a dict of (n,) or (n, k) arrays."
        )
    flat = posterior_flat(idata, model)
    n_chain, n_draw, dim = flat.shape
    if n_chain * n_draw == 0:
        raise InputError("the posterior holds no draws; predictive quantities need at least one.")
    X = flat.reshape(-1, dim)
    parts = [fn(X[i:i + batch]) for i in range(0, X.shape[0], batch)]
    data = {}
    for name in parts[0]:
        arr = np.concatenate([np.asarray(p[name], dtype=np.float64) for p in parts])
        if arr.ndim not in (1, 2) or arr.shape[0] != X.shape[0]:
            raise ModelError(
                f"predictive quantity {name!r} has shape {arr.shape}; expected ({X.shape[0]},)"
                " or (n, k) for the draws passed in."
            )
        if not np.all(np.isfinite(arr)):
            raise ModelError(f"predictive quantity {name!r} is not finite for some draws.")
        arr = arr.reshape((n_chain, n_draw) + arr.shape[1:])
        dims = ("chain", "draw") + ((f"{name}_dim_0",) if arr.ndim == 3 else ())
        data[name] = (dims, arr)
    why = reason if reason is not None else (why or DEFAULT_REASON)
    post = idata["posterior"]
    ds = xr.Dataset(data, coords={"chain": post["chain"].values, "draw": post["draw"].values},
                    attrs={"reason": str(why),
                           # resume recomputes the model's own; a caller's it cannot
                           "source": "model" if quantities is None else "caller"})
    out = idata.copy()
    out[PREDICTIVE_GROUP] = xr.DataTree(ds)
    return out
