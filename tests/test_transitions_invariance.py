"""Metropolis kernels leave a correlated Gaussian invariant; ULA's one-step law is the
analytic Gaussian one."""

import numpy as np
import pytest

from mcmcadapt.transitions import HMC, MALA, RWM, ULA
from test_transitions_support import Gaussian, correlated_gaussian

CHAINS, STEPS = 200, 1000


def moment_errors(kernel, model, phi, seed):
    """Run CHAINS chains started exactly at the target for STEPS steps. Returns the errors of
    the estimated means and second moments E[x_j x_k] (j ≤ k) and their MCSEs, by batch means
    with one batch per chain (chains are independent and stationary from the start)."""
    rng = np.random.default_rng(seed)
    d = model.dim
    chol = np.linalg.cholesky(model.cov)
    X0 = model.mean + rng.standard_normal((CHAINS, d)) @ chol.T
    state = kernel.init(model, X0)
    iu = np.triu_indices(d)
    sums = np.zeros((CHAINS, d + iu[0].size))
    acc = 0.0
    for _ in range(STEPS):
        state, info = kernel.step(model, state, phi, rng)
        x = state.x
        sums[:, :d] += x
        sums[:, d:] += (x[:, :, None] * x[:, None, :])[:, iu[0], iu[1]]
        acc += info.acceptance_rate.mean()
    batch_means = sums / STEPS
    second = model.cov + np.outer(model.mean, model.mean)
    truth = np.concatenate([model.mean, second[iu]])
    err = batch_means.mean(0) - truth
    mcse = batch_means.std(0, ddof=1) / np.sqrt(CHAINS)
    return err, mcse, acc / STEPS


def preconditioned(kernel, model, eps):
    """φ with a preconditioner that is *not* the target covariance (so it matters)."""
    phi = kernel.init_params(model, step_size=eps)
    M = np.array([[1.0, 0.3, 0.0], [0.3, 0.8, -0.2], [0.0, -0.2, 1.5]])
    return kernel.set_inv_mass(phi, M if kernel.precond == "dense" else np.diag(M))


@pytest.mark.parametrize(
    "kernel,eps",
    [
        (RWM("diag"), 0.9),
        (RWM("dense"), 0.9),
        (MALA("diag"), 0.8),
        (MALA("dense"), 0.8),
        (HMC("diag", n_steps=5), 0.55),
        (HMC("dense", n_steps=4, jitter=True), 0.55),
        (HMC("dense", trajectory_length=1.5), 0.5),
        (HMC("diag", n_steps=5, step_spread=True), 0.55),
        (HMC("dense", n_steps=4, jitter=True, step_spread=True), 0.5),
    ],
    ids=repr,
)
def test_metropolis_kernels_leave_gaussian_invariant(kernel, eps):
    model = correlated_gaussian(3)
    phi = preconditioned(kernel, model, eps)
    if getattr(kernel, "step_spread", False):
        phi = kernel.set_step_spread(phi, 1.2)  # steps from 0.3ε to 3.3ε
    err, mcse, acc = moment_errors(kernel, model, phi, seed=11)
    assert 0.2 < acc < 0.98  # the test is informative: chains move, and not trivially
    assert np.all(np.abs(err) < 4.0 * mcse), (err / mcse)


def test_invariance_check_detects_ula_bias():
    """Power of the check above: the unadjusted kernel with MALA's step size fails it."""
    model = correlated_gaussian(3)
    kernel = ULA("dense")
    err, mcse, _ = moment_errors(kernel, model, preconditioned(kernel, model, 0.8), seed=11)
    assert np.max(np.abs(err) / mcse) > 8.0


def test_ula_one_step_gaussian_law():
    """Gaussian target N(μ, Σ), Gaussian start N(m, C): y = A x + b + ε L ξ exactly, with
    A = I + (ε²/2) M ∇²log p = I − (ε²/2) M Σ⁻¹, b = (ε²/2) M Σ⁻¹ μ; so
    Cov(y) = A C Aᵀ + ε² M and E[y] = A m + b (checked on 40000 draws)."""
    rng = np.random.default_rng(3)
    d = 3
    Q = rng.standard_normal((d, d))
    Sigma = Q @ Q.T + 0.5 * np.eye(d)
    mu = np.array([1.0, -0.5, 2.0])
    model = Gaussian(mu, Sigma)
    kernel = ULA("dense")
    R = rng.standard_normal((d, d))
    M = R @ R.T / d + 0.3 * np.eye(d)
    eps = 0.4
    phi = kernel.set_inv_mass(kernel.init_params(model, step_size=eps), M)
    m0, C0 = np.array([-2.0, 0.0, 3.0]), np.diag([2.0, 0.5, 1.0])
    n = 40000
    X = m0 + rng.standard_normal((n, d)) @ np.linalg.cholesky(C0).T
    state = kernel.init(model, X)
    noise = kernel.draw_noise(n, d, rng)
    y = kernel.propose(model, state, phi, noise).y

    SigInv_M = np.linalg.solve(Sigma, M)  # Σ⁻¹ M, so M Σ⁻¹ = (Σ⁻¹ M)ᵀ
    A = np.eye(d) - 0.5 * eps**2 * SigInv_M.T
    b = 0.5 * eps**2 * SigInv_M.T @ mu
    L = np.linalg.cholesky(M)
    np.testing.assert_allclose(y, X @ A.T + b + eps * noise.xi @ L.T, rtol=1e-10, atol=1e-10)

    cov_true = A @ C0 @ A.T + eps**2 * M
    mean_true = A @ m0 + b
    cov_hat = np.cov(y, rowvar=False)
    se_cov = np.sqrt((np.outer(np.diag(cov_true), np.diag(cov_true)) + cov_true**2) / n)
    assert np.all(np.abs(cov_hat - cov_true) < 5 * se_cov)
    assert np.all(np.abs(y.mean(0) - mean_true) < 5 * np.sqrt(np.diag(cov_true) / n))
