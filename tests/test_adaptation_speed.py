"""Speed objective: the score-estimator entropy gradient of implicit (HMC) proposals.

On a Gaussian target the leapfrog map is linear, y = A x + B(φ) ξ, so the proposal
q(·|x) is Gaussian with entropy log|det B(φ)| + const. B is read off by pushing unit noise
vectors through ``propose`` (exact for a linear map), and ∇_φ log|det B| by central
differences: an exact reference for −E[∇_y log q(y|x)ᵀ ∂y/∂φ] estimated from (x, y) pairs.
"""

import dataclasses

import numpy as np
import pytest

from mcmcadapt.adaptation.scales import first_order_entropy
from mcmcadapt.adaptation.speed import SpeedObjective
from mcmcadapt.models.targets import gaussian
from mcmcadapt.transitions import HMC

VAR = np.array([0.5, 1.0, 2.0])
D = 3


@pytest.fixture(scope="module")
def model():
    return gaussian(np.zeros(D), np.diag(VAR))


def log_det_B(model, hmc, phi):
    state = hmc.init(model, np.zeros((1, D)))
    noise = hmc.draw_noise(1, D, np.random.default_rng(0))
    y0 = hmc.propose(model, state, phi, dataclasses.replace(noise, xi=np.zeros((1, D)))).y[0]
    B = np.empty((D, D))
    for j in range(D):
        xi = np.zeros((1, D))
        xi[0, j] = 1.0
        B[:, j] = hmc.propose(model, state, phi, dataclasses.replace(noise, xi=xi)).y[0] - y0
    return np.linalg.slogdet(B)[1]


def score_entropy_gradient(model, hmc, phi, estimator, seed, n=512):
    rng = np.random.default_rng(seed)
    state = hmc.init(model, rng.standard_normal((n, D)) * np.sqrt(VAR))
    obj = SpeedObjective(entropy="score", hessian="exact", estimator=estimator)
    obj.setup(model, hmc, state, phi, 10, rng)
    noise = hmc.draw_noise(n, D, rng)
    prop = hmc.propose(model, state, phi, noise)
    H, dH = obj._entropy(model, hmc, state, phi, noise, prop, np.ones(n, dtype=bool))
    assert np.isnan(H)  # only the gradient is known
    return dH


@pytest.mark.parametrize("estimator", ["stein", "ssge"])
@pytest.mark.parametrize("n_steps", [1, 3])
def test_score_entropy_gradient_matches_exact(model, estimator, n_steps):
    hmc = HMC(precond="diag", n_steps=n_steps, jitter=False)
    phi = hmc.init_params(model, step_size=0.5)
    phi[1:] = np.log([0.7, 1.0, 1.3])
    h = 1e-6
    exact = np.array([(log_det_B(model, hmc, phi + e) - log_det_B(model, hmc, phi - e)) / (2 * h)
                      for e in np.eye(phi.size) * h])
    if n_steps == 1:  # one leapfrog step is a MALA proposal: d log ε + log det L
        np.testing.assert_allclose(exact, first_order_entropy(hmc, phi)[1], rtol=1e-5)
    est = score_entropy_gradient(model, hmc, phi, estimator, seed=n_steps)
    np.testing.assert_allclose(est, exact, rtol=0.15, atol=0.02 * np.abs(exact).max())


def test_first_order_entropy_is_wrong_for_long_trajectories(model):
    """Why "closed" is only the default for the first-order gradient: with 3 leapfrog
    steps the exact entropy gradient is far from the forces-fixed one."""
    hmc = HMC(precond="diag", n_steps=3, jitter=False)
    phi = hmc.init_params(model, step_size=0.5)
    h = 1e-6
    exact = np.array([(log_det_B(model, hmc, phi + e) - log_det_B(model, hmc, phi - e)) / (2 * h)
                      for e in np.eye(phi.size) * h])
    assert exact[0] < 0.5 * first_order_entropy(hmc, phi)[1][0]


def test_first_order_entropy_follows_a_tuned_trajectory_length(model):
    """With φ holding the trajectory length T, the move's length is T, not ε: in the
    free-particle limit (T small) the exact entropy gradient is d on log T and 0 on log ε."""
    hmc = HMC(precond="diag", trajectory_length=0.02, jitter=False)
    phi = hmc.init_params(model, step_size=0.008)  # 3 steps of T/3
    phi[1:1 + D] = np.log([0.7, 1.0, 1.3])
    h = 1e-6
    exact = np.array([(log_det_B(model, hmc, phi + e) - log_det_B(model, hmc, phi - e)) / (2 * h)
                      for e in np.eye(phi.size) * h])
    H, grad = first_order_entropy(hmc, phi)
    assert grad[0] == 0.0 and grad[-1] == D
    np.testing.assert_allclose(exact, grad, rtol=1e-3, atol=1e-6)


def test_speed_with_score_entropy_runs_in_tune(model):
    import mcmcadapt as ma

    r = ma.tune(model, "hmc", "speed", chains=32, steps=60, seed=0, progress=False,
                kernel_options={"n_steps": 3},
                objective_options={"entropy": "score", "hessian": "exact"})
    assert np.all(np.isfinite(r.phi))
    assert np.isnan(r.history["objective"]).sum() < 60
    assert r.settings["objective"]["entropy"] == "score"
