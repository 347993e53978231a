"""Loaders for the reference data sets in ``../shared/data`` (not shipped with the package).

``uci_binary/<name>/data.txt``: the six binary sets of Li & Turner (2018). With
``columns="standard"`` (default) the documented quirks are handled: australian's label is
column 14 (the Statlog class; column 0 is a feature), breast drops its sample-ID column 0,
crabs drops its within-group row counter (column 1). ``columns="paper"`` uses the
``index_features.txt``/``index_target.txt`` columns exactly as the paper's code did. Labels
coded 1/2 map to 0/1. ``logistic/german.csv`` (label 1/2 -> 0/1, 1 = bad credit) and
``logistic/caravan.csv`` (label 0/1): last column is the label.
"""

import numpy as np

from ..errors import HyperparameterError
from .core import binary_labels, split_and_standardize
from .paths import require_file, shared_data_root

UCI_BINARY = ("australian", "breast", "crabs", "ionosphere", "pima", "sonar")

# name -> (label column, columns dropped from the features)
_STANDARD = {
    "australian": (14, ()),
    "breast": (10, (0,)),
    "crabs": (0, (1,)),
    "ionosphere": (34, ()),
    "pima": (8, ()),
    "sonar": (60, ()),
}

LOGISTIC = ("german", "caravan")


def _columns(folder, name, columns, n_cols):
    if columns == "standard":
        label, dropped = _STANDARD[name]
        features = [c for c in range(n_cols) if c != label and c not in dropped]
    elif columns == "paper":
        features = np.loadtxt(require_file(folder / "index_features.txt"), dtype=int, ndmin=1)
        label = int(np.loadtxt(require_file(folder / "index_target.txt"), dtype=int))
    else:
        raise HyperparameterError(f"columns must be 'standard' or 'paper', got {columns!r}.")
    return list(features), label


def load_uci_binary(name, root=None, test_fraction=0.6, seed=0, columns="standard"):
    """One of :data:`UCI_BINARY` as a standardised :class:`~mcmcadapt.datasets.Dataset`.

    Defaults follow the paper's protocol: 40% of a seeded permutation to train, 60% to test,
    features standardised with the training statistics (the paper seeds splits with i*100).
    """
    if name not in _STANDARD:
        raise HyperparameterError(
            f"unknown UCI binary data set {name!r}; choose from {UCI_BINARY}.")
    folder = shared_data_root(root) / "uci_binary" / name
    data = np.loadtxt(require_file(folder / "data.txt"), dtype=np.float64, ndmin=2)
    features, label = _columns(folder, name, columns, data.shape[1])
    return split_and_standardize(
        data[:, features], binary_labels(data[:, label], name), name=name,
        task="classification", feature_names=tuple(f"col{c}" for c in features),
        test_fraction=test_fraction, seed=seed,
    )


def load_logistic(name, root=None, test_fraction=0.0, seed=0):
    """German credit or Caravan (:data:`LOGISTIC`); whole data standardised by default."""
    if name not in LOGISTIC:
        raise HyperparameterError(f"unknown logistic data set {name!r}; choose from {LOGISTIC}.")
    path = require_file(shared_data_root(root) / "logistic" / f"{name}.csv")
    data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    X = data[:, :-1]
    return split_and_standardize(
        X, binary_labels(data[:, -1], name), name=name, task="classification",
        feature_names=tuple(f"col{c}" for c in range(X.shape[1])),
        test_fraction=test_fraction, seed=seed,
    )
