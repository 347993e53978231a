"""The unrolled KL meta-gradient against central finite differences, noise held fixed."""

import numpy as np
import pytest

from mcmcadapt.errors import HyperparameterError, InputError
from mcmcadapt.meta import backprop, kl_cotangents, rollout, unrolled_kl_gradient
from mcmcadapt.models import Model
from mcmcadapt.score.stein import Stein
from mcmcadapt.transitions import MALA, SGLD, Learned
from test_transitions_support import central_fd

N, D, K = 5, 3, 4


def quartic(with_hvp=True, seed=0):
    """log p = −½xᵀAx − (λ/4)Σ_k (Bx)_k⁴ + bᵀx: non-Gaussian, position-dependent Hessian."""
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((D, D))
    A = Q @ Q.T / D + 0.5 * np.eye(D)
    B = rng.standard_normal((4, D))
    b = 0.5 * rng.standard_normal(D)
    lam = 0.3

    def lg(X):
        Z = X @ B.T
        lp = -0.5 * np.einsum("ij,jk,ik->i", X, A, X) - 0.25 * lam * (Z**4).sum(1) + X @ b
        return lp, -X @ A - lam * (Z**3) @ B + b

    def hvp(X, V):
        Z = X @ B.T
        return -V @ A - 3.0 * lam * ((Z**2) * (V @ B.T)) @ B

    return Model(lg, D, hvp=hvp if with_hvp else None, name="quartic")


def learned_phi(kernel, model, seed=1):
    """A generic φ: the Langevin start plus random perturbations of every weight."""
    rng = np.random.default_rng(seed)
    phi = kernel.init_params(model, step_size=0.02)
    return phi + 0.3 * rng.standard_normal(phi.shape)


def fixed_noise_setup(kernel, model, seed=0):
    rng = np.random.default_rng(seed)
    X0 = 0.8 * rng.standard_normal((N, D))
    state = kernel.init(model, X0)
    noises = [kernel.draw_noise(N, D, rng) for _ in range(K)]
    return state, noises


@pytest.mark.parametrize("with_hvp", [True, False])
def test_backprop_matches_finite_differences(with_hvp):
    """∇_φ Σ_t Σ_i c_t,i·x_t,i(φ) through K steps, fixed cotangents (from a Stein estimate)."""
    model = quartic(with_hvp)
    kernel = Learned(hidden=4, zeta=0.05)
    phi = learned_phi(kernel, model)
    state, noises = fixed_noise_setup(kernel, model)
    run = rollout(model, kernel, phi, state, noises=noises)
    cots, rec = kl_cotangents(run, Stein(bandwidth="median", eta=0.1))
    assert rec["fisher"].shape == (K,) and np.all(rec["score_ratio"] > 0)
    grad = backprop(model, kernel, phi, run, cots)

    def F(p):
        xs = rollout(model, kernel, p, state, noises=noises).states[1:]
        return sum(np.sum(c * s.x) for c, s in zip(cots, xs))

    fd = central_fd(F, phi, 1e-5)
    # central-difference HVPs (no analytic hvp) add ~1e-7 relative error
    rtol = 1e-6 if with_hvp else 2e-5
    np.testing.assert_allclose(grad, fd, rtol=rtol, atol=rtol * np.abs(fd).max())


def test_map_gradient_is_gradient_of_unrolled_log_density():
    """Without an entropy term the meta-loss is −Σ_t Σ_i log p(x_t,i)/(n·d): an end-to-end
    check of cotangents, scaling and backprop together."""
    model = quartic()
    kernel = Learned(hidden=5, zeta=0.05)
    phi = learned_phi(kernel, model, seed=6)  # (seed 3's φ blows a chain up: log p −3e6)
    state, noises = fixed_noise_setup(kernel, model, seed=4)
    grad, final, rec = unrolled_kl_gradient(model, kernel, phi, state, K, noises=noises)

    def J(p):
        run = rollout(model, kernel, p, state, noises=noises)
        return -sum(s.logp.sum() for s in run.states[1:]) / (N * D)

    fd = central_fd(J, phi, 1e-5)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())
    assert rec["n_diverging"] == 0
    np.testing.assert_array_equal(rec["score_ratio"], 0.0)
    run = rollout(model, kernel, phi, state, noises=noises)
    np.testing.assert_array_equal(final.x, run.states[-1].x)


def test_sgld_step_size_gradient():
    """The same machinery for SGLD's log step size (one parameter), full-batch model."""
    model = quartic()
    kernel = SGLD(step_size=0.05, batch_size=None)
    phi = kernel.init_params(model)
    state, noises = fixed_noise_setup(kernel, model, seed=5)
    est = Stein(bandwidth="median", eta=0.1)
    run = rollout(model, kernel, phi, state, noises=noises)
    cots, _ = kl_cotangents(run, est)
    grad = backprop(model, kernel, phi, run, cots)

    def F(p):
        xs = rollout(model, kernel, p, state, noises=noises).states[1:]
        return sum(np.sum(c * s.x) for c, s in zip(cots, xs))

    np.testing.assert_allclose(grad, central_fd(F, phi, 1e-6), rtol=1e-6)


def test_cotangents_are_scaled_score_differences():
    model = quartic()
    kernel = Learned(hidden=3, zeta=0.05)
    phi = learned_phi(kernel, model)
    state, noises = fixed_noise_setup(kernel, model)
    run = rollout(model, kernel, phi, state, noises=noises)
    est = Stein(bandwidth=1.3, eta=0.2)
    cots, rec = kl_cotangents(run, est)
    for t, prop in enumerate(run.proposals):
        g_hat = Stein(bandwidth=1.3, eta=0.2).fit(prop.y).gradients()
        _, g = model.logp_and_grad(prop.y)
        np.testing.assert_allclose(cots[t], -(g - g_hat) / (N * D), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(rec["fisher"][t], np.mean(np.sum((g - g_hat) ** 2, 1)))


def test_bad_input():
    model = quartic()
    kernel = Learned(hidden=3, zeta=0.05)
    phi = kernel.init_params(model)
    state, noises = fixed_noise_setup(kernel, model)
    with pytest.raises(HyperparameterError, match="accept/reject"):
        rollout(model, MALA(), MALA().init_params(model), state, steps=2, rng=0)
    with pytest.raises(InputError, match="steps"):
        rollout(model, kernel, phi, state, steps=0, rng=0)
    with pytest.raises(InputError, match="noises"):
        rollout(model, kernel, phi, state, steps=2, noises=noises)
    run = rollout(model, kernel, phi, state, noises=noises)
    with pytest.raises(InputError, match="one cotangent per step"):
        backprop(model, kernel, phi, run, [np.zeros((N, D))])


def test_an_empty_rollout_is_named():
    import numpy as np
    import pytest

    from mcmcadapt.errors import InputError
    from mcmcadapt.meta import FastLearned, unrolled_kl_gradient
    from mcmcadapt.models import Model

    model = Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 2, name="g")
    kernel = FastLearned(hidden=3, zeta=1e-2)
    state = kernel.init(model, np.random.default_rng(0).standard_normal((8, 2)))
    with pytest.raises(InputError, match="the rollout has no steps"):
        unrolled_kl_gradient(model, kernel, kernel.init_params(model), state, None, noises=[])
