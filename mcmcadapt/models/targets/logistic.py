"""Bayesian logistic regression with a N(0, I) prior on every weight (intercept included)."""

import json
import warnings
from importlib import resources

import numpy as np
from numba import njit, prange
from scipy.special import expit

from ..._fastmath import fexp, flog1p
from ...datasets import load as load_dataset
from ...datasets import standardize_stats
from ...errors import InputError
from ..model import Model
from ._threads import run_kernel


@njit(cache=True, parallel=True, fastmath={"contract", "reassoc"})
def _loglik_grad(B, X, y, scale):
    """scale·Σ_j [y_j η_j - log(1 + e^η_j)], η = X β, and its gradient, for each row β of B.

    Fused over the data, so memory is O(n·d) rather than the O(n·N) of a GEMM formulation;
    softplus and sigmoid share one vectorised exp(-|η|) per datum.
    """
    n, d = B.shape
    m = X.shape[0]
    ll = np.zeros(n)
    g = np.zeros((n, d))
    for i in prange(n):
        b = B[i]
        gi = g[i]
        eta = np.empty(m)
        e = np.empty(m)
        for j in range(m):
            xj = X[j]
            s = 0.0
            for k in range(d):
                s += xj[k] * b[k]
            eta[j] = s
        for j in range(m):
            e[j] = fexp(-abs(eta[j]))
        acc = 0.0
        for j in range(m):
            p = 1.0 / (1.0 + e[j])  # sigmoid(|eta|)
            acc += y[j] * eta[j] - max(eta[j], 0.0) - flog1p(e[j])
            r = scale * (y[j] - (p if eta[j] >= 0.0 else e[j] * p))
            xj = X[j]
            for k in range(d):
                gi[k] += r * xj[k]
        ll[i] = scale * acc
    return ll, g


def design_matrix(X):
    """[1, X] as a C-contiguous (N, p + 1) float64 array: the intercept column first."""
    return np.ascontiguousarray(np.column_stack([np.ones(X.shape[0]), X]), dtype=np.float64)


def design_fingerprint(design, y):
    """(3 (p + 1),) summary identifying a design matrix and labels up to rounding error:
    ``[designᵀ y, column sums of squares, designᵀ c]`` with ``c_j = cos(j)``, which reacts to
    changed values, labels, columns and row order alike. Compared with a tolerance (see
    :func:`reference_moments`), never bit for bit, so that the last-bit differences of
    standardisation across numpy builds do not matter."""
    c = np.cos(np.arange(design.shape[0], dtype=np.float64))
    return np.concatenate([design.T @ y, np.sum(design**2, axis=0), design.T @ c])


def reference_file(dataset):
    """The package-data JSON holding trusted posterior moments for ``logistic-<dataset>``
    (written by ``benchmarks/reference_moments.py``)."""
    return resources.files("mcmcadapt").joinpath("data", f"reference_logistic_{dataset}.json")


def reference_moments(dataset, design, y):
    """Stored posterior ``(mean, sd)`` (each (p + 1,)) for this design and labels, or
    ``(None, None)``.

    None when no reference was computed for ``dataset``, or — with a warning — when the
    stored fingerprint (shape and :func:`design_fingerprint`, relative tolerance 1e-9) does
    not match, i.e. the data differ from those the reference was computed for.
    """
    path = reference_file(dataset)
    if not path.is_file():
        return None, None
    ref = json.loads(path.read_text())
    want = np.asarray(ref["fingerprint"], dtype=np.float64)
    same_shape = list(design.shape) == ref["design_shape"]
    if not (same_shape and np.allclose(design_fingerprint(design, y), want,
                                       rtol=1e-9, atol=1e-9 * design.shape[0])):
        warnings.warn(
            f"logistic-{dataset}: the data differ from those the stored reference moments "
            f"({path.name}) were computed for, so true_mean/true_std are left unset; rerun "
            "benchmarks/reference_moments.py on these data to regenerate them.",
            stacklevel=3)
        return None, None
    return np.asarray(ref["mean"], dtype=np.float64), np.asarray(ref["std"], dtype=np.float64)


def logistic_regression(X, y, name="logistic", standardize=True, *, true_mean=None,
                        true_std=None):
    """Posterior of β in y_j ~ Bernoulli(sigmoid(x̃_jᵀβ)), β ~ N(0, I), x̃_j = [1, x_j].

    X (N, p) features, y (N,) in {0, 1}. With ``standardize`` the features are first scaled
    to zero mean and unit population (ddof = 0) variance. The parameter vector ``beta``
    (p + 1,) has the intercept first. Supports minibatches (``n_data = N``) and exact
    Hessian-vector products. The log density is the normalised log joint. ``true_mean``,
    ``true_std`` (p + 1,): trusted posterior moments, if known.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise InputError(f"X must be (N, p) and y (N,); got {X.shape} and {y.shape}.")
    if not np.all((y == 0) | (y == 1)):
        raise InputError("y must contain only 0 and 1.")
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        raise InputError(f"X contains NaN or inf (first at row {bad[0][0]}, column {bad[0][1]}).")
    if standardize:
        mean, scale = standardize_stats(X)
        X = (X - mean) / scale
    design = design_matrix(X)
    N, d = design.shape
    prior_const = -0.5 * d * np.log(2 * np.pi)

    def data(batch):
        if batch is None:
            return design, y, 1.0
        return design[batch], y[batch], N / batch.size

    def logp_and_grad(B, batch=None):
        Xb, yb, scale = data(batch)
        ll, g = run_kernel(_loglik_grad, B.size * Xb.shape[0], B, Xb, yb, scale)
        return ll + prior_const - 0.5 * np.einsum("ij,ij->i", B, B), g - B

    def hvp(B, V, batch=None):
        Xb, _, scale = data(batch)
        p = expit(B @ Xb.T)
        return -scale * ((p * (1.0 - p)) * (V @ Xb.T)) @ Xb - V

    return Model(logp_and_grad, d, names=[("beta", (d,))], hvp=hvp, name=name, n_data=N,
                 true_mean=true_mean, true_std=true_std)


def logistic_dataset(dataset, root=None):
    """Logistic regression on a named data set (``"german"``, ``"caravan"``, ``"breast-cancer"``),
    all rows, features standardised over the whole data. Stored reference moments
    (:func:`reference_moments`) become ``true_mean``/``true_std`` when the data match."""
    ds = load_dataset(dataset, root=root, test_fraction=0.0)
    if ds.task != "classification":
        raise InputError(f"data set {dataset!r} is not a binary classification set.")
    mean, sd = reference_moments(dataset, design_matrix(ds.X_train), ds.y_train)
    return logistic_regression(ds.X_train, ds.y_train, name=f"logistic-{dataset}",
                               standardize=False, true_mean=mean, true_std=sd)
