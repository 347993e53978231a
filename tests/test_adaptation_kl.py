"""KL objective on ULA with a Gaussian target and a Gaussian start.

The law after one ULA step stays Gaussian: with p = N(0, Σ), preconditioner M, step ε and
x ~ N(μ0, S0), y = A x + ε L ξ with A = I − (ε²/2) M Σ⁻¹, so y ~ N(A μ0, A S0 Aᵀ + ε² M).
KL(N(μ1, C) ‖ N(0, Σ)) = ½[tr(Σ⁻¹C) + μ1ᵀΣ⁻¹μ1 − d + log det Σ − log det C] is then a
closed-form function of φ; since the law of x does not depend on φ, its φ-gradient is the
exact gradient that the one-step estimator targets. The start is narrower than the target,
so the entropy term matters: without it the gradient points the other way.
"""

import warnings

import numpy as np
import pytest

from mcmcadapt.adaptation.estimators import make_estimator
from mcmcadapt.adaptation.kl import KLObjective, kl_gradient
from mcmcadapt.errors import HyperparameterError
from mcmcadapt.models.targets import gaussian
from mcmcadapt.transitions import ULA
from test_transitions_support import central_fd

D = 5
SIGMA = np.diag(np.linspace(0.5, 1.5, D) ** 2)
MU0 = np.zeros(D)
S0 = 0.3 * SIGMA


def closed_form_kl(ula, phi):
    described = ula.describe(phi)
    eps, M = described["step_size"], np.diag(described["inv_mass_diag"])
    A = np.eye(D) - 0.5 * eps**2 * M @ np.linalg.inv(SIGMA)
    mu1 = A @ MU0
    C = A @ S0 @ A.T + eps**2 * M
    Si = np.linalg.inv(SIGMA)
    return 0.5 * (np.trace(Si @ C) + mu1 @ Si @ mu1 - D + np.linalg.slogdet(SIGMA)[1]
                  - np.linalg.slogdet(C)[1])


def exact_gradient(ula, phi, h=1e-6):
    return central_fd(lambda p: closed_form_kl(ula, p), phi, h)


class _Fixed:
    """A stand-in 'estimator' returning given scores (to isolate the entropy term)."""

    def __init__(self, G):
        self.G = G

    def fit(self, Y):
        return self

    def gradients(self):
        return self.G


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def setup():
    model = gaussian(np.zeros(D), SIGMA)
    ula = ULA(precond="diag")
    phi = ula.init_params(model, step_size=0.6)
    phi[1:] = np.log(np.linspace(0.8, 1.2, D))
    return model, ula, phi, exact_gradient(ula, phi)


@pytest.mark.parametrize("estimator", ["stein", "ssge"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimated_kl_gradient_agrees_with_exact(setup, estimator, seed):
    model, ula, phi, g_exact = setup
    rng = np.random.default_rng(seed)
    n = 512
    X = MU0 + rng.standard_normal((n, D)) * np.sqrt(np.diag(S0))
    state = ula.init(model, X)
    noise = ula.draw_noise(n, D, rng)
    prop = ula.propose(model, state, phi, noise)
    g, fisher = kl_gradient(model, ula, state, phi, noise, prop, make_estimator(estimator))
    assert cosine(g, g_exact) > 0.9
    assert fisher > 0
    # the entropy term is what makes it right: without it the direction is wrong
    g0, _ = kl_gradient(model, ula, state, phi, noise, prop, _Fixed(np.zeros((n, D))))
    assert cosine(g0, g_exact) < 0.0


def test_objective_update_moves_population_and_returns_gradient(setup):
    model, ula, phi, _ = setup
    rng = np.random.default_rng(5)
    X = rng.standard_normal((64, D))
    state = ula.init(model, X)
    obj = KLObjective("stein")
    state, phi0 = obj.setup(model, ula, state, phi, 10, rng)
    new_state, grad, record = obj.update(model, ula, state, phi0, rng)
    assert grad.shape == phi.shape and np.all(np.isfinite(grad))
    assert not np.allclose(new_state.x, state.x)
    assert record["acceptance_rate"] == 1.0 and record["objective"] > 0


def test_unknown_estimator_name():
    with pytest.raises(HyperparameterError, match="unknown estimator"):
        make_estimator("nope")


def test_contraction_probe_learns_preconditioner_shape_for_mala():
    """Metropolis kernels: the KL probe alone (no population metric) learns the shape of
    the preconditioner from a start 900× off in aspect ratio; dual averaging sets ε."""
    import mcmcadapt as ma

    sd = np.array([0.1, 0.5, 1.0, 3.0])
    model = gaussian(np.zeros(4), np.diag(sd**2))
    r = ma.tune(model, "mala", "kl", chains=32, steps=400, seed=0, progress=False,
                objective_options={"population_metric": False})
    ratio = r.params["inv_mass_diag"] / sd**2
    assert ratio.max() / ratio.min() < 2.0
    assert abs(r.history["acceptance_rate"][-50:].mean() - 0.574) < 0.05
    # each iteration: one step (32) + probe start and proposal (2 × 16)
    assert r.n_grad >= 400 * (32 + 32)


def test_tune_ula_with_kl():
    import mcmcadapt as ma

    sd = np.array([0.1, 0.5, 1.0, 3.0])
    model = gaussian(np.zeros(4), np.diag(sd**2))
    r = ma.tune(model, "ula", "kl", chains=128, steps=200, seed=0, progress=False)
    np.testing.assert_allclose(r.params["inv_mass_diag"], sd**2, rtol=0.3)
    # an unbiased-enough step: the population's spread matches the target within 15%
    np.testing.assert_allclose(r.state.x.std(axis=0), sd, rtol=0.15)
    assert 0.05 < r.params["step_size"] < 1.0
    assert np.all(r.history["acceptance_rate"] == 1.0)


@pytest.mark.parametrize("init_step_size", [True, False])
def test_ula_on_badly_scaled_target_starts_stable(init_step_size):
    # sds from 0.01 to 1: ULA's default step (0.5 d^(-1/6) ≈ 0.3) is 30× past the stability
    # edge of the narrowest coordinate. The step size starts where the Metropolis twin (MALA)
    # accepts most of its proposals; without that start every chain's first steps blow up
    # (log p falls by thousands: diverging, rejected) and the step size halves until they
    # stop (it exploded the population before)
    import mcmcadapt as ma

    sd = np.geomspace(0.01, 1.0, 20)
    model = gaussian(np.zeros(20), np.diag(sd**2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = ma.tune(model, "ula", "kl", chains=32, steps=150, seed=0, progress=False,
                    objective_options={"init_step_size": init_step_size})
    assert r.settings["objective"]["init_step_size"] is init_step_size
    n_bad = r.history["n_bad"]
    if init_step_size:
        assert n_bad.sum() == 0
    else:
        first = np.flatnonzero(n_bad == 0)[0]
        assert 1 <= first <= 8 and np.all(n_bad[:first] > 16) and n_bad[first:].sum() == 0
        steps = r.history["step_size"][:first]  # after each iteration's update
        np.testing.assert_allclose(steps[1:] / steps[:-1], 0.5, rtol=0.2)
    assert np.all(np.isfinite(r.state.x))
    # every coordinate's scaled step inside ULA's stability region (h < 2)
    h = r.params["step_size"] * np.sqrt(r.params["inv_mass_diag"]) / sd
    assert h.max() < 2.0
    spread = r.state.x.std(axis=0) / sd
    assert np.all((spread > 0.3) & (spread < 3.0))


def _twin_proposals(kernel, model, X, phi, rng):
    twin, phi_twin = kernel.metropolis_twin(phi, X.shape[1])
    noise = twin.draw_noise(*X.shape, rng)  # the twin's noise also holds its accept uniforms
    a = kernel.propose(model, kernel.init(model, X), phi, noise)
    b = twin.propose(model, twin.init(model, X), phi_twin, noise)
    return twin, a, b


def test_ula_metropolis_twin_is_mala_with_the_same_proposal():
    from mcmcadapt.transitions import MALA

    model = gaussian(np.zeros(3), np.diag([0.5, 1.0, 2.0]))
    ula = ULA("dense")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3))
    phi = ula.init_params(model, X, step_size=0.7)
    twin, a, b = _twin_proposals(ula, model, X, phi, rng)
    assert isinstance(twin, MALA) and twin.metropolis and twin.precond == "dense"
    np.testing.assert_array_equal(a.y, b.y)
    assert np.all(a.log_accept_ratio == 0.0) and np.all(np.isfinite(b.log_accept_ratio))
    assert ula.step_size_from_twin(phi, 0.3)[0] == np.log(0.3)


@pytest.mark.parametrize("precond", [None, "diag"])
def test_sgld_metropolis_twin_is_mala_at_the_square_root_step(precond):
    from mcmcadapt.transitions import MALA, SGLD

    model = gaussian(np.zeros(3), np.diag([0.5, 1.0, 2.0]))
    sgld = SGLD(step_size=0.3, batch_size=None, precond=precond)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 3))
    phi = sgld.init_params(model, X)
    if precond == "diag":
        phi[1:] = [0.1, -0.2, 0.3]
    twin, a, b = _twin_proposals(sgld, model, X, phi, rng)
    assert isinstance(twin, MALA)
    np.testing.assert_allclose(a.y, b.y, rtol=1e-14, atol=1e-14)
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(HyperparameterError, match="step_size"):
            sgld.step_size_from_twin(phi, bad)
    back = sgld.step_size_from_twin(phi, 0.2)  # ε = 0.2 is ε_WT = 0.04
    assert sgld.describe(back, dim=3)["step_size"] == pytest.approx(0.04)
    np.testing.assert_array_equal(back[1:], phi[1:])


def test_learned_metropolis_twin_while_langevin():
    from mcmcadapt.transitions import MALA, Learned

    model = gaussian(np.zeros(3), np.diag([0.5, 1.0, 2.0]))
    kernel = Learned(hidden=4, zeta=1e-3)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 3))
    phi = kernel.init_params(model, X, step_size=0.05)
    assert kernel.langevin_step(phi) == pytest.approx(0.05)
    twin, a, b = _twin_proposals(kernel, model, X, phi, rng)
    assert isinstance(twin, MALA)
    # softplus(g) − softplus(−g) = g up to rounding
    np.testing.assert_allclose(a.y, b.y, rtol=1e-12, atol=1e-12)
    back = kernel.step_size_from_twin(phi, 0.4)  # s = ε²/2 = 0.08
    assert kernel.langevin_step(back) == pytest.approx(0.08)
    np.testing.assert_allclose(back, kernel.init_params(model, X, step_size=0.08), rtol=1e-12)
    # large steps (a wide target) do not overflow the variance bias, tiny ones stay exact
    for s in (1e-5, 400.0):
        init = kernel.init_params(model, X, step_size=s)
        assert kernel.langevin_step(init) == pytest.approx(s)
        assert np.logaddexp(0.0, init[-1]) == pytest.approx(2.0 * s, rel=1e-13)  # σ² = 2s
    trained = phi.copy()
    trained[-2] = 0.1  # a variance-head weight: no longer the Langevin update
    assert kernel.langevin_step(trained) is None
    assert kernel.metropolis_twin(trained, 3) is None


@pytest.mark.parametrize("kernel", ["sgld", "learned"])
def test_unadjusted_kernels_start_where_their_twin_accepts(kernel):
    # sds of 3: the paper's BNN step (1e-5) would leave the population where it started
    import mcmcadapt as ma

    sd = np.full(5, 3.0)
    model = gaussian(np.zeros(5), np.diag(sd**2))
    spreads = {}
    for init_step_size in (False, True):
        r = ma.tune(model, kernel, "kl", chains=32, steps=200, seed=0, progress=False,
                    kernel_options={"batch_size": None},
                    objective_options={"init_step_size": init_step_size})
        spreads[init_step_size] = float(np.mean(r.state.x.std(axis=0) / sd))
    # measured: SGLD 0.40 vs 1.15, learned 0.53 vs 0.92 (the start spreads 0.40)
    assert spreads[False] < 0.65
    assert 0.75 < spreads[True] < 1.3


def _diag_kl_gradient(ula, phi, sigma_diag, s0_diag, h=1e-6):
    """Exact φ-gradient of KL(law after one ULA step ‖ N(0, diag σ²)) from x ~ N(0, diag s0)."""
    def kl(p):
        described = ula.describe(p)
        eps, m = described["step_size"], described["inv_mass_diag"]
        a = 1.0 - 0.5 * eps**2 * m / sigma_diag
        c = a * a * s0_diag + eps**2 * m
        return 0.5 * np.sum(c / sigma_diag - 1.0 + np.log(sigma_diag) - np.log(c))

    return central_fd(kl, phi, h)


@pytest.mark.parametrize("estimator", ["ksm", "nu"])
def test_fewer_particles_than_dimensions_keep_the_direction(estimator):
    """d = 50, n = 32: Stein and SSGE point the wrong way here (benchmarks/entropy_gradient.py);
    kernel score matching and the ν-method are the estimators the README recommends."""
    d, n = 50, 32
    sigma = np.linspace(0.5, 1.5, d) ** 2
    model = gaussian(np.zeros(d), np.diag(sigma))
    ula = ULA(precond="diag")
    phi = ula.init_params(model, step_size=0.6)
    phi[1:] = np.log(np.linspace(0.8, 1.2, d))
    exact = _diag_kl_gradient(ula, phi, sigma, 0.3 * sigma)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d)) * np.sqrt(0.3 * sigma)
        state = ula.init(model, X)
        noise = ula.draw_noise(n, d, rng)
        prop = ula.propose(model, state, phi, noise)
        g, _ = kl_gradient(model, ula, state, phi, noise, prop, make_estimator(estimator))
        assert cosine(g, exact) > 0.9
        # a case where the entropy term decides: without it the direction is wrong
        g0, _ = kl_gradient(model, ula, state, phi, noise, prop, _Fixed(np.zeros((n, d))))
        assert cosine(g0, exact) < 0.0
