"""Built-in targets: the registry, every gradient against finite differences, exact moments
against large exact samples built in the test from the published definitions, log densities
against independent implementations, and minibatch unbiasedness."""

import csv
from importlib import resources

import numpy as np
import pytest
from scipy import integrate, stats

from mcmcadapt.datasets import DataNotFoundError, shared_data_root
from mcmcadapt.errors import HyperparameterError
from mcmcadapt.models import check_gradients
from mcmcadapt.models import targets as T


def _shared_or_skip():
    try:
        return shared_data_root()
    except DataNotFoundError as exc:
        pytest.skip(f"reference data not available: {exc}")


def _get(name, **kw):
    if name in T.NEEDS_SHARED_DATA:
        _shared_or_skip()
    return T.get(name, **kw)


def test_registry_lists_the_documented_targets():
    names = set(T.available())
    for name in ["gaussian", "correlated-gaussian", "neal100", "illcond100", "funnel10",
                 "banana", "mixture", "eight-schools", "eight-schools-nc", "logistic-german",
                 "logistic-caravan", "bnn-breast-cancer", "bnn-diabetes", "bnn-australian",
                 "bnn-crabs", "bnn-sonar"]:
        assert name in names
    assert T.get("gaussian", dim=3).dim == 3
    with pytest.raises(HyperparameterError, match="unknown target 'nope'"):
        T.get("nope")


@pytest.mark.parametrize("name", T.available())
def test_gradient_matches_finite_differences(name):
    kw = {"hidden": 4} if name.startswith("bnn-") else {}
    m = _get(name, **kw)
    rng = np.random.default_rng(sorted(T.available()).index(name))
    X = 0.5 * rng.standard_normal((3, m.dim))
    lp, _ = m.logp_and_grad(X)
    assert np.all(np.isfinite(lp))
    assert check_gradients(m, X) < 1e-6


def test_full_size_bnn_gradient():
    m = T.get("bnn-breast-cancer")
    assert m.dim == 30 * 50 + 2 * 50 + 1
    X = 0.3 * np.random.default_rng(0).standard_normal((1, m.dim))
    assert check_gradients(m, X) < 1e-6


# ---- exact moments ---------------------------------------------------------------------

def _zscores(samples, mean, std):
    """z-scores of sample mean and sd against claimed values (delta method for the sd)."""
    n = samples.shape[0]
    c = samples - samples.mean(0)
    sd = c.std(0)
    z_mean = (samples.mean(0) - mean) / (sd / np.sqrt(n))
    se_var = (c**2).std(0) / np.sqrt(n)
    z_sd = (sd - std) / (se_var / (2 * sd))
    return np.abs(z_mean).max(), np.abs(z_sd).max()


def _illcond_cov():
    rng = np.random.default_rng(10)
    v = np.sort(1 / rng.gamma(0.5, 1.0, 100))
    Q = np.linalg.qr(rng.standard_normal((100, 100)))[0]
    return Q @ np.diag(v) @ Q.T


def _gaussian_specs():
    idx = np.arange(10)
    return {
        "gaussian": np.eye(10),
        "correlated-gaussian": 0.9 ** np.abs(idx[:, None] - idx[None, :]),
        "neal100": np.diag(np.linspace(0.01, 1, 100) ** 2),
        "illcond100": _illcond_cov(),
    }


@pytest.mark.parametrize("name", list(_gaussian_specs()))
def test_gaussian_truth_against_exact_samples(name):
    cov = _gaussian_specs()[name]
    m = T.get(name)
    d = cov.shape[0]
    rng = np.random.default_rng(42)
    draws = rng.multivariate_normal(np.zeros(d), cov, size=100_000, method="cholesky")
    zm, zs = _zscores(draws, m.true_mean, m.true_std)
    assert zm < 5 and zs < 5
    X = draws[:4]
    np.testing.assert_allclose(m.logp_and_grad(X)[0],
                               stats.multivariate_normal(np.zeros(d), cov).logpdf(X), rtol=1e-10)
    V = rng.standard_normal((4, d))
    np.testing.assert_allclose(m.hvp(X, V), -np.linalg.solve(cov, V.T).T, rtol=1e-8,
                               atol=1e-8 * np.abs(np.linalg.solve(cov, V.T)).max())


def test_illcond100_condition_number():
    v = np.linalg.eigvalsh(_illcond_cov())
    assert 1.8e4 < v.max() / v.min() < 2.0e4


def test_funnel_truth_and_density():
    m = T.get("funnel10")
    rng = np.random.default_rng(1)
    v = rng.normal(0, 3, 400_000)
    x = rng.standard_normal((400_000, 9)) * np.exp(v / 2)[:, None]
    draws = np.column_stack([v, x])
    zm, zs = _zscores(draws[:, :1], m.true_mean[:1], m.true_std[:1])
    assert zm < 5 and zs < 5
    assert np.abs(draws[:, 1:].mean(0) / (draws[:, 1:].std(0) / np.sqrt(len(v)))).max() < 5
    # sd(x_i)^2 = E[exp(v)], v ~ N(0, 9): by quadrature, not from the same formula
    e_exp, _ = integrate.quad(lambda t: np.exp(t) * stats.norm.pdf(t, 0, 3), -40, 50)
    np.testing.assert_allclose(m.true_std[1:] ** 2, e_exp, rtol=1e-8)
    want = (stats.norm.logpdf(v[:5], 0, 3)
            + stats.norm.logpdf(x[:5], 0, np.exp(v[:5] / 2)[:, None]).sum(1))
    np.testing.assert_allclose(m.logp_and_grad(draws[:5])[0], want, rtol=1e-12)
    own = m.sample(200_000, seed=3)
    assert _zscores(own[:, :1], 0.0, 3.0)[1] < 5


def test_banana_truth_and_density():
    m = T.get("banana")
    rng = np.random.default_rng(2)
    x1 = rng.normal(0, 10, 400_000)
    x2 = rng.normal(0.03 * (x1**2 - 100), 1.0)
    draws = np.column_stack([x1, x2])
    zm, zs = _zscores(draws, m.true_mean, m.true_std)
    assert zm < 5 and zs < 5
    want = (stats.norm.logpdf(x1[:5], 0, 10)
            + stats.norm.logpdf(x2[:5], 0.03 * (x1[:5] ** 2 - 100), 1))
    np.testing.assert_allclose(m.logp_and_grad(draws[:5])[0], want, rtol=1e-12)
    zm, zs = _zscores(m.sample(400_000, seed=4), m.true_mean, m.true_std)
    assert zm < 5 and zs < 5


def test_mixture_truth_and_density():
    m = T.get("mixture", dim=3, separation=5.0, weight=0.3)
    c = np.full(3, 2.5 / np.sqrt(3))
    rng = np.random.default_rng(3)
    n = 400_000
    first = rng.random(n) < 0.3
    draws = rng.standard_normal((n, 3)) + np.where(first[:, None], c, -c)
    zm, zs = _zscores(draws, m.true_mean, m.true_std)
    assert zm < 5 and zs < 5
    X = draws[:5]
    want = np.log(0.3 * stats.multivariate_normal(c).pdf(X)
                  + 0.7 * stats.multivariate_normal(-c).pdf(X))
    np.testing.assert_allclose(m.logp_and_grad(X)[0], want, rtol=1e-12)
    zm, zs = _zscores(m.sample(n, seed=5), m.true_mean, m.true_std)
    assert zm < 5 and zs < 5


# ---- eight schools ---------------------------------------------------------------------

Y = np.array([28, 8, -3, 7, -1, 1, 18, 12.0])
SIGMA = np.array([15, 10, 16, 11, 9, 11, 10, 18.0])


def _eight_schools_slow(u, centered):
    mu, log_tau, rest = u[0], u[1], u[2:]
    tau = np.exp(log_tau)
    lp = stats.norm.logpdf(mu, 0, 5) + stats.halfcauchy.logpdf(tau, scale=5) + log_tau
    if centered:
        lp += stats.norm.logpdf(rest, mu, tau).sum() + stats.norm.logpdf(Y, rest, SIGMA).sum()
    else:
        lp += stats.norm.logpdf(rest).sum() + stats.norm.logpdf(Y, mu + tau * rest, SIGMA).sum()
    return lp


@pytest.mark.parametrize("centered", [True, False])
def test_eight_schools_against_scipy(centered):
    m = T.get("eight-schools" if centered else "eight-schools-nc")
    U = np.random.default_rng(4).normal(0, 1, (5, 10)) * np.array([5, 1] + [3] * 8)
    want = [_eight_schools_slow(u, centered) for u in U]
    np.testing.assert_allclose(m.logp_and_grad(U)[0], want, rtol=1e-12)
    named = m.to_named(U)
    np.testing.assert_allclose(named["tau"], np.exp(U[:, 1]))
    assert [v.name for v in m.variables] == ["mu", "tau", "theta" if centered else "theta_tilde"]


# ---- logistic regression ---------------------------------------------------------------

def _breast_cancer_raw():
    path = resources.files("mcmcadapt").joinpath("data", "breast_cancer.csv")
    with path.open() as fh:
        rows = list(csv.reader(fh))[1:]
    data = np.array(rows, dtype=float)
    return data[:, :-1], data[:, -1]


def _logistic_slow(beta, Xraw, y):
    Z = (Xraw - Xraw.mean(0)) / Xraw.std(0)
    lp = -0.5 * len(beta) * np.log(2 * np.pi) - 0.5 * beta @ beta
    for x, t in zip(Z, y):
        eta = beta[0] + x @ beta[1:]
        lp += t * eta - np.log1p(np.exp(eta))
    return lp


def test_logistic_against_slow_loop():
    Xraw, y = _breast_cancer_raw()
    m = T.get("logistic-breast-cancer")
    assert m.dim == 31 and m.n_data == 569 and m.variables[0].name == "beta"
    B = 0.2 * np.random.default_rng(5).standard_normal((3, 31))
    np.testing.assert_allclose(m.logp_and_grad(B)[0], [_logistic_slow(b, Xraw, y) for b in B],
                               rtol=1e-11)


def test_logistic_german_against_slow_loop():
    root = _shared_or_skip()
    data = np.loadtxt(root / "logistic" / "german.csv", delimiter=",")
    m = T.get("logistic-german")
    assert m.dim == 25 and m.n_data == 1000
    B = 0.2 * np.random.default_rng(6).standard_normal((2, 25))
    want = [_logistic_slow(b, data[:, :-1], data[:, -1] - 1) for b in B]
    np.testing.assert_allclose(m.logp_and_grad(B)[0], want, rtol=1e-11)


def test_logistic_exact_hvp_matches_gradient_differences():
    m = T.get("logistic-breast-cancer")
    rng = np.random.default_rng(7)
    B, V = 0.2 * rng.standard_normal((3, 31)), rng.standard_normal((3, 31))
    h = 1e-5
    fd = (m.logp_and_grad(B + h * V)[1] - m.logp_and_grad(B - h * V)[1]) / (2 * h)
    np.testing.assert_allclose(m.hvp(B, V), fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


def test_logistic_minibatch_singletons_average_to_full_batch():
    """Σ_j over singleton batches: mean of (prior + N·ll_j) is exactly the full posterior."""
    m = T.get("logistic-breast-cancer")
    B = 0.2 * np.random.default_rng(8).standard_normal((2, 31))
    lp_full, g_full = m.logp_and_grad(B)
    parts = [m.logp_and_grad(B, batch=[j]) for j in range(m.n_data)]
    np.testing.assert_allclose(np.mean([p[0] for p in parts], 0), lp_full, rtol=1e-11)
    np.testing.assert_allclose(np.mean([p[1] for p in parts], 0), g_full, rtol=1e-9,
                               atol=1e-9 * np.abs(g_full).max())


def test_logistic_random_minibatches_are_unbiased():
    m = T.get("logistic-breast-cancer")
    rng = np.random.default_rng(9)
    B = 0.2 * rng.standard_normal((1, 31))
    lp_full, g_full = m.logp_and_grad(B)
    est = [np.concatenate([lp, g[0]]) for lp, g in
           (m.logp_and_grad(B, batch=rng.choice(569, 32, replace=False)) for _ in range(3000))]
    est = np.array(est)
    z = (est.mean(0) - np.concatenate([lp_full, g_full[0]])) / (est.std(0) / np.sqrt(len(est)))
    assert np.abs(z).max() < 4.5
    # and the estimate is genuinely noisy, so the test above has power
    assert est[:, 0].std() > 1.0
