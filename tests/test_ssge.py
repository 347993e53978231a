"""SSGE against a slow reference: Nyström eigenfunctions and their gradients summed with
explicit loops over pairs."""

import numpy as np
import pytest

from mcmcadapt.errors import HyperparameterError
from mcmcadapt.score.spectral import SSGE

BETA = -0.5


def k_and_grad(kernel, h, x, y):
    """k(x, y) and ∇_x k(x, y), written out per kernel."""
    r = x - y
    s = float(r @ r)
    if kernel == "rbf":
        k = np.exp(-s / (2 * h * h))
        return k, -k * r / h**2
    u = 1 + s / h**2
    return u**BETA, 2 * BETA / h**2 * u ** (BETA - 1) * r


def reference_ssge(kernel, h, X, Y, n_eigen=None, threshold=None, cutoff=None):
    n, d = X.shape
    K = np.array([[k_and_grad(kernel, h, X[i], X[j])[0] for j in range(n)] for i in range(n)])
    lam, U = np.linalg.eigh(K)
    lam, U = lam[::-1], U[:, ::-1]
    if cutoff is not None:
        n_eigen = int(np.sum(lam > cutoff))
    elif n_eigen is None:
        frac = np.cumsum(lam) / np.sum(lam)
        n_eigen = next(j + 1 for j in range(n) if frac[j] >= threshold)
    lam, U = lam[:n_eigen], U[:, :n_eigen]

    def psi_and_grad(x):
        psi = np.zeros(n_eigen)
        grad = np.zeros((n_eigen, d))
        for m in range(n):
            k, g = k_and_grad(kernel, h, x, X[m])
            for j in range(n_eigen):
                psi[j] += np.sqrt(n) / lam[j] * U[m, j] * k
                grad[j] += np.sqrt(n) / lam[j] * U[m, j] * g
        return psi, grad

    beta = np.zeros((n_eigen, d))
    for i in range(n):
        beta -= psi_and_grad(X[i])[1] / n
    scores = lambda Q: np.array([psi_and_grad(q)[0] @ beta for q in Q])  # noqa: E731
    return scores(X), scores(Y), n_eigen


def rel_err(A, B):
    return np.max(np.abs(A - B)) / np.max(np.abs(B))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(21)
    X = rng.standard_normal((25, 3)) @ np.array([[1.0, 0.3, 0.0], [0, 0.7, 0.2], [0, 0, 1.5]])
    Y = rng.standard_normal((6, 3))
    return X + 5.0, Y + 5.0


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
@pytest.mark.parametrize(
    "kw",
    [{"n_eigen": 4}, {"eigen_threshold": 0.99}, {"eigen_threshold": 0.9}, {"eta": 1.0},
     {"eta": 0.05}],
)
def test_matches_loop_reference(data, kernel, kw):
    X, Y = data
    h = 1.6
    est = SSGE(kernel=kernel, bandwidth=h, **kw).fit(X)
    g_in, g_out, J = reference_ssge(kernel, h, X, Y, kw.get("n_eigen"),
                                    kw.get("eigen_threshold"), kw.get("eta"))
    assert est.n_eigen_ == J
    assert rel_err(est.gradients(), g_in) < 1e-10
    assert rel_err(est.gradients(Y), g_out) < 1e-10


def test_out_of_sample_formula_reproduces_in_sample(data):
    X, _ = data
    for est in (SSGE(n_eigen=7).fit(X), SSGE().fit(X)):
        assert rel_err(est.gradients(X), est.gradients()) < 1e-10


def test_bandwidth_comes_from_fitted_particles_only(data):
    X, Y = data
    est = SSGE().fit(X)
    far = np.vstack([Y, Y + 100.0])
    # Queries never change the fitted bandwidth, so a row's estimate is batch-independent.
    np.testing.assert_array_equal(est.gradients(far)[: len(Y)], est.gradients(Y))


def test_threshold_one_keeps_all_numerically_nonzero_eigenpairs():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 2))
    X[15:] = X[:15]                          # duplicates: K has rank ≤ 15
    est = SSGE(eigen_threshold=1.0, bandwidth=0.5).fit(X)
    assert est.n_eigen_ <= 15
    assert np.all(est.eigenvalues_ > 30 * np.finfo(float).eps * est.eigenvalues_[0])
    G = est.gradients()
    assert np.all(np.isfinite(G))
    np.testing.assert_allclose(G[15:], G[:15], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"n_eigen": 0}, "n_eigen"),
        ({"n_eigen": -3}, "n_eigen"),
        ({"n_eigen": 2.5}, "n_eigen"),
        ({"n_eigen": True}, "n_eigen"),
        ({"n_eigen": 11}, "exceeds"),
        ({"eigen_threshold": 0.0}, "eigen_threshold"),
        ({"eigen_threshold": 1.5}, "eigen_threshold"),
        ({"eigen_threshold": "most"}, "eigen_threshold"),
        ({"eta": 0.0}, "eta"),
        ({"eta": -1.0}, "eta"),
        ({"eta": "big"}, "eta"),
        ({"n_eigen": 3, "eta": "auto"}, "n_eigen"),
        ({"eigen_threshold": 0.9, "eta": "auto"}, "eigen_threshold"),
    ],
)
def test_bad_hyperparameters(kw, match):
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(HyperparameterError, match=match):
        SSGE(**kw).fit(X)


def test_cutoff_above_every_eigenvalue_gives_zero_with_warning():
    X = np.random.default_rng(5).standard_normal((20, 2))
    with pytest.warns(RuntimeWarning, match="no eigenvalue"):
        est = SSGE(eta=1e3).fit(X)
    assert est.n_eigen_ == 0
    assert np.all(est.gradients() == 0.0) and np.all(est.gradients(X[:3] + 0.1) == 0.0)


def test_auto_cutoff_is_chosen_from_grid():
    X = np.random.default_rng(3).standard_normal((120, 2))
    est = SSGE(bandwidth="auto", eta="auto").fit(X)
    assert est.selection_["chosen"]["eta"] in SSGE.auto_grids["eta"]
    assert est.eta == "auto"                      # constructor arguments stay unchanged
