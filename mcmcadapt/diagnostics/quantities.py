"""Which scalar quantities the convergence diagnostics are computed on.

By default every scalar entry of the ``posterior`` group (``theta[0]``, ``W[1,2]``, ...).
When a model's parameters are not identifiable — a Bayesian neural network's weights can be
permuted and sign-flipped without changing the likelihood, so chains legitimately sit in
different modes and R-hat on weights says nothing about the predictions — the sampling
output carries a ``predictive`` group of per-draw derived quantities (test log-likelihood,
predictive probabilities of held-out points), and those are diagnosed instead. Its ``reason``
attribute says why.
"""

from typing import NamedTuple

import numpy as np

from ..errors import InputError

PREDICTIVE_GROUP = "predictive"
SAMPLE_DIMS = ("chain", "draw")


class Quantities(NamedTuple):
    """Draws of ``k`` scalar quantities, ``draws`` (chain, draw, k), with their labels.

    ``source`` is the DataTree group they come from; ``note`` says why they were chosen.
    """

    draws: np.ndarray
    labels: list
    source: str
    note: str


def _label(name, index):
    return name if not index else f"{name}[{','.join(str(i) for i in index)}]"


def flatten_group(ds, group):
    """Stack every variable of a (chain, draw, ...) Dataset into ``(chain, draw, k)``."""
    blocks, labels = [], []
    for name, da in ds.data_vars.items():
        if tuple(da.dims[:2]) != SAMPLE_DIMS:
            raise InputError(
                f"variable {name!r} of group {group!r} has dims {da.dims}; the sampling "
                "output must put (chain, draw) first."
            )
        values = np.asarray(da.values, dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            c, t, *index = np.argwhere(bad)[0]
            raise InputError(
                f"{_label(name, index)} of group {group!r} is {values[bad][0]} at chain "
                f"{c}, draw {t} ({int(bad.sum())} non-finite values): diagnostics need finite "
                "draws. Check how the tree was built or edited (e.g. groups concatenated "
                "with mismatched variables or chains).")
        shape = values.shape[2:]
        blocks.append(values.reshape(values.shape[:2] + (-1,)))
        labels.extend(_label(name, idx) for idx in np.ndindex(*shape))
    if not blocks:
        raise InputError(f"group {group!r} has no variables to diagnose.")
    return np.concatenate(blocks, axis=2), labels


def group_names(idata):
    return set(idata.children)


def diagnosed_quantities(idata):
    """The :class:`Quantities` to diagnose in a sampling output DataTree (see module doc)."""
    groups = group_names(idata)
    if PREDICTIVE_GROUP in groups:
        node = idata[PREDICTIVE_GROUP]
        draws, labels = flatten_group(node.to_dataset(), PREDICTIVE_GROUP)
        note = node.attrs.get("reason", "derived predictive quantities")
        return Quantities(draws, labels, PREDICTIVE_GROUP, str(note))
    if "posterior" not in groups:
        raise InputError(
            "the DataTree has no 'posterior' group; pass the output of mcmcadapt.sample "
            f"(groups found: {sorted(groups)})."
        )
    draws, labels = flatten_group(idata["posterior"].to_dataset(), "posterior")
    return Quantities(draws, labels, "posterior", "model parameters (posterior group)")


def posterior_flat(idata, model):
    """Posterior draws in the model's unconstrained flat coordinates, ``(chain, draw, dim)``."""
    ds = idata["posterior"].to_dataset()
    missing = [v.name for v in model.variables if v.name not in ds]
    if missing:
        raise InputError(
            f"the posterior lacks variables {missing} of model {model.name!r}; was it sampled "
            "from this model?"
        )
    return model.from_named({v.name: ds[v.name].values for v in model.variables})
