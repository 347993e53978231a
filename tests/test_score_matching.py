"""Kernel score matching against a loop reference of the regularised empirical Fisher
divergence, the energy's gradient against finite differences, and bad hyper-parameters."""

import numpy as np
import pytest

from mcmcadapt.errors import HyperparameterError
from mcmcadapt.score.score_matching import KernelScoreMatching

BETA = -0.5


def k_grad_lap(kernel, h, x, c):
    """k(x, c), ∇_x k(x, c) and Δ_x k(x, c), written out per kernel."""
    r = x - c
    s = float(r @ r)
    d = r.size
    if kernel == "rbf":
        k = np.exp(-s / (2 * h * h))
        return k, -k * r / h**2, k * (s / h**4 - d / h**2)
    u = 1 + s / h**2
    g = 2 * BETA / h**2 * u ** (BETA - 1)
    lap = 2 * BETA / h**2 * (d * u ** (BETA - 1) + 2 * (BETA - 1) / h**2 * u ** (BETA - 2) * s)
    return u**BETA, g * r, lap


def fisher_objective(kernel, h, X, alpha, ridge):
    """(1/n) Σ_i [½‖∇f(x_i)‖² + Δf(x_i)] + (ridge/2)‖α‖² for f = Σ_m α_m k(·, x_m)."""
    n, d = X.shape
    total = 0.0
    for i in range(n):
        grad, lap = np.zeros(d), 0.0
        for m in range(n):
            _, g, l = k_grad_lap(kernel, h, X[i], X[m])
            grad += alpha[m] * g
            lap += alpha[m] * l
        total += 0.5 * grad @ grad + lap
    return total / n + 0.5 * ridge * alpha @ alpha


def reference_ksm(kernel, h, eta, X):
    """α from the normal equations of the quadratic objective, assembled pair by pair."""
    n, d = X.shape
    C = np.zeros((n, n))
    b = np.zeros(n)
    for i in range(n):
        grads = [k_grad_lap(kernel, h, X[i], X[m]) for m in range(n)]
        for a in range(n):
            b[a] += grads[a][2]
            for c in range(n):
                C[a, c] += grads[a][1] @ grads[c][1]
    ridge = eta * np.trace(C) / n**2
    alpha = np.linalg.solve(C / n + ridge * np.eye(n), -b / n)
    return alpha, ridge


def ref_f_and_grad(kernel, h, X, alpha, Y):
    f = np.zeros(len(Y))
    g = np.zeros_like(Y)
    for a in range(len(Y)):
        for m in range(len(X)):
            k, gr, _ = k_grad_lap(kernel, h, Y[a], X[m])
            f[a] += alpha[m] * k
            g[a] += alpha[m] * gr
    return f, g


def rel_err(A, B):
    return np.max(np.abs(A - B)) / np.max(np.abs(B))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(31)
    X = rng.standard_normal((20, 3)) * np.array([0.5, 1.0, 2.0]) + 4.0
    Y = rng.standard_normal((5, 3)) + 4.0
    return X, Y


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_matches_loop_reference(data, kernel):
    X, Y = data
    h, eta = 2.0, 0.05
    est = KernelScoreMatching(kernel=kernel, bandwidth=h, eta=eta).fit(X)
    alpha, ridge = reference_ksm(kernel, h, eta, X)
    assert rel_err(est.alpha_, alpha) < 1e-10
    f_in, g_in = ref_f_and_grad(kernel, h, X, alpha, X)
    f_out, g_out = ref_f_and_grad(kernel, h, X, alpha, Y)
    assert rel_err(est.gradients(), g_in) < 1e-10
    assert rel_err(est.gradients(Y), g_out) < 1e-10
    assert rel_err(est.energy(), f_in) < 1e-10
    assert rel_err(est.energy(Y), f_out) < 1e-10


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_alpha_minimises_the_regularised_fisher_divergence(data, kernel):
    # Independent of the normal equations: the objective itself, evaluated by loops, rises
    # quadratically in every direction away from the fitted α.
    X, _ = data
    h, eta = 2.0, 0.05
    est = KernelScoreMatching(kernel=kernel, bandwidth=h, eta=eta).fit(X)
    _, ridge = reference_ksm(kernel, h, eta, X)
    J0 = fisher_objective(kernel, h, X, est.alpha_, ridge)
    rng = np.random.default_rng(0)
    for _ in range(3):
        v = rng.standard_normal(len(X))
        v *= 1e-2 * np.linalg.norm(est.alpha_) / np.linalg.norm(v)
        Jp = fisher_objective(kernel, h, X, est.alpha_ + v, ridge)
        Jm = fisher_objective(kernel, h, X, est.alpha_ - v, ridge)
        assert Jp > J0 and Jm > J0
        # Stationarity: the first-order change vanishes, (Jp − Jm) ≪ (Jp + Jm − 2J0).
        assert abs(Jp - Jm) < 1e-6 * (Jp + Jm - 2 * J0)


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_gradients_are_the_gradient_of_the_energy(data, kernel):
    X, Y = data
    est = KernelScoreMatching(kernel=kernel).fit(X)
    eps = 1e-5
    fd = np.zeros_like(Y)
    for l in range(Y.shape[1]):
        e = np.zeros(Y.shape[1])
        e[l] = eps
        fd[:, l] = (est.energy(Y + e) - est.energy(Y - e)) / (2 * eps)
    assert rel_err(est.gradients(Y), fd) < 1e-7


def test_out_of_sample_reproduces_in_sample(data):
    X, _ = data
    est = KernelScoreMatching().fit(X)
    assert rel_err(est.gradients(X), est.gradients()) < 1e-10
    assert rel_err(est.energy(X), est.energy()) < 1e-10


def test_duplicate_particles_do_not_crash():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((24, 2))
    X[12:] = X[:12]
    G = KernelScoreMatching(eta=1e-6).fit(X).gradients()
    assert np.all(np.isfinite(G))
    np.testing.assert_allclose(G[12:], G[:12], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("eta", [0.0, -0.1, float("nan"), float("inf"), "large", None])
def test_bad_eta(eta):
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(HyperparameterError, match="eta"):
        KernelScoreMatching(eta=eta).fit(X)


def test_energy_checks_queries():
    from mcmcadapt.errors import InputError, NotFittedError

    with pytest.raises(NotFittedError):
        KernelScoreMatching().energy()
    est = KernelScoreMatching().fit(np.random.default_rng(0).standard_normal((10, 2)))
    with pytest.raises(InputError, match="columns"):
        est.energy(np.zeros((3, 3)))
    with pytest.raises(InputError, match="NaN"):
        est.energy(np.array([[0.0, np.nan]]))


def test_auto_chooses_from_grid():
    X = np.random.default_rng(7).standard_normal((100, 2))
    est = KernelScoreMatching(bandwidth="auto", eta="auto").fit(X)
    assert est.eta_ in KernelScoreMatching.auto_grids["eta"]
    assert est.eta == "auto"
