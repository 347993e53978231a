"""Every VJP of every kernel (φ and x, and log_ratio_vjp) against central finite differences
with the noise held fixed, on a non-Gaussian target with a position-dependent dense Hessian."""

import numpy as np
import pytest

from mcmcadapt.transitions import HMC, MALA, RWM, SGLD, ULA, Learned
from test_transitions_support import MeanPosterior, NaNRegion, Quartic, central_fd

N_CHAINS = 4


def random_precond(kernel, model, phi, rng):
    """φ with a non-trivial preconditioner (random SPD M) and a moderate step size."""
    d = model.dim
    Q = rng.standard_normal((d, d))
    M = Q @ Q.T / d + 0.5 * np.eye(d)
    if kernel.precond == "diag":
        M = np.diag(M)
    return kernel.set_inv_mass(phi, M)


def setup(kernel, model, step_size, seed=0):
    rng = np.random.default_rng(seed)
    phi = kernel.init_params(model, step_size=step_size)
    if getattr(kernel, "precond", "identity") != "identity":
        phi = random_precond(kernel, model, phi, rng)
    X = 0.7 * rng.standard_normal((N_CHAINS, model.dim))
    noise = kernel.draw_noise(N_CHAINS, model.dim, rng)
    return phi, X, noise


def check_vjps(kernel, model, phi, X, noise, h=1e-5, rtol=2e-6):
    rng = np.random.default_rng(7)
    n, d = X.shape
    state = kernel.init(model, X)
    prop = kernel.propose(model, state, phi, noise)
    assert not prop.diverging.any()
    cot_y = rng.standard_normal((n, d))
    dphi, dx = kernel.proposal_vjp(model, state, phi, noise, prop, cot_y)

    def J_phi(p):
        return np.sum(cot_y * kernel.propose(model, state, p, noise).y)

    def J_x(x):
        return np.sum(cot_y * kernel.propose(model, kernel.init(model, x), phi, noise).y)

    fd_phi = central_fd(J_phi, phi, h)
    fd_x = central_fd(J_x, X, h).reshape(n, d)
    scale = max(np.abs(fd_phi).max(), 1e-8)
    np.testing.assert_allclose(dphi, fd_phi, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(dx, fd_x, rtol=rtol, atol=rtol * np.abs(fd_x).max())
    # the φ-part alone (what the adaptation asks for) is the same numbers
    dphi_only, none = kernel.proposal_vjp(model, state, phi, noise, prop, cot_y, need_x=False)
    assert none is None
    np.testing.assert_allclose(dphi_only, dphi, rtol=1e-13, atol=1e-13 * scale)
    if kernel.metropolis:
        rho = rng.standard_normal(n)
        dr = kernel.log_ratio_vjp(model, state, phi, noise, prop, rho)

        def R(p):
            return np.sum(rho * kernel.propose(model, state, p, noise).log_accept_ratio)

        fd_r = central_fd(R, phi, h)
        np.testing.assert_allclose(dr, fd_r, rtol=rtol, atol=rtol * max(np.abs(fd_r).max(), 1e-8))
    return dphi, dx


@pytest.mark.parametrize("precond", ["diag", "dense"])
@pytest.mark.parametrize("cls,eps", [(RWM, 0.6), (MALA, 0.5), (ULA, 0.3)])
def test_gaussian_proposal_vjps(cls, eps, precond):
    model = Quartic()
    kernel = cls(precond)
    check_vjps(kernel, model, *setup(kernel, model, eps))


@pytest.mark.parametrize("precond", ["diag", "dense"])
@pytest.mark.parametrize(
    "options",
    [dict(n_steps=5), dict(n_steps=4, jitter=True), dict(trajectory_length=0.9),
     dict(n_steps=4, jitter=True, step_spread=True)],
    ids=["n_steps", "n_steps_jitter", "trajectory", "n_steps_spread"],
)
def test_hmc_vjps(precond, options):
    model = Quartic()
    kernel = HMC(precond, **options)
    phi, X, noise = setup(kernel, model, 0.15)
    if kernel.step_spread:
        phi = kernel.set_step_spread(phi, 0.8)  # steps from 0.068 to 0.33
    dphi, _ = check_vjps(kernel, model, phi, X, noise)
    if "trajectory_length" in options:
        # ε only sets the integer step count here (module docstring); log T carries the signal
        assert dphi[0] == 0.0 and dphi[-1] != 0.0
    else:
        assert dphi[0] != 0.0
    if kernel.step_spread:  # s moves every chain's step
        assert dphi[-1] != 0.0


def test_hmc_vjp_many_steps_and_unequal_lengths():
    """Jittered trajectories of very different lengths across chains (masking in reverse)."""
    model = Quartic(d=2)
    kernel = HMC("dense", trajectory_length=1.2)
    phi, X, noise = setup(kernel, model, 0.0813, seed=3)
    noise.jitter[:] = [0.05, 0.3, 0.7, 1.0]
    prop = kernel.propose(model, kernel.init(model, X), phi, noise)
    assert len(set(prop.n_grad.tolist())) == N_CHAINS
    check_vjps(kernel, model, phi, X, noise)


@pytest.mark.parametrize("precond", [None, "diag", "dense"])
def test_sgld_vjps(precond):
    model = MeanPosterior(d=2, N=30)
    kernel = SGLD(step_size=4e-3, batch_size=10, precond=precond)
    phi, X, noise = setup(kernel, model, 4e-3)
    check_vjps(kernel, model, phi, X + 1.0, noise)


@pytest.mark.parametrize("perturb", [False, True], ids=["langevin_init", "random_weights"])
def test_learned_vjps(perturb):
    model = Quartic()
    kernel = Learned(hidden=6, zeta=0.05, seed=1)
    phi, X, noise = setup(kernel, model, 0.05)
    if perturb:
        phi = phi + 0.3 * np.random.default_rng(5).standard_normal(phi.size)
    dphi, _ = check_vjps(kernel, model, phi, X, noise, rtol=5e-6)
    assert np.count_nonzero(dphi) > phi.size // 2


def test_learned_init_is_langevin_step():
    """init_params gives y = x + s∇log p(x) + √(2s) ξ exactly (checked at s = 0.01)."""
    model = Quartic()
    kernel = Learned(hidden=20, zeta=1e-5)
    s = 0.01
    phi = kernel.init_params(model, step_size=s)
    X = np.random.default_rng(0).standard_normal((5, 3))
    state = kernel.init(model, X)
    noise = kernel.draw_noise(5, 3, 1)
    y = kernel.propose(model, state, phi, noise).y
    np.testing.assert_allclose(y, X + s * state.grad + np.sqrt(2 * s) * noise.xi, rtol=1e-12, atol=1e-12)
    # the same weights drive a 7-dimensional model: parameters transfer across dimensions
    model7 = Quartic(d=7)
    X7 = np.random.default_rng(1).standard_normal((2, 7))
    st7 = kernel.init(model7, X7)
    n7 = kernel.draw_noise(2, 7, 2)
    np.testing.assert_allclose(kernel.propose(model7, st7, phi, n7).y,
                               X7 + s * st7.grad + np.sqrt(2 * s) * n7.xi, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("kernel", [MALA("dense"), HMC("diag", n_steps=3), ULA("diag"),
                                    Learned(hidden=4, zeta=0.1)], ids=repr)
def test_diverging_chain_is_identity_in_vjps(kernel, first_order):
    """A chain whose proposal hits NaN stays put: zero φ-contribution, cotangent passed to x
    (also through the adaptation's first-order proxy, which takes the fused paths)."""
    from mcmcadapt.adaptation.counting import FirstOrderModel

    model = NaNRegion(d=2, cut=0.5)
    if first_order:
        model = FirstOrderModel(model)
    phi = kernel.init_params(model, step_size=0.8)
    X = np.array([[0.45, 0.0], [-1.0, 0.2], [0.0, -0.3]])
    noise = kernel.draw_noise(3, 2, 4)
    noise.xi[0] = [3.0, 0.0]  # pushes chain 0 into the NaN region
    state = kernel.init(model, X)
    prop = kernel.propose(model, state, phi, noise)
    assert prop.diverging[0]
    assert np.all(np.isfinite(prop.y)) and np.array_equal(prop.y[0], X[0])
    cot = np.zeros((3, 2))
    cot[0] = [1.0, -2.0]
    dphi, dx = kernel.proposal_vjp(model, state, phi, noise, prop, cot)
    assert np.all(dphi == 0.0)
    np.testing.assert_array_equal(dx, cot)
    if kernel.metropolis:
        assert prop.log_accept_ratio[0] == -np.inf
        r = kernel.log_ratio_vjp(model, state, phi, noise, prop, np.array([1.0, 0.0, 0.0]))
        assert np.all(r == 0.0)


class _ZeroHVP:
    """Model proxy whose Hessian-vector products are computed, and are zero: the reference
    for the kernels' zero_hessian shortcut."""

    def __init__(self, model):
        self._model = model
        self.hvp_calls = 0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def hvp(self, X, V):
        self.hvp_calls += 1
        return np.zeros_like(V)


@pytest.mark.parametrize("kernel", [MALA("diag"), MALA("dense"), ULA("dense"), ULA("diag"),
                                    RWM("diag"), HMC("dense", n_steps=3, jitter=True),
                                    HMC("diag", n_steps=3, jitter=True),
                                    HMC("diag", n_steps=3, step_spread=True),
                                    Learned(hidden=4, zeta=0.1)], ids=repr)
def test_zero_hessian_proxy_skips_products_exactly(kernel):
    """The adaptation's first-order proxy (zero_hessian) gives the VJPs of an explicit
    zero-HVP model, to rounding, without calling hvp."""
    from mcmcadapt.adaptation.counting import FirstOrderModel

    model = Quartic()
    phi, X, noise = setup(kernel, model, 0.3)
    if getattr(kernel, "step_spread", False):
        phi = kernel.set_step_spread(phi, 0.7)
    state = kernel.init(model, X)
    prop = kernel.propose(model, state, phi, noise)
    cot = np.random.default_rng(2).standard_normal(X.shape)
    ref, first = _ZeroHVP(model), FirstOrderModel(_ZeroHVP(model))
    a_phi, a_x = kernel.proposal_vjp(ref, state, phi, noise, prop, cot)
    b_phi, b_x = kernel.proposal_vjp(first, state, phi, noise, prop, cot)
    np.testing.assert_allclose(b_phi, a_phi, rtol=1e-12, atol=1e-12 * np.abs(a_phi).max())
    np.testing.assert_allclose(b_x, a_x, rtol=1e-12, atol=1e-12 * np.abs(a_x).max())
    if kernel.metropolis:
        rho = np.random.default_rng(3).standard_normal(X.shape[0])
        rho[1] = 0.0  # chains without a cotangent (skipped by the fused diagonal paths)
        a_r = kernel.log_ratio_vjp(ref, state, phi, noise, prop, rho)
        b_r = kernel.log_ratio_vjp(first, state, phi, noise, prop, rho)
        np.testing.assert_allclose(b_r, a_r, rtol=1e-12, atol=1e-12 * np.abs(a_r).max())
    if not isinstance(kernel, RWM):  # RWM has no gradient drift, hence no product
        assert ref.hvp_calls > 0
    assert first._model.hvp_calls == 0
