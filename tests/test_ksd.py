"""Kernel Stein discrepancy: against an explicit double loop, and its behaviour on samples."""

import importlib

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from mcmcadapt.errors import InputError, ModelError
from mcmcadapt.score.ksd import ksd, ksd_squared

# the package exports the function ksd, which shadows the submodule as an attribute
ksd_module = importlib.import_module("mcmcadapt.score.ksd")


def stein_kernel_pair(x, y, sx, sy, kernel, h, beta):
    """u_p(x, y) with every derivative of the kernel written out by hand."""
    r = x - y
    r2 = r @ r
    d = x.size
    if kernel == "rbf":
        k = np.exp(-r2 / (2 * h * h))
        grad_x = -k * r / (h * h)
        # ∂²k/∂x_l∂y_l = k (1/h² − r_l²/h⁴)
        trace = np.sum(k * (1 / (h * h) - r**2 / h**4))
    else:
        u = 1 + r2 / (h * h)
        k = u**beta
        grad_x = beta * u ** (beta - 1) * 2 * r / (h * h)
        # ∂/∂x_l of ∂k/∂y_l = −2β/h² [ (β−1) u^(β−2) 2 r_l²/h² + u^(β−1) ]
        trace = np.sum(-2 * beta / (h * h) * ((beta - 1) * u ** (beta - 2) * 2 * r**2 / (h * h)
                                              + u ** (beta - 1)))
    grad_y = -grad_x
    assert trace.shape == () and d == y.size
    return sx @ sy * k + sx @ grad_y + sy @ grad_x + trace


def reference_u_statistic(X, S, kernel, h, beta):
    n = X.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                total += stein_kernel_pair(X[i], X[j], S[i], S[j], kernel, h, beta)
    return total / (n * (n - 1))


@pytest.mark.parametrize(
    "kernel,h,beta", [("imq", 1.0, -0.5), ("imq", 0.7, -0.3), ("rbf", 1.3, -0.5)]
)
def test_matches_double_loop(kernel, h, beta):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3)) * 1.3 + 0.4
    S = -X + 0.2 * rng.normal(size=X.shape)  # any score field works for the identity
    ref = reference_u_statistic(X, S, kernel, h, beta)
    value = ksd_squared(X, S, kernel=kernel, bandwidth=h, beta=beta)
    assert value == pytest.approx(ref, rel=1e-11)


def test_blocks_callable_and_median_bandwidth(monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2)) + 100.0  # far from the origin: centring keeps precision
    score = lambda Z: -(Z - 100.0)  # noqa: E731
    whole = ksd_squared(X, score(X))
    monkeypatch.setattr(ksd_module, "BLOCK_ENTRIES", 50 * 7)  # 7 rows per block
    assert ksd_squared(X, score) == pytest.approx(whole, rel=1e-12)
    ref = reference_u_statistic(X, score(X), "imq", 1.0, -0.5)
    assert whole == pytest.approx(ref, rel=1e-9)
    h = np.median(pdist(X))
    assert ksd_squared(X, score, bandwidth="median") == pytest.approx(
        reference_u_statistic(X, score(X), "imq", h, -0.5), rel=1e-9
    )


def test_near_zero_for_exact_samples_and_large_for_shifted():
    score = lambda Z: -Z  # noqa: E731  N(0, I_2)
    exact, shifted = [], []
    for seed in range(3):
        X = np.random.default_rng(seed).normal(size=(600, 2))
        exact.append(ksd_squared(X, score))
        shifted.append(ksd_squared(X + 0.5, score))
    # E[U] = 0 for exact samples, fluctuating at O(1/n); a 0.5 shift gives a fixed positive value
    assert max(abs(u) for u in exact) < 0.02 * min(shifted)
    assert ksd(X + 0.5, score) == pytest.approx(np.sqrt(shifted[-1]))
    # the discrepancy grows with the shift
    X = np.random.default_rng(9).normal(size=(600, 2))
    values = [ksd(X + s, score) for s in (0.25, 0.5, 1.0)]
    assert values[0] < values[1] < values[2]


def test_ksd_clips_negative_u_statistic():
    # two particles whose scores point at each other: the s(x)ᵀs(y)k term makes U < 0
    X = np.array([[0.0], [1.0]])
    S = np.array([[10.0], [-10.0]])
    u = ksd_squared(X, S)
    assert u == pytest.approx(reference_u_statistic(X, S, "imq", 1.0, -0.5), rel=1e-12)
    assert u < 0.0
    assert ksd(X, S) == 0.0


def test_bad_scores():
    X = np.random.default_rng(5).normal(size=(10, 2))
    with pytest.raises(InputError, match="rows"):
        ksd(X, -X[:5])
    with pytest.raises(InputError, match="columns"):
        ksd(X, np.zeros((10, 3)))
    with pytest.raises(InputError, match="NaN"):
        ksd(X, np.full((10, 2), np.nan))
    with pytest.raises(ModelError, match="shape"):
        ksd(X, lambda Z: Z[:, 0])
    with pytest.raises(ModelError, match="NaN or inf"):
        ksd(X, lambda Z: np.full_like(Z, np.inf))
    with pytest.raises(InputError, match="2-D"):
        ksd(X[:, 0], -X[:, 0])
    with pytest.raises(ValueError, match="bandwidth"):
        ksd(X, -X, bandwidth="silverman")
    with pytest.raises(ValueError, match="bandwidth"):
        ksd(X, -X, bandwidth=-1.0)
