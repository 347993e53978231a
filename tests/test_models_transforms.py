"""Transforms to the unconstrained space: log-Jacobians and derivatives against numerical
derivatives, normalisation of transformed densities, and the model's chain rule."""

import numpy as np
import pytest
from scipy import integrate, stats

from mcmcadapt.errors import HyperparameterError
from mcmcadapt.models import Interval, Model, Positive, as_transform, check_gradients

TRANSFORMS = [Positive(), Positive(lower=-2.5), Interval(0.0, 1.0), Interval(-3.0, 7.0)]
U = np.linspace(-6.0, 6.0, 25)


def _num_deriv(f, u, h=1e-5):
    return (f(u + h) - f(u - h)) / (2 * h)


@pytest.mark.parametrize("t", TRANSFORMS, ids=repr)
def test_log_jacobian_matches_numerical_derivative(t):
    dxdu = _num_deriv(t.forward, U)
    np.testing.assert_allclose(t.log_jacobian(U), np.log(np.abs(dxdu)), rtol=0, atol=1e-8)


@pytest.mark.parametrize("t", TRANSFORMS, ids=repr)
def test_derivatives_match_numerical_derivatives(t):
    dx, d2x, dlj, d2lj = t.derivatives(U)
    np.testing.assert_allclose(dx, _num_deriv(t.forward, U), rtol=1e-8)
    np.testing.assert_allclose(d2x, _num_deriv(lambda u: t.derivatives(u)[0], U), rtol=1e-7,
                               atol=1e-9)
    np.testing.assert_allclose(dlj, _num_deriv(t.log_jacobian, U), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(d2lj, _num_deriv(lambda u: t.derivatives(u)[2], U), rtol=1e-7,
                               atol=1e-9)


@pytest.mark.parametrize("t", TRANSFORMS, ids=repr)
def test_inverse_roundtrip(t):
    np.testing.assert_allclose(t.inverse(t.forward(U)), U, rtol=1e-9, atol=1e-9)


def test_interval_log_jacobian_is_finite_far_out():
    t = Interval(-3.0, 7.0)
    u = np.array([-800.0, 800.0])
    # log(width) + log s + log(1 - s) -> log(width) - |u| as |u| -> inf
    np.testing.assert_allclose(t.log_jacobian(u), np.log(10.0) - 800.0, rtol=1e-14)


def _gamma_model(shape=3.0, rate=2.0, with_hvp=False):
    """x ~ Gamma(shape, rate) on (0, inf) written in x; the model works in u = log x."""
    def f(X):
        x = X[:, 0]
        return stats.gamma.logpdf(x, shape, scale=1 / rate), ((shape - 1) / x - rate)[:, None]

    hvp = (lambda X, V: (-(shape - 1) / X**2) * V) if with_hvp else None
    return Model(f, 1, names=["x"], transforms={"x": "positive"}, hvp=hvp)


def _beta_model(a=2.0, b=5.0, lo=-1.0, hi=3.0):
    """Scaled Beta(a, b) on (lo, hi), unconstrained by the logit."""
    def f(X):
        x = X[:, 0]
        z = (x - lo) / (hi - lo)
        lp = stats.beta.logpdf(z, a, b) - np.log(hi - lo)
        return lp, (((a - 1) / z - (b - 1) / (1 - z)) / (hi - lo))[:, None]

    return Model(f, 1, names=["x"], transforms={"x": ("interval", lo, hi)})


@pytest.mark.parametrize("make", [_gamma_model, _beta_model])
def test_transformed_density_integrates_to_one(make):
    m = make()
    total, _ = integrate.quad(lambda u: np.exp(m.logp_and_grad([[u]])[0][0]), -30, 30,
                              limit=200)
    assert abs(total - 1.0) < 1e-7


@pytest.mark.parametrize("make", [_gamma_model, _beta_model])
def test_transformed_gradient_is_consistent(make):
    m = make()
    U = np.random.default_rng(0).normal(0.0, 1.5, size=(6, 1))
    assert check_gradients(m, U) < 1e-7


def test_exact_hvp_through_transform_matches_central_differences():
    exact, fd = _gamma_model(with_hvp=True), _gamma_model()
    rng = np.random.default_rng(1)
    U, V = rng.normal(0, 1, (5, 1)), rng.normal(0, 1, (5, 1))
    np.testing.assert_allclose(exact.hvp(U, V), fd.hvp(U, V), rtol=1e-6)


def test_to_named_is_constrained_and_from_named_inverts():
    def f(X):
        return -0.5 * np.sum(X**2, 1), -X

    m = Model(f, 4, names=["a", "s", "p[2]"],
              transforms={"s": "positive", "p": Interval(0, 1)})
    U = np.random.default_rng(2).standard_normal((3, 4))
    named = m.to_named(U)
    np.testing.assert_array_equal(named["a"], U[:, 0])
    np.testing.assert_allclose(named["s"], np.exp(U[:, 1]))
    np.testing.assert_allclose(named["p"], 1 / (1 + np.exp(-U[:, 2:])))
    np.testing.assert_allclose(m.from_named(named), U, rtol=1e-12)


@pytest.mark.parametrize("spec", ["log", ("interval", 0.0), ("positive", 1, 2), 3.0])
def test_bad_transform_specs(spec):
    with pytest.raises(HyperparameterError, match="unknown transform"):
        as_transform(spec)


def test_empty_interval_is_rejected():
    with pytest.raises(HyperparameterError, match="width"):
        Interval(1.0, 1.0)
