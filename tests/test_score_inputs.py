"""Bad input to the Stein estimator: each case a ValueError subclass naming the problem."""

import numpy as np
import pytest

from mcmcadapt.errors import (
    DegenerateParticlesError,
    HyperparameterError,
    InputError,
    NotFittedError,
)
from mcmcadapt.score.stein import Stein

X_OK = np.random.default_rng(0).normal(size=(20, 3))


@pytest.mark.parametrize(
    "X,match",
    [
        (np.zeros(10), "2-D"),
        (np.zeros((2, 3, 4)), "2-D"),
        (np.zeros((1, 3)), "at least 2 rows"),
        (np.zeros((5, 0)), "no columns"),
        (np.where(np.eye(5, 3) > 0, np.nan, 1.0) + np.arange(5)[:, None], "NaN or inf"),
        (np.where(np.eye(5, 3) > 0, np.inf, 1.0) + np.arange(5)[:, None], "NaN or inf"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric"),
    ],
)
def test_bad_particles(X, match):
    with pytest.raises(InputError, match=match):
        Stein().fit(X)


def test_query_dimension_and_content():
    est = Stein().fit(X_OK)
    with pytest.raises(InputError, match="3 were expected"):
        est.gradients(np.zeros((4, 2)))
    with pytest.raises(InputError, match="2-D"):
        est.gradients(np.zeros(3))
    with pytest.raises(InputError, match="NaN or inf"):
        est.gradients(np.full((2, 3), np.nan))
    assert est.gradients(np.zeros((1, 3))).shape == (1, 3)


def test_gradients_before_fit():
    with pytest.raises(NotFittedError, match="call fit"):
        Stein().gradients()
    with pytest.raises(NotFittedError, match="call fit"):
        Stein().gradients(X_OK)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"bandwidth": -1.0}, "bandwidth"),
        ({"bandwidth": np.nan}, "bandwidth"),
        ({"bandwidth": "silverman"}, "bandwidth"),
        ({"eta": 0.0}, "eta"),
        ({"eta": -0.1}, "eta"),
        ({"eta": np.inf}, "eta"),
        ({"eta": "large"}, "eta"),
        ({"bandwidth_scale": 0.0}, "bandwidth_scale"),
        ({"kernel": "laplace"}, "kernel"),
        ({"statistic": "W"}, "statistic"),
        ({"kernel": "imq", "beta": 0.5}, "beta"),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(HyperparameterError, match=match):
        Stein(**kwargs).fit(X_OK)


def test_all_identical_particles():
    with pytest.raises(DegenerateParticlesError, match="identical"):
        Stein().fit(np.ones((10, 2)))
    with pytest.raises(DegenerateParticlesError, match="identical"):
        Stein(bandwidth=1.0).fit(np.ones((10, 2)))


@pytest.mark.parametrize("name", ["Stein", "KernelScoreMatching", "SSGE", "KDE"])
def test_diverged_population_is_named(name):
    # finite but huge coordinates (a blown-up sampler): squared distances and the kernel's
    # h⁴ overflow; before the check KSM died with a bare OverflowError
    import mcmcadapt.score as score

    X = X_OK * 1e80
    with pytest.raises(InputError, match="diverged"):
        getattr(score, name)().fit(X)
    G = getattr(score, name)().fit(X_OK * 1e70).gradients()  # still representable: fine
    assert np.all(np.isfinite(G))
    huge = np.full((4, 2), 1e308)  # finite, but the column sums overflow
    huge[0, 0] = -1e308
    with pytest.raises(InputError, match="diverged"):
        getattr(score, name)().fit(huge)


def test_mostly_duplicated_particles_need_numeric_bandwidth():
    X = np.zeros((12, 2))
    X[0] = 1.0  # the median distance is 0
    with pytest.raises(DegenerateParticlesError, match="bandwidth"):
        Stein().fit(X)
    G = Stein(bandwidth=1.0).fit(X).gradients()  # a numeric bandwidth works
    assert np.all(np.isfinite(G))


def test_errors_are_value_errors():
    for exc in (InputError, NotFittedError, HyperparameterError, DegenerateParticlesError):
        assert issubclass(exc, ValueError)


def test_public_exports():
    import mcmcadapt.score as score

    for name in ("Stein", "SSGE", "KDE", "KernelScoreMatching", "Tikhonov", "NuMethod"):
        cls = getattr(score, name)
        assert issubclass(cls, score.ScoreEstimator)
        with pytest.raises(NotFittedError):
            cls().gradients()
    assert callable(score.ksd) and callable(score.ksd_squared)
    assert score.Kernel("rbf", 1.0).h == 1.0
    assert score.InputError is InputError and score.NotFittedError is NotFittedError
