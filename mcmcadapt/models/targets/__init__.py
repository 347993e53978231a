"""Built-in targets with known or trusted truth, and a registry by name.

``get(name, **kwargs)`` builds a target; ``available()`` lists the names. Keyword arguments
go to the target's factory (e.g. ``get("gaussian", dim=50)``, ``get("bnn-australian",
seed=100, root="/data/shared")``). Targets on reference data need ``../shared/data`` (see
:func:`mcmcadapt.datasets.shared_data_root`).
"""

from functools import partial

from ...datasets import UCI_BINARY
from ...errors import HyperparameterError
from .bnn import BNN, bnn_dataset
from .eight_schools import eight_schools
from .gaussian import correlated_gaussian, gaussian, iid_gaussian, illcond100, neal100
from .logistic import logistic_dataset, logistic_regression
from .toy import banana, funnel, mixture

_REGISTRY = {
    "gaussian": iid_gaussian,
    "correlated-gaussian": correlated_gaussian,
    "neal100": neal100,
    "illcond100": illcond100,
    "funnel10": partial(funnel, dim=10),
    "banana": banana,
    "mixture": mixture,
    "eight-schools": partial(eight_schools, centered=True),
    "eight-schools-nc": partial(eight_schools, centered=False),
    "logistic-german": partial(logistic_dataset, "german"),
    "logistic-caravan": partial(logistic_dataset, "caravan"),
    "logistic-breast-cancer": partial(logistic_dataset, "breast-cancer"),
    "bnn-breast-cancer": partial(bnn_dataset, "breast-cancer"),
    "bnn-diabetes": partial(bnn_dataset, "diabetes", test_fraction=0.2, activation="tanh",
                            noise_prior=(1.0, 0.1)),
    **{f"bnn-{name}": partial(bnn_dataset, name, hidden=20 if name == "crabs" else 50)
       for name in UCI_BINARY},
}

# Targets whose data live in ../shared/data (the rest need nothing outside the package).
NEEDS_SHARED_DATA = frozenset(
    ["logistic-german", "logistic-caravan"] + [f"bnn-{name}" for name in UCI_BINARY]
)


def available():
    """Registered target names."""
    return list(_REGISTRY)


def get(name, **kwargs):
    """Build the registered target ``name``; keyword arguments override its defaults."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise HyperparameterError(f"unknown target {name!r}; available: {available()}.") from None
    try:
        return factory(**kwargs)
    except TypeError as exc:  # an unknown keyword, or a value of the wrong type
        raise HyperparameterError(
            f"target {name!r} cannot be built with {kwargs!r}: {exc}.") from None


__all__ = [
    "BNN", "NEEDS_SHARED_DATA", "available", "banana", "bnn_dataset", "correlated_gaussian",
    "eight_schools", "funnel", "gaussian", "get", "iid_gaussian", "illcond100",
    "logistic_dataset", "logistic_regression", "mixture", "neal100",
]
