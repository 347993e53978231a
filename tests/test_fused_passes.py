"""The kernels' fused passes for diagonal preconditioners (Gaussian proposals, HMC's leapfrog)
give the numpy expressions' numbers to the last bit, including non-finite ones, so a proposal
does not depend on which path made it."""

import numpy as np
import pytest

from mcmcadapt.transitions import HMC, MALA, RWM, ULA
from mcmcadapt.transitions._diag_numba import (gaussian_move, gaussian_reverse_noise,
                                               row_scaled_step, row_scaled_step_sqnorm,
                                               select_rows)
from mcmcadapt.transitions.precond import L_rows, LT_rows, M_rows
from test_transitions_support import Quartic
from test_transitions_vjp import setup


@pytest.mark.parametrize("seed", range(20))
def test_fused_passes_equal_the_numpy_expressions_bitwise(seed):
    rng = np.random.default_rng(seed)
    n, d = rng.integers(1, 40), rng.integers(1, 200)
    x, xi, g, gy = rng.standard_normal((4, n, d)) * 10.0 ** rng.uniform(-3, 3)
    g[0, 0], gy[-1, -1] = np.inf, np.nan  # non-finite gradients propagate the same way
    F = np.exp(rng.standard_normal(d))
    eps = float(np.exp(rng.normal(-2.0, 2.0)))
    for drift in (0.0, 1.0):
        with np.errstate(all="ignore"):
            y = x + eps * L_rows(F, xi)
            if drift:
                y += (0.5 * eps**2) * M_rows(F, g)
            s = g + gy
            w = xi + (0.5 * eps * drift) * LT_rows(F, s)
        np.testing.assert_array_equal(
            gaussian_move(x, xi, g, F, eps, 0.5 * eps**2 if drift else 0.0), y)
        s2, w2 = gaussian_reverse_noise(xi, g, gy, F, 0.5 * eps * drift)
        np.testing.assert_array_equal(s2, s)
        np.testing.assert_array_equal(w2, w)


@pytest.mark.parametrize("seed", range(10))
def test_leapfrog_passes_equal_the_numpy_expressions(seed):
    rng = np.random.default_rng(seed)
    n, d = rng.integers(1, 40), rng.integers(1, 200)
    a, b = rng.standard_normal((2, n, d)) * 10.0 ** rng.uniform(-3, 3)
    b[0, 0] = np.nan
    F = np.exp(rng.standard_normal(d))
    c = rng.uniform(0.0, 0.5, n)
    with np.errstate(all="ignore"):
        expected = a + c[:, None] * LT_rows(F, b)
    out = np.empty_like(a)
    row_scaled_step(a, c, b, F, out)
    np.testing.assert_array_equal(out, expected)
    row_scaled_step(a, c, b, F, a)  # in place
    np.testing.assert_array_equal(a, expected)
    norms = row_scaled_step_sqnorm(a * 0.0, c, b, F)  # ‖c (b ⊙ F)‖² per row
    ref = np.sum((c[:, None] * LT_rows(F, b)) ** 2, axis=1)
    np.testing.assert_allclose(norms[1:], ref[1:], rtol=1e-13)
    assert np.isnan(norms[0])
    keep = rng.random(n) < 0.5
    out = np.empty_like(a)
    select_rows(keep, a, b, out)
    np.testing.assert_array_equal(out, np.where(keep[:, None], a, b))


@pytest.mark.parametrize("cls", [MALA, ULA, RWM, HMC])
def test_diagonal_proposal_equals_the_dense_path_with_a_diagonal_factor(cls):
    """The dense path (numpy, L = diag) and the fused diagonal path agree on a whole
    proposal (to rounding: a matrix product replaces the elementwise one)."""
    model = Quartic()
    diag, dense = cls("diag"), cls("dense")
    phi, X, noise = setup(diag, model, 0.4)
    M = diag.describe(phi)["inv_mass_diag"]
    phi_dense = dense.set_inv_mass(dense.init_params(model, step_size=0.4), np.diag(M))
    a = diag.propose(model, diag.init(model, X), phi, noise)
    b = dense.propose(model, dense.init(model, X), phi_dense, noise)
    np.testing.assert_allclose(a.y, b.y, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(a.log_accept_ratio, b.log_accept_ratio, rtol=1e-11, atol=1e-11)


def test_accept_selects_rows_like_where_and_shares_whole_arrays():
    """accept takes whole arrays when every chain comes from one side (an unadjusted
    kernel accepts all), and otherwise the rows np.where would pick, bit for bit."""
    from mcmcadapt.transitions.base import Noise, Proposal, State

    rng = np.random.default_rng(4)
    n, d = 6, 9
    state = State(x=rng.standard_normal((n, d)), logp=rng.standard_normal(n),
                  grad=rng.standard_normal((n, d)))
    y, gy = rng.standard_normal((2, n, d))
    gy[2, 3] = np.nan  # values are copied as they are
    for kernel, div in ((ULA(), np.zeros(n, bool)), (ULA(), np.ones(n, bool)),
                        (ULA(), np.arange(n) % 3 == 0), (MALA(), np.zeros(n, bool))):
        logr = np.where(div, -np.inf, rng.normal(-0.5, 1.0, n))
        prop = Proposal(y=y, logp_y=rng.standard_normal(n), grad_y=gy, log_accept_ratio=logr,
                        n_grad=np.ones(n, np.int64), diverging=div)
        noise = Noise(xi=np.zeros((n, d)), log_u=np.log(rng.random(n)))
        new, info = kernel.accept(state, prop, noise)
        a = info.accepted
        for got, p, s in ((new.x, y, state.x), (new.grad, gy, state.grad)):
            np.testing.assert_array_equal(got, np.where(a[:, None], p, s))
            if a.all():
                assert got is p
            elif not a.any():
                assert got is s
            else:
                assert got is not p and got is not s
        np.testing.assert_array_equal(new.logp, np.where(a, prop.logp_y, state.logp))
