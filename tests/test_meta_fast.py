"""The compiled forward pass of the learned sampler against the numpy implementation."""

import numpy as np
import pytest
from numba import njit

from mcmcadapt.meta import FastLearned
from mcmcadapt.meta._numba import CUTOFF, softplus
from mcmcadapt.models import Model
from mcmcadapt.transitions import Learned


@njit(cache=False)
def _softplus_array(z):
    out = np.empty_like(z)
    for i in range(z.size):
        out[i] = softplus(z[i])
    return out


def test_softplus_matches_numpy():
    z = np.concatenate([np.linspace(-60, 60, 240001), np.geomspace(1e-300, 1e-3, 500),
                        -np.geomspace(1e-300, 1e-3, 500), [0.0, CUTOFF, -CUTOFF]])
    ref = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
    got = _softplus_array(z)
    inside = np.abs(z) <= CUTOFF
    np.testing.assert_allclose(got[inside], ref[inside], rtol=1e-15, atol=0)
    # beyond the cut-off only log1p(exp(-|z|)) < 4.3e-18 is dropped
    assert np.max(np.abs(got[~inside] - ref[~inside])) < 4.3e-18


def gaussian_model(d):
    """N(0, I) with a (fake) minibatch interface, so minibatch draws are exercised."""
    def lg(X, batch=None):
        return -0.5 * np.sum(X * X, 1), -X

    return Model(lg, d, name="std-normal", n_data=50)


@pytest.mark.parametrize("batch_size", [None, 7])
def test_fast_propose_equals_numpy_propose(batch_size):
    """Random φ with saturated units (|z| ≫ 40), a variance head near u = −40 (σ ≈ 2e-9)
    and ordinary values, large gradients as in BNN posteriors; minibatches identical."""
    rng = np.random.default_rng(0)
    n, d = 37, 29  # n·d not a multiple of the block size
    model = gaussian_model(d)
    slow = Learned(hidden=20, zeta=1e-3, batch_size=batch_size)
    fast = FastLearned(hidden=20, zeta=1e-3, batch_size=batch_size)
    phi = slow.init_params(model) + 0.5 * rng.standard_normal(slow.n_params())
    phi[-1] = -40.0  # b_var: σ² = softplus(≈ −40) for units that stay small
    X = 3.0 * rng.standard_normal((n, d))
    state = slow.init(model, X)
    state.grad = state.grad * 50.0 * rng.standard_normal((n, d))
    noise = slow.draw_noise(n, d, rng)
    a = slow.propose(model, state, phi, noise)
    b = fast.propose(model, state, phi, noise)
    step = a.y - X
    np.testing.assert_allclose(b.y - X, step, rtol=1e-12, atol=1e-13 * np.abs(step).max())
    np.testing.assert_allclose(b.grad_y, a.grad_y, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(b.diverging, a.diverging)
    np.testing.assert_array_equal(b.n_grad, a.n_grad)


def test_fast_step_reproduces_slow_chain():
    """Many steps with the same seed: the two kernels produce the same chain."""
    rng = np.random.default_rng(1)
    d = 6
    model = gaussian_model(d)
    slow, fast = Learned(hidden=6, zeta=0.01), FastLearned(hidden=6, zeta=0.01)
    phi = slow.init_params(model) + 0.2 * rng.standard_normal(slow.n_params())
    X = rng.standard_normal((10, d))
    sa, sb = slow.init(model, X), fast.init(model, X)
    ra, rb = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(50):
        sa, _ = slow.step(model, sa, phi, ra)
        sb, _ = fast.step(model, sb, phi, rb)
    np.testing.assert_allclose(sb.x, sa.x, rtol=1e-10, atol=1e-12)


def test_fast_diverging_chain_stays():
    """Proposal outside the support (log density −inf): the chain is marked diverging and
    stays."""
    d = 2

    def lg(X):
        lp = -0.5 * np.sum(X * X, 1)
        lp[X[:, 0] > 0.5] = -np.inf
        return lp, -X

    model = Model(lg, d)
    fast = FastLearned(hidden=3, zeta=0.1)
    phi = fast.init_params(model, step_size=0.5)
    X = np.array([[0.45, 0.0], [-2.0, 0.0]])
    state = fast.init(model, X)
    noise = fast.draw_noise(2, d, np.random.default_rng(0))
    noise.xi[:] = [[5.0, 0.0], [0.0, 0.0]]
    prop = fast.propose(model, state, phi, noise)
    assert prop.diverging.tolist() == [True, False]
    np.testing.assert_array_equal(prop.y[0], X[0])
    assert prop.log_accept_ratio[0] == -np.inf
