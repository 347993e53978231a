"""Small real data sets shipped inside the package (``mcmcadapt/data/*.csv``).

Exported once from scikit-learn's bundled copies; source, licence and the export command are
in the repository's ``data/README.md``. Each CSV has a header row; the last column is the
target.
"""

from importlib import resources

import numpy as np

from .core import split_and_standardize


def _read(filename):
    with resources.files("mcmcadapt").joinpath("data", filename).open("r") as fh:
        header = fh.readline().strip().split(",")
        values = np.loadtxt(fh, delimiter=",", dtype=np.float64, ndmin=2)
    return values[:, :-1], values[:, -1], tuple(header[:-1])


def load_breast_cancer(test_fraction=0.0, seed=0):
    """Wisconsin diagnostic breast cancer: 569 x 30, binary (1 = benign, 0 = malignant)."""
    X, y, names = _read("breast_cancer.csv")
    return split_and_standardize(
        X, y, name="breast-cancer", task="classification", feature_names=names,
        test_fraction=test_fraction, seed=seed,
    )


def load_diabetes(test_fraction=0.0, seed=0):
    """Diabetes progression (Efron et al. 2004): 442 x 10 raw features, regression target."""
    X, y, names = _read("diabetes.csv")
    return split_and_standardize(
        X, y, name="diabetes", task="regression", feature_names=names,
        test_fraction=test_fraction, seed=seed,
    )
