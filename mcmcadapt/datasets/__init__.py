"""Data sets: small ones shipped with the package, and loaders for ``../shared/data``.

Every loader returns a :class:`Dataset`: a seeded train/test split with features
standardised by the training statistics (ddof = 0).
"""

from ..errors import HyperparameterError
from .core import Dataset, split_and_standardize, standardize_stats
from .paths import DataNotFoundError, shared_data_root
from .reference import LOGISTIC, UCI_BINARY, load_logistic, load_uci_binary
from .shipped import load_breast_cancer, load_diabetes

_SHIPPED = {"breast-cancer": load_breast_cancer, "diabetes": load_diabetes}


def available():
    """Names accepted by :func:`load`: shipped sets first, then the reference sets."""
    return list(_SHIPPED) + list(UCI_BINARY) + list(LOGISTIC)


def load(name, root=None, **kwargs):
    """Load a data set by name; ``root`` (reference sets only) and keyword arguments
    (``test_fraction``, ``seed``, ...) go to the specific loader."""
    if name in _SHIPPED:
        return _SHIPPED[name](**kwargs)
    if name in UCI_BINARY:
        return load_uci_binary(name, root=root, **kwargs)
    if name in LOGISTIC:
        return load_logistic(name, root=root, **kwargs)
    raise HyperparameterError(f"unknown data set {name!r}; available: {available()}.")


__all__ = [
    "Dataset", "DataNotFoundError", "available", "load", "load_breast_cancer", "load_diabetes",
    "load_logistic", "load_uci_binary", "shared_data_root", "split_and_standardize",
    "standardize_stats", "LOGISTIC", "UCI_BINARY",
]
