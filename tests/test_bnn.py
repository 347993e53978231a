"""Bayesian neural networks: the Numba log posterior against a slow per-point implementation
written here, gradients against finite differences, minibatch unbiasedness, the parameter
layout, and the posterior-predictive helpers against explicit loops. Shapes cover the
kernels' padding (inputs to an even count, hidden units to a multiple of 4; 4 x 4 and 4 x 2
tiles) and their blocking of data rows (more than 1024 rows: several blocks)."""

import numba
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from mcmcadapt.errors import HyperparameterError, InputError
from mcmcadapt.models import check_gradients
from mcmcadapt.models import targets as T
from mcmcadapt.models.targets import BNN
from mcmcadapt.models.targets._bnn_kernels import bnn_forward, bnn_loglik_grad
from mcmcadapt._fastmath import fexp, flog1p

N, D_IN, H = 23, 6, 5  # 6 inputs: a 4 x 4 and a 4 x 2 tile; 5 hidden units: 3 padded

CONFIGS = {
    "sigmoid-class": dict(activation="sigmoid"),
    "tanh-class": dict(activation="tanh"),
    "relu-class": dict(activation="relu"),
    "tanh-reg-fixed": dict(activation="tanh", likelihood="gaussian", noise_precision=2.5),
    "relu-reg-gamma": dict(activation="relu", likelihood="gaussian", noise_prior=(2.0, 0.5)),
    "sigmoid-reg-gamma": dict(activation="sigmoid", likelihood="gaussian", noise_prior=(3.0, 1.5)),
}


def _data(kind, seed=0, n=N, d_in=D_IN):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d_in))
    y = (rng.random(n) < 0.4).astype(float) if kind == "class" else rng.normal(0, 1.5, n)
    return X, y


def _model(config, seed=0):
    kw = CONFIGS[config]
    X, y = _data("reg" if kw.get("likelihood") == "gaussian" else "class", seed)
    return BNN(X, y, hidden=H, **kw), X, y


def _act(a, kind):
    return {"sigmoid": lambda: 1 / (1 + np.exp(-a)), "tanh": lambda: np.tanh(a),
            "relu": lambda: max(a, 0.0)}[kind]()


def _slow_log_posterior(u, X, y, kw, H=H):
    """Per-point loops over data and hidden units; prior and Jacobian from scipy."""
    D_IN = X.shape[1]
    w = u[: D_IN * H + 2 * H + 1]
    W1 = w[: D_IN * H].reshape(D_IN, H)
    b1 = w[D_IN * H: D_IN * H + H]
    W2 = w[D_IN * H + H: D_IN * H + 2 * H]
    b2 = w[-1]
    act = kw["activation"]
    gaussian = kw.get("likelihood") == "gaussian"
    if gaussian and "noise_prior" in kw:
        a, b = kw["noise_prior"]
        lam = np.exp(u[-1])
        lp = stats.gamma.logpdf(lam, a, scale=1 / b) + u[-1]
    else:
        lam = kw.get("noise_precision", 1.0)
        lp = 0.0
    lp += stats.norm.logpdf(w).sum()
    for i in range(X.shape[0]):
        f = b2
        for h in range(H):
            pre = b1[h]
            for k in range(D_IN):
                pre += X[i, k] * W1[k, h]
            f += W2[h] * _act(pre, act)
        if gaussian:
            lp += stats.norm.logpdf(y[i], f, 1 / np.sqrt(lam))
        else:
            p = 1 / (1 + np.exp(-f))
            lp += np.log(p) if y[i] == 1 else np.log(1 - p)
    return lp


def _points(m, n, seed=1, scale=0.5):
    return scale * np.random.default_rng(seed).standard_normal((n, m.dim))


@numba.njit(fastmath={"contract", "reassoc"})
def _fexp_loop_reassoc(x, out):
    for i in range(x.size):
        out[i] = fexp(x[i])


@numba.njit(fastmath={"contract", "reassoc"})
def _flog1p_loop_reassoc(x, out):
    for i in range(x.size):
        out[i] = flog1p(x[i])


def test_flog1p_matches_numpy_log1p():
    rng = np.random.default_rng(1)
    x = np.concatenate([[0.0, 5e-324, 1e-300, 1e-17, 1.1e-16, 1.0, np.sqrt(2) - 1],
                        np.logspace(-310, 0, 20001), rng.random(10000),
                        np.sqrt(2) - 1 + np.arange(-50, 50) * 2e-16])
    out = np.empty_like(x)
    _flog1p_loop_reassoc(x, out)
    want = np.log1p(x)
    assert out[0] == 0.0
    assert np.max(np.abs(out[1:] / want[1:] - 1)) < 1e-15  # ~2 ulp measured


@numba.njit(fastmath={"contract"})
def _fexp_loop(x, out):
    for i in range(x.size):
        out[i] = fexp(x[i])


def test_fexp_matches_numpy_exp():
    x = np.concatenate([np.linspace(-708, 709, 20001),
                        np.random.default_rng(0).normal(0, 5, 10000)])
    out = np.empty_like(x)
    _fexp_loop(x, out)
    assert np.max(np.abs(out / np.exp(x) - 1)) < 5e-16
    # inlined into a caller compiled with reassoc (as the BNN kernels are), fexp keeps its
    # own flags and so its accuracy
    _fexp_loop_reassoc(x, out)
    assert np.max(np.abs(out / np.exp(x) - 1)) < 5e-16


@pytest.mark.parametrize("config", list(CONFIGS))
def test_log_posterior_matches_slow_implementation(config):
    m, X, y = _model(config)
    U = _points(m, 3)
    want = [_slow_log_posterior(u, X, y, CONFIGS[config]) for u in U]
    np.testing.assert_allclose(m.logp_and_grad(U)[0], want, rtol=1e-11)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_gradient_matches_finite_differences(config):
    m, _, _ = _model(config)
    assert check_gradients(m, _points(m, 3, seed=2)) < 1e-6


@pytest.mark.parametrize("d_in, hidden, activation", [
    (1, 3, "sigmoid"),  # a single 4 x 2 tile, one padded input row
    (3, 4, "tanh"),  # one 4 x 4 tile with a padded input row, no padded hidden unit
    (8, 2, "relu"),  # two 4 x 4 tiles, two padded hidden units
])
def test_other_shapes_match_slow_implementation(d_in, hidden, activation):
    X, y = _data("class", seed=13, d_in=d_in)
    m = BNN(X, y, hidden=hidden, activation=activation)
    U = _points(m, 3, seed=14)
    want = [_slow_log_posterior(u, X, y, {"activation": activation}, H=hidden) for u in U]
    np.testing.assert_allclose(m.logp_and_grad(U)[0], want, rtol=1e-11)
    assert check_gradients(m, U) < 1e-6


@pytest.mark.parametrize("config", ["sigmoid-class", "tanh-reg-fixed"])
def test_several_row_blocks(config):
    """1030 rows: the kernels split the data into two blocks of rows."""
    kw = CONFIGS[config]
    X, y = _data("reg" if kw.get("likelihood") == "gaussian" else "class", seed=15, n=1030)
    m = BNN(X, y, hidden=H, **kw)
    U = _points(m, 2, seed=16)
    want = [_slow_log_posterior(u, X, y, kw) for u in U]
    np.testing.assert_allclose(m.logp_and_grad(U)[0], want, rtol=1e-11)
    assert check_gradients(m, U) < 1e-6
    act = {"sigmoid": expit, "tanh": np.tanh}[kw["activation"]]
    named = m.to_named(U)
    F = np.stack([act(X @ named["W1"][i] + named["b1"][i]) @ named["W2"][i][:, 0]
                  + named["b2"][i][0] for i in range(2)])
    np.testing.assert_allclose(m.outputs(U, X), F, rtol=1e-11, atol=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_kernels_split_particles_across_threads():
    """With two threads the particles are split into two chunks with their own scratch;
    each particle's arithmetic is unchanged, so the results are identical (5 particles:
    uneven chunks). The model runs calls this small on one thread, hence the direct calls."""
    m, X, y = _model("sigmoid-reg-gamma")
    U = _points(m, 5, seed=17)
    lam = np.exp(U[:, -1])
    args = (U, X, y, H, 0, True, lam, 1.0)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = bnn_loglik_grad(*args), bnn_forward(U, X, H, 0)
        numba.set_num_threads(2)
        two = bnn_loglik_grad(*args), bnn_forward(U, X, H, 0)
    finally:
        numba.set_num_threads(previous)
    for a, b in zip(one[0], two[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one[1], two[1])


@pytest.mark.parametrize("config", ["sigmoid-class", "relu-reg-gamma"])
def test_minibatch_singletons_average_to_full_batch(config):
    m, _, _ = _model(config)
    U = _points(m, 2, seed=3)
    lp_full, g_full = m.logp_and_grad(U)
    parts = [m.logp_and_grad(U, batch=[j]) for j in range(N)]
    np.testing.assert_allclose(np.mean([p[0] for p in parts], 0), lp_full, rtol=1e-11)
    np.testing.assert_allclose(np.mean([p[1] for p in parts], 0), g_full, rtol=1e-9,
                               atol=1e-10 * np.abs(g_full).max())


@pytest.mark.parametrize("config", ["tanh-class", "sigmoid-reg-gamma"])
def test_random_minibatches_are_unbiased(config):
    kw = CONFIGS[config]
    X, y = _data("reg" if kw.get("likelihood") == "gaussian" else "class", seed=4, n=200)
    m = BNN(X, y, hidden=H, **kw)
    rng = np.random.default_rng(5)
    U = _points(m, 1, seed=6)
    lp_full, g_full = m.logp_and_grad(U)
    full = np.concatenate([lp_full, g_full[0]])
    est = np.array([np.concatenate([lp, g[0]]) for lp, g in
                    (m.logp_and_grad(U, batch=rng.choice(200, 16, replace=False))
                     for _ in range(3000))])
    z = (est.mean(0) - full) / (est.std(0) / np.sqrt(len(est)))
    assert np.abs(z).max() < 4.5
    assert est[:, 0].std() > 1.0  # the estimate is noisy, so the check has power


def test_layout_and_named_variables():
    X, y = _data("class")
    m = BNN(X, y, hidden=H)
    assert [(v.name, v.shape) for v in m.variables] == [
        ("W1", (D_IN, H)), ("b1", (H,)), ("W2", (H, 1)), ("b2", (1,))]
    rng = np.random.default_rng(7)
    named = {"W1": rng.standard_normal((4, D_IN, H)), "b1": rng.standard_normal((4, H)),
             "W2": rng.standard_normal((4, H, 1)), "b2": rng.standard_normal((4, 1))}
    U = m.from_named(named)
    want = np.stack([expit(X @ named["W1"][i] + named["b1"][i]) @ named["W2"][i][:, 0]
                     + named["b2"][i][0] for i in range(4)])
    np.testing.assert_allclose(m.outputs(U, X), want, rtol=1e-12)
    for k, v in m.to_named(U).items():
        np.testing.assert_array_equal(v, named[k])


def test_learned_noise_precision_is_a_positive_variable():
    m, _, _ = _model("relu-reg-gamma")
    assert m.variables[-1].name == "noise_precision" and m.dim == D_IN * H + 2 * H + 2
    U = _points(m, 2)
    np.testing.assert_allclose(m.to_named(U)["noise_precision"], np.exp(U[:, -1]))
    draws = m.sample_prior(20000, seed=8)
    lam = np.exp(draws[:, -1])
    assert abs(lam.mean() - 4.0) < 5 * lam.std() / np.sqrt(len(lam))  # Gamma(2, rate 0.5)
    w = draws[:, :-1]
    assert np.abs(w.mean(0)).max() < 5 / np.sqrt(len(w))


def _slow_metrics(m, U, X, y):
    F = m.outputs(U, X)
    n, mm = F.shape
    nll, sq, wrong = 0.0, 0.0, 0
    for j in range(mm):
        if m.likelihood == "bernoulli":
            probs = [expit(F[i, j]) for i in range(n)]
            lik = [p if y[j] == 1 else 1 - p for p in probs]
            wrong += int((np.mean(probs) > 0.5) != (y[j] == 1))
        else:
            lam = np.exp(U[:, -1])
            lik = [stats.norm.pdf(y[j], F[i, j], 1 / np.sqrt(lam[i])) for i in range(n)]
            sq += (np.mean(F[:, j]) - y[j]) ** 2
        nll -= np.log(np.mean(lik))
    out = {"nll": nll / mm}
    if m.likelihood == "bernoulli":
        out["error"] = wrong / mm
    else:
        out["rmse"] = np.sqrt(sq / mm)
    return out


@pytest.mark.parametrize("config", ["sigmoid-class", "relu-reg-gamma"])
def test_predictive_metrics_match_loops(config):
    m, _, _ = _model(config)
    kind = "reg" if m.likelihood == "gaussian" else "class"
    Xt, yt = _data(kind, seed=9, n=17)
    U = _points(m, 6, seed=10, scale=1.0)
    got = m.evaluate(U, Xt, yt)
    want = _slow_metrics(m, U, Xt, yt)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10)
    F = m.outputs(U, Xt)
    np.testing.assert_allclose(m.predict(U, Xt),
                               expit(F).mean(0) if kind == "class" else F.mean(0), rtol=1e-12)


def test_predictive_quantities_for_diagnostics():
    X, y = _data("class")
    Xt, yt = _data("class", seed=11, n=9)
    m = BNN(X, y, hidden=H, X_test=Xt, y_test=yt)
    U = _points(m, 4, seed=12, scale=1.0)
    q = m.predictive_quantities(U)
    F = m.outputs(U, Xt)
    np.testing.assert_allclose(q["test_loglik"], (yt * F - np.logaddexp(0, F)).mean(1), rtol=1e-12)
    np.testing.assert_allclose(q["heldout"], expit(F[:, :5]), rtol=1e-12)
    assert m.evaluate(U).keys() == {"nll", "error"}  # stored test set is the default


def test_registry_bnn_on_shipped_data():
    m = T.get("bnn-breast-cancer", hidden=3, seed=1)
    assert m.n_data == 228 and m.X_test.shape == (341, 30)
    assert m.dim == 30 * 3 + 2 * 3 + 1
    assert m.dataset.name == "breast-cancer"
    r = T.get("bnn-diabetes", hidden=3)
    assert r.likelihood == "gaussian" and r.learn_noise
    assert r.variables[-1].name == "noise_precision"


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(activation="softsign"), HyperparameterError, "activation"),
    (dict(likelihood="poisson"), HyperparameterError, "likelihood"),
    (dict(hidden=0), HyperparameterError, "hidden"),
    (dict(X_test=np.zeros((2, D_IN))), InputError, "together"),
    (dict(noise_prior=(1.0, 1.0)), HyperparameterError, "gaussian likelihood only"),
    (dict(likelihood="gaussian", noise_prior=3.0), HyperparameterError, "shape, rate"),
    (dict(likelihood="gaussian", noise_prior=(1.0, -1.0)), HyperparameterError, "rate"),
])
def test_bad_configuration(kwargs, exc, match):
    X, y = _data("class")
    with pytest.raises(exc, match=match):
        BNN(X, y, **kwargs)


def test_classifier_needs_binary_targets_and_evaluate_needs_data():
    X, y = _data("class")
    with pytest.raises(InputError, match="0 or 1"):
        BNN(X, y + 1)
    m = BNN(X, y, hidden=2)
    with pytest.raises(InputError, match="no test set"):
        m.evaluate(_points(m, 2))
    theta = _points(m, 2)
    with pytest.raises(InputError, match="0 or 1"):
        m.evaluate(theta, X, 2 * y - 1)          # labels coded ±1
    with pytest.raises(InputError, match="NaN"):
        m.evaluate(theta, X, np.where(np.arange(y.size) == 0, np.nan, y))
    with pytest.raises(InputError, match="give both X and y"):
        m.evaluate(theta, X)
    assert np.isfinite(m.evaluate(theta, X, y)["nll"])
