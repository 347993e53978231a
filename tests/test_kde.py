"""KDE plug-in score against a loop reference, far-away queries, and its self term."""

import numpy as np
import pytest

from mcmcadapt.score.kde import KDE

BETA = -0.5


def k_and_grad(kernel, h, y, x):
    """k(y, x) and ∇_y k(y, x), written out per kernel."""
    r = y - x
    s = float(r @ r)
    if kernel == "rbf":
        k = np.exp(-s / (2 * h * h))
        return k, -k * r / h**2
    u = 1 + s / h**2
    return u**BETA, 2 * BETA / h**2 * u ** (BETA - 1) * r


def reference_kde(kernel, h, X, Y):
    out = np.zeros_like(Y)
    for a in range(len(Y)):
        num, den = np.zeros(Y.shape[1]), 0.0
        for m in range(len(X)):
            k, g = k_and_grad(kernel, h, Y[a], X[m])
            num += g
            den += k
        out[a] = num / den
    return out


def rel_err(A, B):
    return np.max(np.abs(A - B)) / np.max(np.abs(B))


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_matches_loop_reference(kernel):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 4)) * 0.5 - 7.0
    Y = rng.standard_normal((9, 4)) * 0.7 - 7.0
    est = KDE(kernel=kernel, bandwidth=0.6).fit(X)
    assert rel_err(est.gradients(Y), reference_kde(kernel, 0.6, X, Y)) < 1e-10
    # In-sample is the same formula at the particles, self term included.
    assert rel_err(est.gradients(), reference_kde(kernel, 0.6, X, X)) < 1e-10


def test_far_queries_point_to_the_nearest_particle():
    # exp(−‖y − x‖²/(2h²)) underflows to 0 for every particle here; the row shift keeps the
    # ratio, which tends to (x_nearest − y)/h² as the nearest particle dominates.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 2))
    h = 0.3
    y = np.array([[60.0, 0.0]])
    assert np.exp(-np.min(np.sum((X - y) ** 2, axis=1)) / (2 * h * h)) == 0.0
    s = KDE(bandwidth=h).fit(X).gradients(y)
    nearest = X[np.argmin(np.sum((X - y) ** 2, axis=1))]
    np.testing.assert_allclose(s[0], (nearest - y[0]) / h**2, rtol=1e-6)


def test_self_term_shrinks_in_sample_estimate():
    # With a tiny bandwidth each particle sees only itself: the in-sample estimate is ~0,
    # while a query between two particles is pulled toward both (documented behaviour).
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    est = KDE(bandwidth=0.05).fit(X)
    assert np.max(np.abs(est.gradients())) < 1e-50
    s = est.gradients(np.array([[0.5, 0.0]]))[0]
    # The pulls toward (0, 0) and (1, 0), each 0.5/h² = 200 strong, cancel.
    np.testing.assert_allclose(s, [0.0, 0.0], atol=1e-12 * 0.5 / 0.05**2)


def test_auto_bandwidth_from_grid():
    X = np.random.default_rng(4).standard_normal((100, 2))
    est = KDE(bandwidth="auto").fit(X)
    assert est.selection_["chosen"]["bandwidth"] in KDE.auto_grids["bandwidth"]
