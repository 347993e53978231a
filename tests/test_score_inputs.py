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


ESTIMATORS = ["Stein", "SSGE", "KDE", "KernelScoreMatching", "Tikhonov", "NuMethod"]


def _make(name, **kw):
    import mcmcadapt.score as score

    return getattr(score, name)(**kw)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimates_do_not_change_when_the_caller_edits_X(name):
    X = np.random.default_rng(1).normal(size=(20, 2))
    Y = np.random.default_rng(2).normal(size=(3, 2))
    est = _make(name).fit(X)
    before, inside = est.gradients(Y), est.gradients()
    X += 5.0  # the fitted X_ is the caller's array; the estimates use a copy
    np.testing.assert_array_equal(est.gradients(Y), before)
    np.testing.assert_array_equal(est.gradients(), inside)
    if name == "KernelScoreMatching":
        energy = est.energy(Y)
        X -= 3.0
        np.testing.assert_array_equal(est.energy(Y), energy)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_queries_beyond_float64_reach_are_named(name):
    est = _make(name).fit(X_OK)
    with pytest.raises(InputError, match="query row 1 of Y lies"):
        est.gradients(np.vstack([X_OK[:1], X_OK[:1] + 1e155]))
    with pytest.raises(InputError, match="squared distance overflows"):
        est.gradients(X_OK[:1] + 1e300)


@pytest.mark.parametrize("name,scale,match", [
    ("Stein", 1e-160, r"bandwidth h = 2\.\d+e-160 is outside \[1e-75, 1e\+75\]"),
    ("KDE", 1e-160, "is outside"), ("KernelScoreMatching", 1e-100, "is outside"),
    ("Tikhonov", 1e-60, r"curl-free kernel's third derivatives"),
    ("NuMethod", 1e60, r"curl-free kernel's third derivatives"),
])
def test_extreme_scales_are_named_not_nan(name, scale, match):
    with pytest.raises(InputError, match=match):
        _make(name).fit(X_OK * scale).gradients()
    G = _make(name).fit(X_OK * 1e-40).gradients()  # small but in range: finite, scaled
    G1 = _make(name).fit(X_OK).gradients()
    np.testing.assert_allclose(G * 1e-40, G1, rtol=1e-9, atol=1e-12 * np.abs(G1).max())


def test_numeric_bandwidth_and_kernel_options_out_of_range():
    for h in (1e-300, 1e300):
        with pytest.raises(InputError, match="is outside"):
            Stein(bandwidth=h).fit(X_OK)
    with pytest.raises(HyperparameterError, match="beta must lie in"):
        Stein(kernel="imq", beta="x").fit(X_OK)


def test_ksd_overflow_and_bad_bandwidth_are_named():
    from mcmcadapt.score import ksd

    with pytest.raises(HyperparameterError, match="bandwidth must be a positive number"):
        ksd(X_OK, -X_OK, bandwidth=None)
    with pytest.raises(InputError, match="KSD overflowed float64"):
        ksd(X_OK, X_OK * 1e200)
    with pytest.raises(InputError, match="overflows float64"):
        ksd(X_OK * 1e155, -X_OK, bandwidth="median")
