"""The :class:`Dataset` container and the seeded split + standardisation every loader uses."""

from dataclasses import dataclass

import numpy as np

from .._validation import as_generator
from ..errors import HyperparameterError, InputError


@dataclass(frozen=True)
class Dataset:
    """A train/test split with features standardised by the training statistics.

    ``X_*`` (n, d) float64; ``y_*`` (n,) float64 — labels in {0, 1} for
    ``task == "classification"``, standardised responses for ``"regression"`` (original
    units: ``y * y_scale + y_mean``). ``x_mean``/``x_scale`` (d,) are the training mean and
    population (ddof = 0) standard deviation, with scale 1 for a constant column.
    """

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float
    test_fraction: float
    seed: object

    @property
    def n_features(self):
        return self.X_train.shape[1]


def standardize_stats(X):
    """Column mean and population (ddof = 0) standard deviation; 1 where a column is constant."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def split_and_standardize(X, y, *, name, task, feature_names, test_fraction=0.0, seed=0):
    """Split rows by a seeded permutation and standardise with the training part's statistics.

    With ``test_fraction == 0`` every row is used for training, in the original order, and
    the test arrays are empty. Otherwise the last ``round(test_fraction * n)`` rows of
    ``permutation(n)`` (from ``numpy.random.default_rng(seed)`` or the given Generator) form
    the test set. Regression responses are standardised the same way.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise InputError(f"X must be (n, d) and y (n,); got {X.shape} and {y.shape}.")
    if task not in ("classification", "regression"):
        raise HyperparameterError(f"task must be 'classification' or 'regression', got {task!r}.")
    try:
        test_fraction = float(test_fraction)
    except (TypeError, ValueError):
        raise HyperparameterError(
            f"test_fraction must be a number, got {test_fraction!r}.") from None
    if not 0.0 <= test_fraction < 1.0:
        raise HyperparameterError(f"test_fraction must be in [0, 1), got {test_fraction}.")
    n = X.shape[0]
    n_test = int(round(test_fraction * n))
    if test_fraction > 0:
        if n_test < 1 or n - n_test < 2:
            raise HyperparameterError(
                f"test_fraction={test_fraction} leaves {n - n_test} training and {n_test} test "
                f"rows out of {n}; choose a fraction that keeps both non-trivial."
            )
        perm = as_generator(seed).permutation(n)
        train, test = perm[: n - n_test], perm[n - n_test:]
    else:
        train, test = np.arange(n), np.arange(0)
    x_mean, x_scale = standardize_stats(X[train])
    y_mean, y_scale = 0.0, 1.0
    if task == "regression":
        y_mean = float(y[train].mean())
        y_scale = float(y[train].std()) or 1.0
    return Dataset(
        name=name,
        task=task,
        X_train=(X[train] - x_mean) / x_scale,
        y_train=(y[train] - y_mean) / y_scale,
        X_test=(X[test] - x_mean) / x_scale,
        y_test=(y[test] - y_mean) / y_scale,
        feature_names=tuple(feature_names),
        x_mean=x_mean,
        x_scale=x_scale,
        y_mean=y_mean,
        y_scale=y_scale,
        test_fraction=test_fraction,
        seed=seed,
    )


def binary_labels(y, name):
    """Map a two-valued label column to {0, 1} (the larger value becomes 1)."""
    values = np.unique(y)
    if values.size != 2:
        raise InputError(f"{name}: expected two label values, found {values.size}: {values[:5]}.")
    return (y == values[1]).astype(np.float64)
