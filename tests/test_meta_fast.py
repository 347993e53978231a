"""The compiled learned sampler (forward pass and VJP) against an independent numpy
implementation of the network written here, and the meta package's ``FastLearned`` name."""

import numpy as np
import pytest
from numba import njit

from mcmcadapt.meta import FastLearned
from mcmcadapt.models import Model
from mcmcadapt.transitions import Learned
from mcmcadapt.transitions._learned_numba import CUTOFF, exp_neg_abs, sigmoid_from, softplus


@njit(cache=False)
def _compiled_scalars(z):
    sp = np.empty_like(z)
    sg = np.empty_like(z)
    for i in range(z.size):
        sp[i] = softplus(z[i])
        sg[i] = sigmoid_from(z[i], exp_neg_abs(z[i]))
    return sp, sg


def np_softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def np_sigmoid(z):
    with np.errstate(over="ignore", invalid="ignore"):  # the branch np.where drops
        return np.where(z >= 0, 1.0 / (1.0 + np.exp(-z)), np.exp(z) / (1.0 + np.exp(z)))


def test_softplus_and_sigmoid_match_numpy():
    z = np.concatenate([np.linspace(-60, 60, 240001), np.geomspace(1e-300, 1e-3, 500),
                        -np.geomspace(1e-300, 1e-3, 500), [0.0, CUTOFF, -CUTOFF]])
    sp, sg = _compiled_scalars(z)
    inside = np.abs(z) <= CUTOFF
    np.testing.assert_allclose(sp[inside], np_softplus(z)[inside], rtol=1e-15, atol=0)
    np.testing.assert_allclose(sg[inside], np_sigmoid(z)[inside], rtol=1e-15, atol=0)
    # beyond the cut-off only e^{-|z|} < 4.3e-18 is dropped
    assert np.max(np.abs(sp[~inside] - np_softplus(z)[~inside])) < 4.3e-18
    assert np.max(np.abs(sg[~inside] - np_sigmoid(z)[~inside])) < 4.3e-18


def reference_forward(phi, H, zeta, x, g, xi):
    """The network on flat inputs with (N, H) arrays, and its intermediates."""
    w_x, w_g, b = phi[:H], phi[H:2 * H], phi[2 * H:3 * H]
    w_d, b_d = phi[3 * H:4 * H], phi[4 * H]
    w_v, b_v = phi[4 * H + 1:5 * H + 1], phi[5 * H + 1]
    z = np.outer(x, w_x) + np.outer(g, w_g) + b
    a = np_softplus(z)
    drift = a @ w_d + b_d
    u = a @ w_v + b_v
    sd = np.sqrt(np_softplus(u))
    return x + zeta * drift + sd * xi, (z, a, u, sd)


def reference_vjp(phi, H, zeta, x, g, xi, c):
    """Hand-derived reverse mode of reference_forward: (dφ, d/dx inside the net, d/dg)."""
    w_x, w_g = phi[:H], phi[H:2 * H]
    w_d, w_v = phi[3 * H:4 * H], phi[4 * H + 1:5 * H + 1]
    _, (z, a, u, sd) = reference_forward(phi, H, zeta, x, g, xi)
    dsd_du = np.where(u < -30.0, 0.5 * np.exp(0.5 * np.minimum(u, 0.0)),
                      0.5 * np_sigmoid(u) / np.maximum(sd, 1e-300))
    d_drift = zeta * c
    d_u = c * xi * dsd_du
    d_z = (np.outer(d_drift, w_d) + np.outer(d_u, w_v)) * np_sigmoid(z)
    dphi = np.concatenate([d_z.T @ x, d_z.T @ g, d_z.sum(0), a.T @ d_drift, [d_drift.sum()],
                           a.T @ d_u, [d_u.sum()]])
    return dphi, d_z @ w_x, d_z @ w_g


def gaussian_model(d):
    """N(0, I) with a (fake) minibatch interface and an analytic Hessian (−I)."""
    def lg(X, batch=None):
        return -0.5 * np.sum(X * X, 1), -X

    return Model(lg, d, hvp=lambda X, V, batch=None: -V, name="std-normal", n_data=50)


def hard_case(batch_size=None, seed=0):
    """Random φ with saturated units (|z| ≫ 40), a variance head near u = −40 (σ ≈ 2e-9,
    the dσ/du tail branch) and ordinary values, large gradients as in BNN posteriors;
    n·d = 37·29 is not a multiple of the block size."""
    rng = np.random.default_rng(seed)
    n, d = 37, 29
    model = gaussian_model(d)
    kernel = Learned(hidden=20, zeta=1e-3, batch_size=batch_size)
    phi = kernel.init_params(model) + 0.5 * rng.standard_normal(kernel.n_params())
    phi[-1] = -40.0  # b_var: σ² = softplus(≈ −40) for units that stay small
    X = 3.0 * rng.standard_normal((n, d))
    state = kernel.init(model, X)
    state.grad = state.grad * 50.0 * rng.standard_normal((n, d))
    noise = kernel.draw_noise(n, d, rng)
    return model, kernel, phi, state, noise


@pytest.fixture
def no_blow_up_rule(monkeypatch):
    """The hard case's fake gradients (×50, random signs) send chains far, where log p
    falls by thousands; these tests check the network's arithmetic, not the rule that
    rejects such steps (tested in test_transitions_api)."""
    from mcmcadapt.transitions import base

    monkeypatch.setattr(base, "MAX_LOGP_DROP", np.inf)


@pytest.mark.usefixtures("no_blow_up_rule")
@pytest.mark.parametrize("batch_size", [None, 7])
def test_propose_matches_reference(batch_size):
    model, kernel, phi, state, noise = hard_case(batch_size)
    prop = kernel.propose(model, state, phi, noise)
    y_ref, (_, _, u, _) = reference_forward(phi, kernel.hidden, kernel.zeta, state.x.ravel(),
                                            state.grad.ravel(), noise.xi.ravel())
    step = y_ref - state.x.ravel()
    assert np.any(u < -30.0) and np.any(u > -30.0)  # both branches of dσ/du are exercised
    np.testing.assert_allclose(prop.y.ravel() - state.x.ravel(), step, rtol=1e-12,
                               atol=1e-13 * np.abs(step).max())
    np.testing.assert_allclose(prop.cache["u"], u, rtol=1e-12, atol=1e-12 * np.abs(u).max())
    lp, g = model.logp_and_grad(prop.y)
    np.testing.assert_allclose(prop.grad_y, g, rtol=1e-14)
    assert not prop.diverging.any() and np.all(prop.n_grad == 1)


@pytest.mark.usefixtures("no_blow_up_rule")
def test_vjp_matches_reference():
    """φ- and x-VJPs on the hard case (analytic HVP −I closes the g-path: dx gets −dg)."""
    model, kernel, phi, state, noise = hard_case()
    prop = kernel.propose(model, state, phi, noise)
    c = np.random.default_rng(3).standard_normal(state.x.shape)
    dphi, dx = kernel.proposal_vjp(model, state, phi, noise, prop, c)
    r_phi, r_x, r_g = reference_vjp(phi, kernel.hidden, kernel.zeta, state.x.ravel(),
                                     state.grad.ravel(), noise.xi.ravel(), c.ravel())
    np.testing.assert_allclose(dphi, r_phi, rtol=1e-10, atol=1e-12 * np.abs(r_phi).max())
    ref_dx = c.ravel() + r_x - r_g
    np.testing.assert_allclose(dx.ravel(), ref_dx, rtol=1e-10, atol=1e-12 * np.abs(ref_dx).max())


def test_vjp_needs_the_proposal_of_this_kernel():
    model, kernel, phi, state, noise = hard_case()
    prop = kernel.propose(model, state, phi, noise)
    prop.cache = {}
    with pytest.raises(ValueError, match="propose"):
        kernel.proposal_vjp(model, state, phi, noise, prop, np.ones(state.x.shape))


def test_fast_learned_is_the_learned_kernel():
    """The meta package's name builds the same kernel: identical chains from the same seed."""
    d = 6
    model = gaussian_model(d)
    a, b = Learned(hidden=6, zeta=0.01), FastLearned(hidden=6, zeta=0.01)
    phi = a.init_params(model) + 0.2 * np.random.default_rng(1).standard_normal(a.n_params())
    X = np.random.default_rng(2).standard_normal((10, d))
    sa, sb = a.init(model, X), b.init(model, X)
    ra, rb = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(20):
        sa, _ = a.step(model, sa, phi, ra)
        sb, _ = b.step(model, sb, phi, rb)
    np.testing.assert_array_equal(sb.x, sa.x)
    assert isinstance(b, Learned) and repr(b) == "Fast" + repr(a)


def test_diverging_chain_stays():
    """Proposal outside the support (log density −inf): the chain is marked diverging and
    stays."""
    d = 2

    def lg(X):
        lp = -0.5 * np.sum(X * X, 1)
        lp[X[:, 0] > 0.5] = -np.inf
        return lp, -X

    model = Model(lg, d)
    kernel = Learned(hidden=3, zeta=0.1)
    phi = kernel.init_params(model, step_size=0.5)
    X = np.array([[0.45, 0.0], [-2.0, 0.0]])
    state = kernel.init(model, X)
    noise = kernel.draw_noise(2, d, np.random.default_rng(0))
    noise.xi[:] = [[5.0, 0.0], [0.0, 0.0]]
    prop = kernel.propose(model, state, phi, noise)
    assert prop.diverging.tolist() == [True, False]
    np.testing.assert_array_equal(prop.y[0], X[0])
    assert prop.log_accept_ratio[0] == -np.inf
