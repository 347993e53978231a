"""Transition interface: parameters, independent reference implementations, non-finite
handling, divergences, gradient counting, minibatches, reproducibility and bad input."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from mcmcadapt.errors import HyperparameterError, InputError, ModelError, SingularMatrixError
from mcmcadapt.transitions import HMC, MALA, RWM, SGLD, ULA, Learned, make
from test_transitions_support import (Gaussian, MeanPosterior, NaNRegion, Quartic,
                                      central_fd, correlated_gaussian)

ALL_KERNELS = [RWM("diag"), RWM("dense"), MALA("diag"), MALA("dense"), ULA("diag"), ULA("dense"),
               HMC("diag"), HMC("dense", trajectory_length=1.0), SGLD(1e-3, batch_size=5),
               SGLD(1e-3, batch_size=5, precond="dense"), Learned(hidden=5), Learned(hidden=3, batch_size=5)]
SPD = np.array([[2.0, 0.4, -0.3], [0.4, 1.0, 0.2], [-0.3, 0.2, 0.5]])


# ---------------------------------------------------------------- parameters ------------
@pytest.mark.parametrize("kernel", [k for k in ALL_KERNELS if not isinstance(k, Learned)], ids=repr)
def test_describe_set_round_trip(kernel):
    model = Quartic(d=3)
    phi = kernel.init_params(model, step_size=0.37)
    assert phi.shape == (kernel.n_params(3),)
    assert kernel.describe(phi)["step_size"] == pytest.approx(0.37, rel=1e-14)
    phi2 = kernel.set_step_size(phi, 0.05)
    assert kernel.describe(phi2)["step_size"] == pytest.approx(0.05, rel=1e-14)
    assert phi[0] == np.log(0.37)  # the input φ is not modified
    if kernel.precond == "identity":
        assert set(kernel.describe(phi)) == {"step_size"}
        with pytest.raises(HyperparameterError, match="precond"):
            kernel.set_inv_mass(phi, np.ones(3))
        return
    key = "inv_mass" if kernel.precond == "dense" else "inv_mass_diag"
    np.testing.assert_allclose(kernel.describe(phi)[key], np.eye(3) if key == "inv_mass" else np.ones(3))
    target = SPD if key == "inv_mass" else np.diag(SPD)
    phi3 = kernel.set_inv_mass(phi2, SPD)  # a diag kernel keeps the diagonal
    np.testing.assert_allclose(kernel.describe(phi3)[key], target, rtol=1e-12)
    assert kernel.describe(phi3)["step_size"] == pytest.approx(0.05, rel=1e-14)
    np.testing.assert_allclose(kernel.set_inv_mass(phi3, kernel.describe(phi3)[key]), phi3, atol=1e-12)
    phi4 = kernel.set_inv_mass(phi, np.array([1.0, 4.0, 9.0]))  # a (d,) diagonal for any kernel
    np.testing.assert_allclose(np.diag(np.atleast_2d(kernel.describe(phi4)[key]))
                               if key == "inv_mass" else kernel.describe(phi4)[key], [1.0, 4.0, 9.0])
    with pytest.raises(SingularMatrixError if key == "inv_mass" else InputError):
        kernel.set_inv_mass(phi, np.array([[1.0, 2.0, 0], [2.0, 1.0, 0], [0, 0, 1.0]]) if key == "inv_mass"
                            else np.array([1.0, -1.0, 1.0]))
    with pytest.raises(InputError, match="shape"):
        kernel.set_inv_mass(phi, np.ones(4))


@pytest.mark.parametrize("kernel", ALL_KERNELS + [HMC("diag", step_spread=True)], ids=repr)
def test_step_size_is_what_describe_reports(kernel):
    model = Quartic(d=3)
    rng = np.random.default_rng(2)
    phi = kernel.init_params(model, step_size=0.37)
    for _ in range(3):
        assert kernel.get_step_size(phi) == kernel.describe(phi)["step_size"]
        assert isinstance(kernel.get_step_size(phi), float)
        phi = phi + 0.1 * rng.standard_normal(phi.shape)
    bad = phi.copy()
    bad[-1] = np.nan
    for wrong, match in ((bad, "NaN"), (np.zeros(0), "shape"), (phi[None, :], "shape")):
        with pytest.raises(InputError, match=match):
            kernel.get_step_size(wrong)


def test_hmc_describe_modes():
    model = Quartic(d=3)
    k1 = HMC("diag", n_steps=7)
    assert k1.describe(k1.init_params(model))["n_steps"] == 7
    assert k1.describe(k1.init_params(model))["jitter"] is False
    k2 = HMC("dense", trajectory_length=2.5)
    phi = k2.init_params(model)
    assert phi.shape == (1 + 6 + 1,)
    d = k2.describe(phi)
    assert d["trajectory_length"] == pytest.approx(2.5) and d["jitter"] is True


def test_learned_describe_and_parameter_count():
    kernel = Learned(hidden=20, zeta=1e-5)
    phi = kernel.init_params(Quartic(d=3))
    assert phi.shape == (102,) and kernel.n_params(3) == kernel.n_params(50) == 102
    d = kernel.describe(phi)
    assert d["zeta"] == 1e-5 and d["w_x"].shape == (20,) and d["hidden"] == 20
    with pytest.raises(NotImplementedError):
        kernel.set_step_size(phi, 0.1)
    with pytest.raises(NotImplementedError):
        kernel.proposal_entropy(phi)


@pytest.mark.parametrize("kernel", [RWM("dense"), MALA("diag"), ULA("dense"), SGLD(0.01, precond="dense")], ids=repr)
def test_proposal_entropy_matches_gaussian_entropy(kernel):
    """Differences of the closed form equal differences of the exact N(·, ε²M) entropies."""
    model = Quartic(d=3)
    phi_a = kernel.set_inv_mass(kernel.init_params(model, step_size=0.3), SPD)
    phi_b = kernel.set_inv_mass(kernel.init_params(model, step_size=0.7), np.diag([0.5, 2.0, 1.5]))

    def exact(phi):
        desc = kernel.describe(phi)
        M = desc.get("inv_mass", np.diag(desc.get("inv_mass_diag", np.ones(3))))
        scale2 = desc["step_size"] if isinstance(kernel, SGLD) else desc["step_size"] ** 2
        return multivariate_normal(np.zeros(3), scale2 * M).entropy()

    Ha, ga = kernel.proposal_entropy(phi_a)
    Hb, _ = kernel.proposal_entropy(phi_b)
    assert Ha - Hb == pytest.approx(exact(phi_a) - exact(phi_b), rel=1e-10)
    np.testing.assert_allclose(ga, central_fd(lambda p: kernel.proposal_entropy(p)[0], phi_a, 1e-6),
                               atol=1e-7)


def test_entropy_needs_dim_without_preconditioner():
    kernel = SGLD(0.01)
    phi = kernel.init_params(Quartic(d=3))
    with pytest.raises(HyperparameterError, match="dim"):
        kernel.proposal_entropy(phi)
    H, g = kernel.proposal_entropy(phi, dim=3)
    assert H == pytest.approx(1.5 * np.log(0.01)) and g.tolist() == [1.5]
    with pytest.raises(NotImplementedError):
        HMC().proposal_entropy(HMC().init_params(Quartic(d=3)))


# ------------------------------------------------- independent slow implementations -----
def test_mala_and_rwm_ratio_match_explicit_densities():
    model = Quartic(d=3)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 3))
    for kernel in (MALA("dense"), RWM("dense")):
        phi = kernel.set_inv_mass(kernel.init_params(model, step_size=0.45), SPD)
        state = kernel.init(model, X)
        noise = kernel.draw_noise(6, 3, rng)
        prop = kernel.propose(model, state, phi, noise)
        drift = 1.0 if isinstance(kernel, MALA) else 0.0
        cov = 0.45**2 * SPD
        for i in range(6):
            lp_x, g_x = model.logp_and_grad(X[i : i + 1])
            lp_y, g_y = model.logp_and_grad(prop.y[i : i + 1])
            fwd = multivariate_normal(X[i] + drift * 0.5 * 0.45**2 * SPD @ g_x[0], cov).logpdf(prop.y[i])
            rev = multivariate_normal(prop.y[i] + drift * 0.5 * 0.45**2 * SPD @ g_y[0], cov).logpdf(X[i])
            assert prop.log_accept_ratio[i] == pytest.approx(lp_y[0] - lp_x[0] + rev - fwd, rel=1e-9, abs=1e-9)
            expected_y = X[i] + drift * 0.5 * 0.45**2 * SPD @ g_x[0] + 0.45 * np.linalg.cholesky(SPD) @ noise.xi[i]
            np.testing.assert_allclose(prop.y[i], expected_y, rtol=1e-12)


@pytest.mark.parametrize("kernel", [HMC("dense", n_steps=6), HMC("dense", n_steps=3, jitter=True),
                                    HMC("diag", trajectory_length=1.3),
                                    HMC("dense", n_steps=4, step_spread=True)],
                         ids=repr)
def test_hmc_matches_explicit_leapfrog(kernel):
    """Textbook HMC, chain by chain: p ~ N(0, M⁻¹) as p = L⁻ᵀξ, ẋ = M p, H = -log p + ½pᵀMp."""
    model = Quartic(d=3)
    rng = np.random.default_rng(8)
    n = 5
    X = 0.6 * rng.standard_normal((n, 3))
    eps0 = 0.12
    M = SPD if kernel.precond == "dense" else np.diag(np.diag(SPD))
    phi = kernel.set_inv_mass(kernel.init_params(model, step_size=eps0), M)
    noise = kernel.draw_noise(n, 3, rng)
    spread = 0.5 if kernel.step_spread else 0.0
    if kernel.step_spread:
        phi = kernel.set_step_spread(phi, spread)
        assert kernel.describe(phi)["step_spread"] == spread
    prop = kernel.propose(model, kernel.init(model, X), phi, noise)
    assert not prop.diverging.any()
    L = np.linalg.cholesky(M)

    def lg(x):
        lp, g = model.logp_and_grad(x[None])
        return lp[0], g[0]

    for i in range(n):
        # chain i's step: log-uniform on [ε e^{−s}, ε e^{s}] by its own uniform
        eps = eps0 * np.exp(spread * (2 * noise.spread[i] - 1)) if kernel.step_spread else eps0
        if kernel.trajectory_length is None:
            steps = int(np.ceil(2 * noise.jitter[i] * kernel.n_steps)) if kernel.jitter else kernel.n_steps
            h = eps
        else:
            T = 2 * noise.jitter[i] * 1.3
            steps = int(np.ceil(T / eps))
            h = T / steps
        x = X[i].copy()
        p = np.linalg.solve(L.T, noise.xi[i])
        lp0, g = lg(x)
        H0 = -lp0 + 0.5 * p @ M @ p
        for _ in range(steps):
            p = p + 0.5 * h * g
            x = x + h * M @ p
            lp, g = lg(x)
            p = p + 0.5 * h * g
        assert prop.n_grad[i] == steps
        np.testing.assert_allclose(prop.y[i], x, rtol=1e-10, atol=1e-12)
        assert prop.log_accept_ratio[i] == pytest.approx(H0 - (-lp + 0.5 * p @ M @ p), abs=1e-10)
        assert prop.energy[i] == pytest.approx(-lp + 0.5 * p @ M @ p, rel=1e-12)


@pytest.mark.parametrize("kernel", [HMC("dense", n_steps=6), HMC("diag", n_steps=7, jitter=True),
                                    HMC("diag", trajectory_length=1.3),
                                    HMC("diag", n_steps=4, step_spread=True)], ids=repr)
def test_hmc_without_vjp_moves_the_same_and_keeps_no_trajectory(kernel):
    import tracemalloc

    model = Quartic(d=3)
    rng = np.random.default_rng(9)
    X = 0.6 * rng.standard_normal((40, 3))
    X[:5] *= 30.0                                        # far out: these diverge
    phi = kernel.init_params(model, step_size=0.3)
    if kernel.step_spread:
        phi = kernel.set_step_spread(phi, 0.7)
    noise = kernel.draw_noise(40, 3, rng)
    state = kernel.init(model, X)
    light = kernel.without_vjp()
    full, lean = kernel.propose(model, state, phi, noise), light.propose(model, state, phi, noise)
    assert lean.diverging.any() and not lean.diverging.all()
    for field in ("y", "logp_y", "grad_y", "log_accept_ratio", "n_grad", "diverging", "energy",
                  "energy_x", "step_size"):
        np.testing.assert_array_equal(getattr(lean, field), getattr(full, field), err_msg=field)
    assert kernel.keep_trajectory                         # the kernel itself is unchanged
    with pytest.raises(InputError, match="without_vjp"):
        light.proposal_vjp(model, state, phi, noise, lean, np.ones((40, 3)))
    # memory: a long trajectory in many dimensions keeps O(n·d), not O(steps·n·d)
    from mcmcadapt.models import Model

    big, d = HMC("diag", n_steps=40), 20_000
    std = Model(lambda Z: (-0.5 * np.sum(Z**2, 1), -Z), d)
    big_state = big.init(std, rng.standard_normal((4, d)))
    big_phi = big.init_params(std, step_size=0.1)
    big_noise = big.draw_noise(4, d, rng)
    peaks = []
    for k in (big, big.without_vjp()):
        tracemalloc.start()
        k.propose(std, big_state, big_phi, big_noise)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    one = 4 * d * 8                                       # bytes of one (n, d) array
    assert peaks[0] > 100 * one and peaks[1] < 20 * one


def test_hmc_energy_error_is_second_order():
    """Leapfrog energy error shrinks ~4× when the step halves (fixed integration time)."""
    model = correlated_gaussian(3)
    X = np.random.default_rng(0).standard_normal((200, 3))
    errs = []
    for eps, L in [(0.1, 10), (0.05, 20)]:
        kernel = HMC("diag", n_steps=L)
        phi = kernel.init_params(model, step_size=eps)
        prop = kernel.propose(model, kernel.init(model, X), phi, kernel.draw_noise(200, 3, 1))
        errs.append(np.mean(np.abs(prop.log_accept_ratio)))
    assert 3.5 < errs[0] / errs[1] < 4.5


# ------------------------------------------------- non-finite and divergences -----------
def test_hmc_divergence_on_absurd_step_size():
    model = correlated_gaussian(3)
    kernel = HMC("diag", n_steps=10)
    phi = kernel.init_params(model, step_size=60.0)
    X = np.random.default_rng(1).standard_normal((20, 3))
    state = kernel.init(model, X)
    new, info = kernel.step(model, state, phi, 5)
    assert info.diverging.all() and not info.accepted.any()
    assert np.all(info.n_grad < 10)  # integration stops at the divergence
    np.testing.assert_array_equal(new.x, X)
    assert np.all(np.isfinite(info.energy)) and np.all(info.acceptance_rate == 0.0)
    # a sane step size on the same target does not diverge
    _, info2 = kernel.step(model, state, kernel.set_step_size(phi, 0.3), 5)
    assert not info2.diverging.any()


@pytest.mark.parametrize("kernel", [ULA("diag"), ULA("dense"), SGLD(1.0, batch_size=None),
                                    Learned(hidden=4)], ids=repr)
def test_unadjusted_blow_up_is_a_divergence(kernel):
    """An unadjusted step that lowers log p by more than 1000 (here y ≈ −49x on N(0, I)) is
    diverging, as an HMC trajectory past its energy threshold is: the chain stays."""
    from mcmcadapt.transitions.base import MAX_LOGP_DROP

    model = Gaussian(np.zeros(3), np.eye(3))
    X = np.random.default_rng(2).standard_normal((40, 3)) + 1.0
    state = kernel.init(model, X)

    def phi(eps):  # the φ whose drift is (ε²/2)∇log p, in each kernel's convention
        size = {ULA: eps, SGLD: eps**2, Learned: 0.5 * eps**2}[type(kernel)]
        return kernel.init_params(model, step_size=size)

    prop = kernel.propose(model, state, phi(10.0), kernel.draw_noise(40, 3, 3))
    assert prop.diverging.sum() > 30
    np.testing.assert_array_equal(prop.y[prop.diverging], X[prop.diverging])
    kept = ~prop.diverging
    assert np.all(state.logp[kept] - model.logp_and_grad(prop.y[kept])[0] <= MAX_LOGP_DROP)
    new, info = kernel.step(model, state, phi(10.0), 3)
    np.testing.assert_array_equal(info.diverging, prop.diverging)
    np.testing.assert_array_equal(new.x[info.diverging], X[info.diverging])
    _, calm = kernel.step(model, state, phi(0.5), 3)
    assert not calm.diverging.any()


def test_blow_up_rule_needs_full_data_evaluations():
    from mcmcadapt.transitions.base import MAX_LOGP_DROP, collapsed

    lp_x = np.zeros(3)
    lp_y = np.array([-MAX_LOGP_DROP + 1.0, -MAX_LOGP_DROP - 1.0, -np.inf])
    assert collapsed(lp_y, lp_x, None).tolist() == [False, True, True]
    # minibatch estimates at x and y come from different batches: not compared
    assert not collapsed(lp_y, lp_x, np.arange(5)).any()


@pytest.mark.parametrize("what", ["logp", "grad"])
@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=repr)
def test_non_finite_target_is_rejected_and_flagged(kernel, what):
    """Chains on a target that returns NaN log density (or inf gradient) for x₀ > 1: such
    proposals are flagged diverging and never enter the state."""
    model = NaNRegion(d=3, cut=1.0, what=what)
    eps = 0.1 if isinstance(kernel, SGLD) else 0.6
    phi = kernel.init_params(model, step_size=eps)
    if isinstance(kernel, Learned):
        phi = kernel.init_params(model, step_size=0.2)
    rng = np.random.default_rng(0)
    state = kernel.init(model, 0.3 * rng.standard_normal((30, 3)))
    n_div = 0
    for _ in range(40):
        old = state
        state, info = kernel.step(model, state, phi, rng)
        assert np.all(np.isfinite(state.x)) and np.all(np.isfinite(state.logp)) and np.all(np.isfinite(state.grad))
        assert np.all(state.x[:, 0] <= 1.0)
        assert not np.any(info.accepted & info.diverging)
        np.testing.assert_array_equal(state.x[info.diverging], old.x[info.diverging])
        n_div += info.diverging.sum()
    assert n_div > 0


def test_init_rejects_start_outside_support():
    model = NaNRegion(d=2, cut=1.0)
    with pytest.raises(ModelError, match="row 1"):
        MALA().init(model, np.array([[0.0, 0.0], [2.0, 0.0]]))


def test_overflowing_proposal_never_reaches_the_model():
    model = Gaussian(np.zeros(2), np.eye(2))
    kernel = ULA("diag")
    phi = kernel.init_params(model, step_size=1e200)
    state = kernel.init(model, np.ones((3, 2)))
    new, info = kernel.step(model, state, phi, 0)  # the model asserts finite input
    assert info.diverging.all()
    np.testing.assert_array_equal(new.x, state.x)


# ------------------------------------------------- gradient counting, minibatches --------
@pytest.mark.parametrize("kernel", [MALA("dense"), HMC("dense", trajectory_length=1.0),
                                    HMC("diag", n_steps=4, jitter=True), Learned(hidden=3)], ids=repr)
def test_n_grad_counts_every_evaluation(kernel):
    model = Quartic(d=3)
    phi = kernel.init_params(model, step_size=0.2)
    state = kernel.init(model, np.random.default_rng(0).standard_normal((16, 3)))
    rng = np.random.default_rng(1)
    for _ in range(5):
        before = model.rows_evaluated
        state, info = kernel.step(model, state, phi, rng)
        assert info.n_grad.sum() == model.rows_evaluated - before
        assert info.n_grad.dtype.kind == "i" and np.all(info.n_grad >= 1)


def test_sgld_uses_minibatches():
    model = MeanPosterior(d=2, N=50)
    kernel = SGLD(step_size=2e-3, batch_size=8, precond="diag")
    phi = kernel.set_inv_mass(kernel.init_params(model), np.array([0.5, 2.0]))
    state = kernel.init(model, np.zeros((10, 2)))
    noise = kernel.draw_noise(10, 2, 3)
    model.calls.clear()
    prop = kernel.propose(model, state, phi, noise)
    (rows, batch), = model.calls
    assert rows == 10 and batch.size == 8 and np.unique(batch).size == 8 and batch.max() < 50
    eps = 2e-3
    y = state.x + 0.5 * eps * np.array([0.5, 2.0]) * state.grad + np.sqrt(eps) * np.sqrt([0.5, 2.0]) * noise.xi
    np.testing.assert_allclose(prop.y, y, rtol=1e-12)
    Yb = model.data[batch]
    g_expected = -y / model.tau**2 + (50 / 8) * (Yb.sum(0) - 8 * y)
    np.testing.assert_allclose(prop.grad_y, g_expected, rtol=1e-12)
    # a different noise draw uses a different batch
    kernel.propose(model, state, phi, kernel.draw_noise(10, 2, 4))
    assert not np.array_equal(model.calls[-1][1], batch)


def test_sgld_full_gradient_fallback_equals_ula():
    model = Quartic(d=3)  # no n_data
    sgld, ula = SGLD(step_size=0.04, batch_size=5, precond="dense"), ULA("dense")
    phi_s = sgld.set_inv_mass(sgld.init_params(model), SPD)
    phi_u = ula.set_inv_mass(ula.init_params(model, step_size=0.2), SPD)
    state = ula.init(model, np.random.default_rng(0).standard_normal((4, 3)))
    noise = sgld.draw_noise(4, 3, 0)
    model.calls.clear()
    ys = sgld.propose(model, state, phi_s, noise).y
    assert model.calls[0][1] is None
    np.testing.assert_allclose(ys, ula.propose(model, state, phi_u, noise).y, rtol=1e-12)


def test_sgld_stationary_mean():
    """With a linear gradient the minibatch noise is zero-mean, so the chains' mean matches
    the posterior mean (200 chains × 400 steps after 100 burn-in, batch-means MCSE)."""
    model = MeanPosterior(d=2, N=50)
    kernel = SGLD(step_size=5e-3, batch_size=10)
    phi = kernel.init_params(model)
    rng = np.random.default_rng(0)
    state = kernel.init(model, rng.standard_normal((200, 2)))
    for _ in range(100):
        state, _ = kernel.step(model, state, phi, rng)
    acc = np.zeros((200, 2))
    for _ in range(400):
        state, _ = kernel.step(model, state, phi, rng)
        acc += state.x
    means = acc / 400
    mcse = means.std(0, ddof=1) / np.sqrt(200)
    assert np.all(np.abs(means.mean(0) - model.posterior()[0]) < 4 * mcse)


# ------------------------------------------------- reproducibility and bad input ---------
@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=repr)
def test_step_is_reproducible_with_a_seed(kernel):
    model = MeanPosterior(d=3, N=20)
    phi = kernel.init_params(model, step_size=0.05)
    state = kernel.init(model, np.random.default_rng(0).standard_normal((8, 3)))

    def run(seed):
        rng = np.random.default_rng(seed)
        s = state
        for _ in range(3):
            s, info = kernel.step(model, s, phi, rng)
        return s.x, info.log_accept_ratio

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(kernel.step(model, state, phi, 3)[0].x, kernel.step(model, state, phi, 3)[0].x)


@pytest.mark.parametrize("kernel", [MALA("dense"), HMC("diag"), Learned(hidden=3)], ids=repr)
def test_bad_inputs_raise_clear_errors(kernel):
    model = Quartic(d=3)
    phi = kernel.init_params(model)
    with pytest.raises(InputError, match="2-D"):
        kernel.init(model, np.zeros(3))
    with pytest.raises(InputError, match="columns"):
        kernel.init(model, np.zeros((4, 2)))
    with pytest.raises(InputError, match="NaN"):
        kernel.init(model, np.array([[0.0, np.nan, 0.0]]))
    with pytest.raises(InputError, match="columns"):
        kernel.init_params(model, X=np.zeros((2, 5)))
    state = kernel.init(model, np.zeros((4, 3)))
    noise = kernel.draw_noise(4, 3, 0)
    with pytest.raises(InputError, match="length"):
        kernel.propose(model, state, np.append(phi, 0.0), noise)
    with pytest.raises(InputError, match="NaN"):
        kernel.propose(model, state, np.full_like(phi, np.nan), noise)
    with pytest.raises(InputError, match="noise"):
        kernel.propose(model, state, phi, kernel.draw_noise(5, 3, 0))
    prop = kernel.propose(model, state, phi, noise)
    with pytest.raises(InputError, match="cot_y"):
        kernel.proposal_vjp(model, state, phi, noise, prop, np.zeros((4, 2)))
    if kernel.metropolis:
        with pytest.raises(InputError, match="cot_r"):
            kernel.log_ratio_vjp(model, state, phi, noise, prop, np.zeros(3))
    else:
        with pytest.raises(NotImplementedError, match="unadjusted"):
            kernel.log_ratio_vjp(model, state, phi, noise, prop, np.zeros(4))
    with pytest.raises(InputError, match="n must be a positive integer, got 0"):
        kernel.draw_noise(0, 3, 0)
    with pytest.raises(InputError, match="d must be a positive integer, got 'x'"):
        kernel.draw_noise(2, "x", 0)


def test_bad_options_raise_clear_errors():
    with pytest.raises(HyperparameterError, match="precond"):
        MALA("full")
    # strings, NaN and fractions are named, not handed to int() (a command-line
    # --kernel-option n_steps=abc arrives as the string "abc")
    for bad in ("abc", float("nan"), 2.5, True):
        with pytest.raises(HyperparameterError, match="n_steps must be a positive integer"):
            HMC(n_steps=bad)
        with pytest.raises(HyperparameterError, match="batch_size must be a positive integer"):
            Learned(batch_size=bad)
    with pytest.raises(HyperparameterError, match="hidden must be an integer >= 2"):
        Learned(hidden=1)
    assert HMC(n_steps=4.0).n_steps == 4
    with pytest.raises(HyperparameterError, match="not both"):
        HMC(n_steps=5, trajectory_length=1.0)
    with pytest.raises(HyperparameterError, match="n_steps"):
        HMC(n_steps=0)
    with pytest.raises(HyperparameterError, match="trajectory_length"):
        HMC(trajectory_length=-1.0)
    with pytest.raises(HyperparameterError, match="batch_size"):
        SGLD(batch_size=0)
    with pytest.raises(HyperparameterError, match="hidden"):
        Learned(hidden=1)
    with pytest.raises(HyperparameterError, match="step_size"):
        MALA().init_params(Quartic(d=2), step_size=0.0)
    with pytest.raises(HyperparameterError, match="unknown kernel"):
        make("nuts")
    assert isinstance(make("HMC", precond="dense", n_steps=3), HMC)
    assert make("hmc", trajectory_length=2.0).jitter is True
