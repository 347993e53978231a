"""The Model interface: shapes, names, validation of what a model returns, per-point
construction, Hessian-vector products, minibatch plumbing and the gradient checker."""

import numpy as np
import pytest

from mcmcadapt.errors import InputError, ModelError
from mcmcadapt.models import Model, check_gradients


def _quartic(X):
    """log p = -Σ x⁴/4 - Σ x²/2 + x0·x1³ (non-quadratic, with a coupling)."""
    lp = -0.25 * np.sum(X**4, 1) - 0.5 * np.sum(X**2, 1) + X[:, 0] * X[:, 1] ** 3
    g = -(X**3) - X
    g[:, 0] += X[:, 1] ** 3
    g[:, 1] += 3 * X[:, 0] * X[:, 1] ** 2
    return lp, g


def _quartic_hessian(x):
    H = np.diag(-3 * x**2 - 1)
    H[0, 1] += 3 * x[1] ** 2
    H[1, 0] += 3 * x[1] ** 2
    H[1, 1] += 6 * x[0] * x[1]
    return H


def test_batched_call_returns_validated_arrays():
    m = Model(_quartic, 4, name="quartic")
    X = np.random.default_rng(0).standard_normal((5, 4))
    lp, g = m.logp_and_grad(X)
    lp0, g0 = _quartic(X)
    assert lp.shape == (5,) and g.shape == (5, 4)
    np.testing.assert_array_equal(lp, lp0)
    np.testing.assert_array_equal(g, g0)
    assert m.dim == 4 and m.name == "quartic"
    assert m.true_mean is None and m.true_std is None and m.n_data is None


def test_default_and_explicit_variables():
    m = Model(_quartic, 4)
    [(name, shape, sl)] = m.variables
    assert (name, shape, sl) == ("x", (4,), slice(0, 4))
    m = Model(lambda X: (X[:, 0] * 0, X * 0), 11, names=["mu", "tau", "theta[3]", "W[2, 3]"])
    assert [(v.name, v.shape, v.slice) for v in m.variables] == [
        ("mu", (), slice(0, 1)), ("tau", (), slice(1, 2)), ("theta", (3,), slice(2, 5)),
        ("W", (2, 3), slice(5, 11))]
    m = Model(lambda X: (X[:, 0], X), 7, names=[("a", 1), ("B", (2, 3))])
    assert [(v.name, v.shape) for v in m.variables] == [("a", (1,)), ("B", (2, 3))]


@pytest.mark.parametrize("names, match", [
    (["a", "b[2]"], "3 entries in total but the model has dim=4"),
    (["a[2]", "a[2]"], "appears twice"),
    (["1x[4]"], "cannot parse"),
    (["x[]", "y[4]"], "empty brackets"),
    (["x[0]", "y[4]"], "non-positive"),
])
def test_bad_names_are_rejected(names, match):
    with pytest.raises(InputError, match=match):
        Model(_quartic, 4, names=names)


def test_to_named_and_from_named_roundtrip_with_leading_dims():
    m = Model(lambda X: (X[:, 0], X), 7, names=["mu", "theta[2]", "W[2,2]"])
    X = np.arange(3 * 5 * 7, dtype=float).reshape(3, 5, 7)
    named = m.to_named(X)
    assert named["mu"].shape == (3, 5)
    assert named["theta"].shape == (3, 5, 2)
    assert named["W"].shape == (3, 5, 2, 2)
    np.testing.assert_array_equal(named["W"][1, 2], X[1, 2, 3:7].reshape(2, 2))
    np.testing.assert_array_equal(m.from_named(named), X)
    with pytest.raises(InputError, match="missing variables"):
        m.from_named({"mu": named["mu"]})


def test_wrong_shapes_raise_model_error_naming_the_model():
    m = Model(lambda X: (np.zeros(X.shape[0] + 1), X), 3, name="shapeless")
    with pytest.raises(ModelError, match="'shapeless'.*shape \\(5,\\)"):
        m.logp_and_grad(np.zeros((4, 3)))
    m = Model(lambda X: (np.zeros(X.shape[0]), X[:, :2]), 3, name="narrow")
    with pytest.raises(ModelError, match="'narrow'.*gradient of shape \\(4, 2\\)"):
        m.logp_and_grad(np.zeros((4, 3)))
    m = Model(lambda X: np.zeros(X.shape[0]), 3, name="single")
    with pytest.raises(ModelError, match="tuple"):
        m.logp_and_grad(np.zeros((4, 3)))


def _poisoned(lp_value=None, grad_value=None, row=2):
    def f(X):
        lp, g = _quartic(X)
        if lp_value is not None:
            lp[row] = lp_value
        if grad_value is not None:
            g[row, 1] = grad_value
        return lp, g
    return Model(f, 3, name="poisoned")


def test_nan_gradient_at_finite_density_names_the_particle():
    X = np.random.default_rng(1).standard_normal((5, 3))
    with pytest.raises(ModelError, match="'poisoned'.*particle 2, coordinate 1"):
        _poisoned(grad_value=np.nan).logp_and_grad(X)
    with pytest.raises(ModelError, match="particle 2"):
        _poisoned(grad_value=np.inf).logp_and_grad(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_plus_inf_density_is_an_error(bad):
    X = np.random.default_rng(2).standard_normal((5, 3))
    with pytest.raises(ModelError, match="log density is .* at particle 2"):
        _poisoned(lp_value=bad).logp_and_grad(X)


def test_minus_inf_density_is_allowed_and_its_gradient_zeroed():
    X = np.random.default_rng(3).standard_normal((5, 3))
    lp, g = _poisoned(lp_value=-np.inf, grad_value=np.nan).logp_and_grad(X)
    lp0, g0 = _quartic(X)
    assert lp[2] == -np.inf and np.all(g[2] == 0)
    np.testing.assert_array_equal(np.delete(lp, 2), np.delete(lp0, 2))
    np.testing.assert_array_equal(np.delete(g, 2, 0), np.delete(g0, 2, 0))


@pytest.mark.parametrize("X, match", [
    (np.zeros((2, 4)), "4 columns but 3"),
    (np.zeros(3), "2-D"),
    (np.array([[0.0, np.nan, 0.0]]), "NaN or inf"),
])
def test_bad_particles_are_input_errors(X, match):
    with pytest.raises(InputError, match=match):
        Model(_quartic, 3).logp_and_grad(X)


def test_from_functions_vectorises_per_point_callables():
    calls = []

    def logp(x):
        return -np.inf if x[0] > 5 else float(_quartic(x[None])[0][0])

    def grad(x):
        calls.append(x.copy())
        return _quartic(x[None])[1][0]

    m = Model.from_functions(logp, grad, 3, names="x[3]", name="pointwise")
    X = np.random.default_rng(4).standard_normal((4, 3))
    X[1, 0] = 6.0
    lp, g = m.logp_and_grad(X)
    lp0, g0 = _quartic(X)
    assert lp[1] == -np.inf and np.all(g[1] == 0)
    np.testing.assert_allclose(lp[[0, 2, 3]], lp0[[0, 2, 3]], rtol=1e-14)
    np.testing.assert_allclose(g[[0, 2, 3]], g0[[0, 2, 3]], rtol=1e-14)
    assert len(calls) == 3  # never evaluated outside the support

    bad = Model.from_functions(lambda x: 0.0, lambda x: np.zeros(2), 3, name="short")
    with pytest.raises(ModelError, match="'short'.*particle 0"):
        bad.logp_and_grad(X)


def test_from_functions_hvp():
    m = Model.from_functions(lambda x: float(_quartic(x[None])[0][0]),
                             lambda x: _quartic(x[None])[1][0], 3,
                             hvp=lambda x, v: _quartic_hessian(x) @ v)
    rng = np.random.default_rng(9)
    X, V = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    want = np.stack([_quartic_hessian(x) @ v for x, v in zip(X, V)])
    np.testing.assert_allclose(m.hvp(X, V), want, rtol=1e-14)
    bad = Model.from_functions(lambda x: 0.0, lambda x: x, 3, hvp=lambda x, v: 1.0, name="s")
    with pytest.raises(ModelError, match="'s': hvp returned shape \\(\\) at particle 0"):
        bad.hvp(X, V)


def test_central_difference_hvp_matches_exact_hessian():
    m = Model(_quartic, 3)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 3))
    V = rng.standard_normal((6, 3))
    V[4] = 0.0
    got = m.hvp(X, V)
    want = np.stack([_quartic_hessian(x) @ v for x, v in zip(X, V)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    assert np.all(got[4] == 0)


def test_user_hvp_is_used_and_validated():
    m = Model(_quartic, 3, hvp=lambda X, V: np.stack(
        [_quartic_hessian(x) @ v for x, v in zip(X, V)]))
    rng = np.random.default_rng(6)
    X, V = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    want = np.stack([_quartic_hessian(x) @ v for x, v in zip(X, V)])
    np.testing.assert_allclose(m.hvp(X, V), want, rtol=1e-14)
    bad = Model(_quartic, 3, hvp=lambda X, V: V[:, :2], name="hv")
    with pytest.raises(ModelError, match="'hv'.*hvp returned shape"):
        bad.hvp(X, V)
    with pytest.raises(InputError, match="V must have the shape"):
        m.hvp(X, V[:2])


def test_check_gradients_separates_right_from_wrong():
    X = np.random.default_rng(7).standard_normal((4, 3))
    assert check_gradients(Model(_quartic, 3), X) < 1e-8

    def off(X):
        lp, g = _quartic(X)
        return lp, 1.01 * g

    err = check_gradients(Model(off, 3), X)
    assert 0.005 < err < 0.02

    def swapped(X):
        lp, g = _quartic(X)
        return lp, g[:, ::-1]

    assert check_gradients(Model(swapped, 3), X) > 0.05
    with pytest.raises(ModelError, match="-inf at particle 1"):
        check_gradients(_poisoned(lp_value=-np.inf, row=1), X)


def test_batch_is_passed_as_int64_and_checked():
    seen = []

    def f(X, batch=None):
        seen.append(batch)
        return _quartic(X)

    m = Model(f, 3, n_data=10, name="batched")
    X = np.zeros((2, 3))
    m.logp_and_grad(X)
    m.logp_and_grad(X, batch=[3, 1, 9])
    assert seen[0] is None
    assert seen[1].dtype == np.int64 and list(seen[1]) == [3, 1, 9]
    with pytest.raises(InputError, match=r"\[0, 10\)"):
        m.logp_and_grad(X, batch=[0, 10])
    with pytest.raises(InputError, match="integer"):
        m.logp_and_grad(X, batch=[0.5])
    with pytest.raises(InputError, match="no minibatch support"):
        Model(_quartic, 3, name="full").logp_and_grad(X, batch=[0])


def test_exact_sampler_plumbing():
    m = Model(_quartic, 2, sampler=lambda n, rng: rng.standard_normal((n, 2)))
    a, b = m.sample(7, seed=1), m.sample(7, seed=1)
    assert a.shape == (7, 2)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ModelError, match="no exact sampler"):
        Model(_quartic, 2).sample(3)
    with pytest.raises(ModelError, match="sampler returned shape"):
        Model(_quartic, 2, sampler=lambda n, rng: np.zeros((n, 3))).sample(3)


@pytest.mark.parametrize("kwargs, match", [
    ({"dim": 0}, "dim must be a positive integer"),
    ({"dim": 2, "true_mean": np.zeros(3)}, "true_mean must be"),
    ({"dim": 2, "n_data": 0}, "n_data"),
    ({"dim": 2, "transforms": {"nope": "positive"}}, "unknown variable 'nope'"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        Model(_quartic, **kwargs)


def test_review_inputs_are_named():
    import numpy as np
    import pytest

    from mcmcadapt.errors import HyperparameterError, InputError, ModelError
    from mcmcadapt.models import Model, targets

    f = lambda X: (-0.5 * (X**2).sum(1), -X)  # noqa: E731
    m = Model(f, 5, names=["a", "s[2]", "p[2]"],
              transforms={"s": "positive", "p": ("interval", 0, 4)})
    ok = {"a": 0.0, "s": np.array([1.0, 1.0]), "p": np.array([1.0, 1.0])}
    np.testing.assert_allclose(m.to_named(m.from_named(ok))["p"], ok["p"])
    for bad, name in (({**ok, "s": np.array([-1.0, 1.0])}, "'s'"),
                      ({**ok, "s": np.array([0.0, 1.0])}, "'s'"),
                      ({**ok, "p": np.array([5.0, 1.0])}, "'p'"), ({**ok, "a": np.nan}, "'a'")):
        with pytest.raises(InputError, match=f"values of {name}"):
            m.from_named(bad)
    # per-point logp must return a number: 0-d arrays and numpy scalars are fine
    scalar = Model.from_functions(lambda x: np.asarray(-0.5 * x @ x), lambda x: -x, 3)
    np.testing.assert_allclose(scalar.logp_and_grad(np.ones((2, 3)))[0], -1.5)
    for logp in (lambda x: -0.5 * x**2, lambda x: None):
        with pytest.raises(ModelError, match="logp returned .* it must return a float"):
            Model.from_functions(logp, lambda x: -x, 3).logp_and_grad(np.ones((2, 3)))
    for kwargs, match in ((dict(names=[("w", (2.9,))]), "shape must be an int"),
                          (dict(names=5), "names must be a string or a list"),
                          (dict(transforms=["x"]), "transforms must be a dict"),
                          (dict(true_std=-np.ones(2)), "true_std must be positive"),
                          (dict(n_data=True), "n_data must be a positive integer")):
        with pytest.raises(InputError, match=match):
            Model(f, 2, **kwargs)
    for name, kwargs, match in (("gaussian", {"sd": -1}, "sd must be positive"),
                                ("gaussian", {"dim": -1}, "dim must be a positive integer"),
                                ("gaussian", {"foo": 1}, "cannot be built with"),
                                ("mixture", {"dim": 0}, "dim must be a positive integer")):
        with pytest.raises(HyperparameterError, match=match):
            targets.get(name, **kwargs)


def test_target_data_are_checked():
    import numpy as np
    import pytest

    from mcmcadapt.errors import InputError
    from mcmcadapt.models.targets import BNN, logistic_regression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = (np.arange(30) % 2).astype(float)
    Xbad = X.copy()
    Xbad[2, 1] = np.nan
    with pytest.raises(InputError, match="row 2, column 1"):
        logistic_regression(Xbad, y)
    for y_test in (np.full(30, np.nan), np.full(30, 0.5)):
        with pytest.raises(InputError, match="y_test must be finite, and 0 or 1"):
            BNN(X, y, hidden=3, X_test=X, y_test=y_test)


def test_a_transform_overflow_is_named_as_such():
    import numpy as np
    import pytest

    from mcmcadapt.errors import ModelError
    from mcmcadapt.models import Model

    flat = Model(lambda X: (np.zeros(len(X)), np.zeros_like(X)), 1, transforms={"x": "positive"})
    lp, g = flat.logp_and_grad(np.array([[700.0]]))  # log-Jacobian u, its gradient 1
    assert lp[0] == 700.0 and g[0, 0] == 1.0
    with pytest.raises(ModelError, match="transform overflows float64 at particle 1"):
        flat.logp_and_grad(np.array([[0.0], [710.0]]))


def test_minibatch_models_must_take_batch():
    with pytest.raises(InputError, match="give it a keyword argument `batch=None`"):
        Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 2, n_data=100)
    m = Model(lambda X, **kw: (-0.5 * np.sum(X**2, 1), -X), 2, n_data=100)
    assert m.n_data == 100
