"""Stein gradient estimator: exact formula, out-of-sample identity, accuracy on known scores."""

import numpy as np
import pytest
from scipy.special import logsumexp

from mcmcadapt.errors import SingularMatrixError
from mcmcadapt.score import stein as stein_module
from mcmcadapt.score.kernels import query_blocks
from mcmcadapt.score.stein import Stein


def reference_stein(X, h, eta, statistic="V", kernel="rbf", beta=-0.5):
    """Ĝ = −(K + ηI)⁻¹B (V) or −(K − diag K + ηI)⁻¹B (U), every entry by explicit loops."""
    n, d = X.shape
    K = np.zeros((n, n))
    B = np.zeros((n, d))
    for i in range(n):
        for j in range(n):
            diff = X[i] - X[j]
            r2 = diff @ diff
            if kernel == "rbf":
                K[i, j] = np.exp(-r2 / (2 * h * h))
                grad_xj = K[i, j] * diff / (h * h)  # ∇_{x_j} exp(−‖x_i − x_j‖²/(2h²))
            else:
                u = 1 + r2 / (h * h)
                K[i, j] = u**beta
                grad_xj = beta * u ** (beta - 1) * 2 * (X[j] - X[i]) / (h * h)
            B[i] += grad_xj
    A = K + eta * np.eye(n) if statistic == "V" else K - np.diag(np.diag(K)) + eta * np.eye(n)
    return -np.linalg.solve(A, B)


def rel_err(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("statistic", ["V", "U"])
@pytest.mark.parametrize("kernel,beta", [("rbf", -0.5), ("imq", -0.5), ("imq", -0.7)])
@pytest.mark.parametrize("d", [3, 40])  # n > d and n < d take different solve orders
def test_in_sample_equals_exact_formula(statistic, kernel, beta, d):
    rng = np.random.default_rng(0)
    mix = np.eye(d) + np.diag(np.full(d - 1, 0.3), 1)
    X = rng.normal(size=(25, d)) @ mix * np.sqrt(3 / d) + 4.0
    est = Stein(kernel=kernel, bandwidth=1.1, eta=0.03, statistic=statistic, beta=beta).fit(X)
    ref = reference_stein(X, 1.1, 0.03, statistic, kernel, beta)
    assert rel_err(est.gradients(), ref) < 1e-10
    assert est.eta_ == 0.03 and est.bandwidth_ == 1.1 and est.jitter_ == 0.0


def test_bandwidth_rules_and_scale_feed_the_formula():
    X = np.random.default_rng(1).normal(size=(30, 2))
    dists = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))[np.triu_indices(30, 1)]
    est = Stein(bandwidth="median", bandwidth_scale=1.5, eta=0.1).fit(X)
    assert est.bandwidth_ == pytest.approx(1.5 * np.median(dists), rel=1e-12)
    assert rel_err(est.gradients(), reference_stein(X, est.bandwidth_, 0.1)) < 1e-10
    est = Stein(bandwidth="median_log", eta=0.1).fit(X)
    h_log = np.sqrt(0.5 * np.median(dists**2) / np.log(31))
    assert est.bandwidth_ == pytest.approx(h_log, rel=1e-12)


@pytest.mark.parametrize("statistic,eta", [("V", 0.05), ("U", 1.5)])
@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_out_of_sample_equals_refit_with_the_query(statistic, eta, kernel):
    # Eq. 28: the estimate at y is the last row of the estimator refitted on X ∪ {y}
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    Y = np.vstack([rng.normal(size=(4, 3)) * 1.5, X[3] + 1e-3])
    est = Stein(kernel=kernel, bandwidth=1.3, eta=eta, statistic=statistic).fit(X)
    S = est.gradients(Y)
    assert S.shape == Y.shape
    for y, s in zip(Y, S):
        refit = Stein(kernel=kernel, bandwidth=1.3, eta=eta, statistic=statistic)
        expected = refit.fit(np.vstack([X, y])).gradients()[-1]
        np.testing.assert_allclose(s, expected, rtol=1e-8, atol=1e-10)


def test_out_of_sample_blocks_and_cache(monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    Y = rng.normal(size=(23, 2))
    est = Stein(bandwidth=0.8, eta=0.1).fit(X)
    whole = est.gradients(Y)
    counts = []

    def four_per_block(m, n):
        blocks = query_blocks(m, n, 4 * n)
        counts.append(len(blocks))
        return blocks

    monkeypatch.setattr(stein_module, "query_blocks", four_per_block)
    np.testing.assert_allclose(est.gradients(Y), whole, rtol=1e-13)
    assert counts == [6]  # 23 queries in blocks of 4
    # the in-sample result is cached and handed out as a copy
    G = est.gradients()
    G[:] = 0.0
    assert np.all(est.gradients() != 0.0)


def test_u_and_v_agree_as_n_grows():
    # the statistics differ by one unit on the diagonal, which matters less as K grows with n
    diffs = []
    for n in (100, 400, 1600):
        X = np.random.default_rng(n).normal(size=(n, 3))
        gv = Stein(eta=1.5).fit(X).gradients()
        gu = Stein(eta=1.5, statistic="U").fit(X).gradients()
        diffs.append(np.linalg.norm(gu - gv) / np.linalg.norm(gv))
    assert diffs[0] > diffs[1] > diffs[2]
    assert diffs[2] < 0.1


# --- analytic scores ---------------------------------------------------------------------
MU = np.array([1.0, -2.0, 0.5])
A_CORR = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.3, -0.4, 0.5]])
PREC = np.linalg.inv(A_CORR @ A_CORR.T)
CENTRES = np.array([[-2.0, 0.0], [2.0, 0.0]])


def standard_normal(n, rng):
    X = rng.normal(size=(n, 3))
    return X, -X


def correlated_normal(n, rng):
    X = MU + rng.normal(size=(n, 3)) @ A_CORR.T
    return X, -(X - MU) @ PREC


def mixture(n, rng):
    X = CENTRES[rng.integers(0, 2, n)] + rng.normal(size=(n, 2))
    logw = -0.5 * ((X[:, None] - CENTRES[None]) ** 2).sum(-1)
    w = np.exp(logw - logsumexp(logw, axis=1, keepdims=True))
    return X, np.einsum("nk,nkd->nd", w, CENTRES[None] - X[:, None])


def student_t(n, rng, nu=5.0, d=2):
    X = rng.normal(size=(n, d)) / np.sqrt(rng.chisquare(nu, (n, 1)) / nu)
    return X, -(nu + d) * X / (nu + np.sum(X**2, axis=1, keepdims=True))


@pytest.mark.parametrize(
    "sampler,scale,bound",
    [
        (standard_normal, 2.0, 0.03),
        (correlated_normal, 2.0, 0.03),
        (mixture, 1.0, 0.1),
        (student_t, 2.0, 0.04),
    ],
)
def test_accuracy_improves_with_n(sampler, scale, bound):
    errs = []
    for n in (100, 400, 1600):
        e = []
        for seed in range(2):
            X, S = sampler(n, np.random.default_rng(seed))
            G = Stein(eta=0.1, bandwidth_scale=scale).fit(X).gradients()
            e.append(np.mean(np.sum((G - S) ** 2, 1)) / np.mean(np.sum(S**2, 1)))
        errs.append(np.mean(e))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < bound


def test_out_of_sample_accuracy_on_gaussian():
    rng = np.random.default_rng(4)
    X, _ = correlated_normal(1500, rng)
    Y, S = correlated_normal(300, rng)
    G = Stein(eta=0.1, bandwidth_scale=2.0).fit(X).gradients(Y)
    assert np.mean(np.sum((G - S) ** 2, 1)) / np.mean(np.sum(S**2, 1)) < 0.05


# --- degenerate systems ---------------------------------------------------------------------
def test_duplicates_do_not_crash_and_jitter_is_reported():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20, 2))
    X = np.vstack([X, X[:5], X[:5]])  # triplicated rows
    est = Stein(bandwidth=1.0, eta=0.1).fit(X)
    G = est.gradients()
    # rows i, j of K coincide, so η(g_i − g_j) = b_i − b_j = 0: equal estimates
    np.testing.assert_allclose(G[20:25], G[:5], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(G[25:], G[:5], rtol=1e-9, atol=1e-12)
    # a ridge below rounding leaves K exactly singular: the Cholesky needs (and reports) jitter
    est = Stein(bandwidth=1.0, eta=1e-300).fit(X)
    assert est.jitter_ > 0.0
    assert np.all(np.isfinite(est.gradients()))
    assert np.all(np.isfinite(est.gradients(rng.normal(size=(3, 2)))))


def test_u_statistic_singular_system_is_reported():
    # two coincident particles with eta = 1 make K − diag(K) + I = K, with two equal rows
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.5], [-0.3, 1.2]])
    with pytest.raises(SingularMatrixError, match="U-statistic"):
        Stein(bandwidth=1.0, eta=1.0, statistic="U").fit(X)


def test_get_params_and_clone():
    est = Stein(kernel="imq", bandwidth=2.0, eta=0.5, statistic="U", beta=-0.3)
    params = est.get_params()
    assert params == {
        "kernel": "imq", "bandwidth": 2.0, "eta": 0.5, "statistic": "U",
        "bandwidth_scale": 1.0, "beta": -0.3, "auto_criterion": "heldout",
    }
    other = est.clone(eta=0.1)
    assert other.eta == 0.1 and other.statistic == "U" and not hasattr(other, "X_")


@pytest.mark.parametrize("n, d", [(6, 40), (40, 6)])  # Ĝ kept factored (n < d) and solved for
def test_in_sample_result_is_the_callers_to_modify(n, d):
    """gradients() returns a new array each time (the adaptation writes its residual into
    it): modifying it changes neither later calls, nor Ĝ, nor out-of-sample queries."""
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(3, d))
    est = Stein().fit(X)
    first = est.gradients()
    ref = first.copy()
    out_ref = est.gradients(Y)
    first[:] = np.nan
    np.testing.assert_array_equal(est.gradients(), ref)
    np.testing.assert_array_equal(est.G_, ref)
    np.testing.assert_array_equal(est.gradients(Y), out_ref)
    again = est.gradients()
    assert again is not est.G_ and not np.shares_memory(again, est.G_)
