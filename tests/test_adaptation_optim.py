"""Adam with clipping and the non-finite guard, against a slow reference."""

import math

import numpy as np
import pytest

from mcmcadapt.adaptation.optim import Adam
from mcmcadapt.errors import HyperparameterError


def reference_adam(phi0, grads, lr, b1=0.9, b2=0.999, eps=1e-8, clip=None):
    """Adam written coordinate by coordinate with explicit loops."""
    phi = list(phi0)
    p = len(phi)
    m = [0.0] * p
    v = [0.0] * p
    t = 0
    out = []
    for g in grads:
        g = list(g)
        if not all(math.isfinite(x) for x in g):
            out.append(list(phi))
            continue
        if clip is not None:
            norm = math.sqrt(sum(x * x for x in g))
            if norm > clip:
                g = [x * clip / norm for x in g]
        t += 1
        for j in range(p):
            m[j] = b1 * m[j] + (1 - b1) * g[j]
            v[j] = b2 * v[j] + (1 - b2) * g[j] ** 2
            mh = m[j] / (1 - b1 ** t)
            vh = v[j] / (1 - b2 ** t)
            phi[j] -= (lr[j] if isinstance(lr, list) else lr) * mh / (math.sqrt(vh) + eps)
        out.append(list(phi))
    return out


def test_matches_reference_with_clipping():
    rng = np.random.default_rng(0)
    grads = rng.normal(scale=3.0, size=(30, 4))
    grads[5] *= 100.0  # one outlier that gets clipped
    opt = Adam(lr=0.05, clip_norm=10.0, skip_shrink=1.0)
    phi = np.array([0.1, -0.2, 0.3, 1.0])
    ref = reference_adam(phi, grads, 0.05, clip=10.0)
    statuses = []
    for g, r in zip(grads, ref):
        phi, status = opt.step(phi, g)
        statuses.append(status)
        np.testing.assert_allclose(phi, r, rtol=1e-12, atol=1e-14)
    assert statuses[5] == "clipped"
    assert opt.n_clipped == sum(np.linalg.norm(g) > 10.0 for g in grads)


def test_matches_reference_with_per_coordinate_rates_and_scales():
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(20, 3))
    lr, scale = np.array([0.1, 0.01, 0.05]), np.array([2.0, 0.5, 1.0])
    opt = Adam(lr=lr, clip_norm=None)
    phi = np.zeros(3)
    for g, r in zip(grads, reference_adam(phi, grads, list(lr * scale))):
        phi, _ = opt.step(phi, g, scale=scale)
        np.testing.assert_allclose(phi, r, rtol=1e-12, atol=1e-14)


def test_nonfinite_gradient_or_loss_never_reaches_phi():
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(12, 3))
    grads[3, 1] = np.nan
    grads[7, 0] = np.inf
    opt = Adam(lr=0.1, clip_norm=None, skip_shrink=1.0)
    phi = np.zeros(3)
    ref = reference_adam(phi, grads, 0.1)
    for g, r in zip(grads, ref):
        phi, _ = opt.step(phi, g)
        assert np.all(np.isfinite(phi))
        np.testing.assert_allclose(phi, r, rtol=1e-12, atol=1e-14)
    assert opt.n_skipped == 2
    before = phi.copy()
    phi, status = opt.step(phi, np.ones(3), loss=np.nan)
    assert status == "skipped" and np.array_equal(phi, before) and opt.n_skipped == 3


def test_skip_shrinks_learning_rate():
    opt = Adam(lr=0.2, skip_shrink=0.5)
    phi, status = opt.step(np.zeros(2), np.array([np.nan, 1.0]))
    assert status == "skipped"
    assert float(opt.lr) == pytest.approx(0.1)
    assert opt.t == 0  # moments and step counter untouched


def test_minimises_quadratic_with_per_coordinate_rates():
    target = np.array([2.0, -3.0])
    opt = Adam(lr=np.array([0.05, 0.1]))
    phi = np.zeros(2)
    for _ in range(600):
        phi, _ = opt.step(phi, 2.0 * (phi - target))
    np.testing.assert_allclose(phi, target, atol=0.05)


@pytest.mark.parametrize("kwargs", [{"lr": -1.0}, {"lr": np.nan}, {"beta1": 1.0},
                                    {"beta2": -0.1}, {"clip_norm": 0.0}, {"skip_shrink": 0.0}])
def test_bad_settings_raise(kwargs):
    with pytest.raises(HyperparameterError):
        Adam(**kwargs)


def test_shape_mismatch_raises():
    with pytest.raises(HyperparameterError, match="shape"):
        Adam().step(np.zeros(3), np.zeros(2))
