"""Kernel layer, bandwidth rules and dense solves against explicit per-pair loops."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from mcmcadapt.errors import DegenerateParticlesError, HyperparameterError, SingularMatrixError
from mcmcadapt.score import bandwidth as bw
from mcmcadapt.score import kernels
from mcmcadapt.score.kernels import Kernel, centre, divergence_sum, grad_sum, sqdist, sqdist_centred
from mcmcadapt.score.linalg import (
    cho_solve,
    cholesky_jitter,
    lu_factor_checked,
    lu_solve,
    lu_solve_checked,
)

KERNELS = [("rbf", -0.5), ("imq", -0.5), ("imq", -0.3)]


def k_pair(name, h, beta, x, y):
    r2 = float(np.sum((x - y) ** 2))
    if name == "rbf":
        return np.exp(-r2 / (2 * h * h))
    return (1.0 + r2 / (h * h)) ** beta


def grad_y_pair(name, h, beta, x, y):
    """∇_y k(x, y) written out by hand."""
    r2 = float(np.sum((x - y) ** 2))
    if name == "rbf":
        return np.exp(-r2 / (2 * h * h)) * (x - y) / (h * h)
    return beta * (1.0 + r2 / (h * h)) ** (beta - 1.0) * 2.0 * (y - x) / (h * h)


def mixed_trace_fd(name, h, beta, x, y, step=1e-4):
    """Σ_l ∂²k/∂x_l∂y_l by central differences of ∇_y k in x."""
    total = 0.0
    for l in range(x.size):
        e = np.zeros_like(x)
        e[l] = step
        gp = grad_y_pair(name, h, beta, x + e, y)[l]
        gm = grad_y_pair(name, h, beta, x - e, y)[l]
        total += (gp - gm) / (2 * step)
    return total


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(13, 4)) + 2.0, rng.normal(size=(7, 4))


def test_sqdist_matches_loops(data):
    X, Y = data
    D = sqdist(Y, X)
    ref = np.array([[np.sum((y - x) ** 2) for x in X] for y in Y])
    np.testing.assert_allclose(D, ref, rtol=1e-12, atol=1e-12)
    S = sqdist(X)
    assert np.all(np.diag(S) == 0.0)
    np.testing.assert_allclose(S, S.T, rtol=0, atol=0)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 8, 13, 50])
@pytest.mark.parametrize("d", [64, 801])
def test_tiled_in_sample_distances_match_loops(n, d, monkeypatch):
    """The compiled 4×4-tiled kernel (small populations, d ≥ 64), every remainder n mod 4,
    against explicit pairwise loops, and against the BLAS path it replaces."""
    X = np.random.default_rng(n + d).standard_normal((n, d)) * 2.0 + 5.0
    _, Xc, norms, _ = centre(X)
    assert n <= kernels.SQDIST_TILED[0] and d >= kernels.SQDIST_TILED[1]
    D = sqdist_centred(Xc, norms)
    ref = np.array([[np.sum((X[i] - X[k]) ** 2) for k in range(n)] for i in range(n)])
    np.testing.assert_allclose(D, ref, rtol=1e-12, atol=1e-12 * ref.max())
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0.0)
    monkeypatch.setattr(kernels, "SQDIST_TILED", (0, np.inf))  # force BLAS
    np.testing.assert_allclose(sqdist_centred(Xc, norms), D, rtol=1e-12, atol=1e-12 * ref.max())


@pytest.mark.parametrize("d", [3, 64])  # the BLAS and the tiled paths
def test_sqdist_far_from_origin_keeps_precision(d):
    # particles at 1e6 with unit spread: the naive GEMM form loses ~12 digits
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, d)) + 1e6
    ref = np.array([[np.sum((a - b) ** 2) for b in X] for a in X])
    np.testing.assert_allclose(sqdist(X), ref, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name,beta", KERNELS)
def test_gram_weight_and_sums_match_loops(data, name, beta):
    X, Y = data
    h = 1.7
    kern = Kernel(name, h, beta)
    km = kern.matrices(Y, X, keep_sqdist=True)
    K_ref = np.array([[k_pair(name, h, beta, x, y) for x in X] for y in Y])
    np.testing.assert_allclose(km.K, K_ref, rtol=1e-13)
    np.testing.assert_allclose(kern.gram(Y, X), K_ref, rtol=1e-13)
    np.testing.assert_allclose(km.w_scale * km.w_rowsum, (km.w_scale * km.W).sum(1), rtol=1e-13)

    # grad_sum: Σ_b A_ab ∇_y k(y_a, x_b), and with A = 1
    A = np.random.default_rng(1).normal(size=km.K.shape)
    ref_A = np.array(
        [sum(A[a, b] * grad_y_pair(name, h, beta, X[b], Y[a]) for b in range(len(X)))
         for a in range(len(Y))]
    )
    ref_1 = np.array(
        [sum(grad_y_pair(name, h, beta, X[b], Y[a]) for b in range(len(X))) for a in range(len(Y))]
    )
    np.testing.assert_allclose(grad_sum(km, Y, X, A), ref_A, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(grad_sum(km, Y, X), ref_1, rtol=1e-11, atol=1e-13)

    # curvature trace: Σ_l ∂²k/∂x_l∂y_l = d W − V∘D
    D = km.D
    d = X.shape[1]
    trace = d * kern.weight(D) - kern.curvature(D) * D
    ref_tr = np.array([[mixed_trace_fd(name, h, beta, x, y) for x in X] for y in Y])
    np.testing.assert_allclose(trace, ref_tr, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,beta", KERNELS)
def test_divergence_sum_matches_loops(data, name, beta):
    X, _ = data
    h = 0.9
    km = Kernel(name, h, beta).matrices(X)
    # B_i = Σ_j ∇_{x_j} k(x_i, x_j)
    ref = np.array([sum(grad_y_pair(name, h, beta, xi, xj) for xj in X) for xi in X])
    np.testing.assert_allclose(divergence_sum(km, X), ref, rtol=1e-11, atol=1e-13)


def test_imq_in_place_equals_kept(data):
    X, Y = data
    kern = Kernel("imq", 1.3, -0.4)
    D = sqdist(Y, X)
    kept = kern.matrices_from_sqdist(D.copy(), keep_sqdist=True)
    inplace = kern.matrices_from_sqdist(D)
    assert inplace.K is D and inplace.D is None
    np.testing.assert_array_equal(inplace.K, kept.K)
    np.testing.assert_array_equal(inplace.W, kept.W)


def test_kernel_rejects_bad_parameters():
    with pytest.raises(HyperparameterError, match="kernel"):
        Kernel("gauss", 1.0)
    with pytest.raises(HyperparameterError, match="bandwidth"):
        Kernel("rbf", 0.0)
    with pytest.raises(HyperparameterError, match="beta"):
        Kernel("imq", 1.0, beta=-1.5)


@pytest.mark.parametrize("n", [11, 12, 40])
def test_median_matches_scipy_pdist(n):
    X = np.random.default_rng(n).normal(size=(n, 3))
    dist = pdist(X)
    h = bw.bandwidth_from_sqdist(sqdist(X), "median")
    assert h == pytest.approx(np.median(dist), rel=1e-12)
    h_log = bw.bandwidth_from_sqdist(sqdist(X), "median_log")
    assert h_log == pytest.approx(np.sqrt(0.5 * np.median(dist**2) / np.log(n + 1)), rel=1e-12)
    assert bw.bandwidth_from_particles(X, "median") == pytest.approx(h, rel=1e-12)


def test_median_subsample_for_large_n():
    # above MAX_PAIRS a fixed random subset of pairs is used: deterministic and close
    X = np.random.default_rng(5).normal(size=(800, 2))
    D = sqdist(X)
    h1 = bw.bandwidth_from_sqdist(D)
    assert h1 == bw.bandwidth_from_sqdist(D)
    assert h1 == pytest.approx(np.median(pdist(X)), rel=0.01)
    h2 = bw.bandwidth_from_particles(X, max_points=300)
    assert h2 == pytest.approx(np.median(pdist(X)), rel=0.05)


def test_median_degenerate_particles():
    X = np.zeros((10, 2))
    X[:2] = [[1.0, 0.0], [0.0, 1.0]]  # most pairs coincide
    with pytest.raises(DegenerateParticlesError, match="median pairwise distance"):
        bw.bandwidth_from_sqdist(sqdist(X))


def test_cholesky_jitter_in_place_and_retry():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(30, 30))
    A = M @ M.T + np.eye(30)
    A0 = A.copy()
    L, jitter = cholesky_jitter(A, overwrite=True)
    assert jitter == 0.0 and np.shares_memory(L, A)
    np.testing.assert_allclose(np.tril(L) @ np.tril(L).T, A0, rtol=1e-12, atol=1e-12)
    assert np.all(np.triu(L, 1) == 0.0)
    B = rng.normal(size=(30, 3))
    np.testing.assert_allclose(A0 @ cho_solve(L, B), B, atol=1e-10)

    # rank-one PSD matrix: needs jitter, which is reported and sits on the diagonal
    v = rng.normal(size=(6, 1))
    S = v @ v.T
    L, jitter = cholesky_jitter(S)
    assert jitter > 0.0
    np.testing.assert_allclose(L @ L.T, S + jitter * np.eye(6), rtol=1e-9, atol=1e-12)

    with pytest.raises(SingularMatrixError, match="not positive definite"):
        cholesky_jitter(np.diag([1.0, -0.5, 1.0]))  # indefinite: no small jitter helps


def test_lu_checked():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(8, 8))
    A = A + A.T
    B = rng.normal(size=(8, 2))
    Z = lu_solve_checked(A, B)
    np.testing.assert_allclose(A @ Z, B, atol=1e-10)
    A0 = A.copy()
    f = lu_factor_checked(A, overwrite=True, symmetric=True)
    assert np.shares_memory(f[0], A)
    np.testing.assert_allclose(A0 @ lu_solve(f, B), B, atol=1e-10)
    with pytest.raises(SingularMatrixError, match="singular"):
        lu_factor_checked(np.ones((4, 4)))


def test_thread_policy_applies_and_restores():
    import numba
    from threadpoolctl import threadpool_info

    from mcmcadapt.score._threads import compute_threads, get_threads, set_threads

    def blas_threads():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info()
                if i["user_api"] == "blas"}

    before, numba_before = blas_threads(), numba.get_num_threads()
    previous = set_threads(blas=1, numba_threads=1)
    try:
        assert get_threads() == {"blas": 1, "numba": 1}
        with compute_threads():
            assert set(blas_threads().values()) == {1} and numba.get_num_threads() == 1
            with compute_threads():  # re-entrant
                assert set(blas_threads().values()) == {1}
            assert set(blas_threads().values()) == {1}
            # a block nested in one with a different policy applies its own and restores
            set_threads(blas=2, numba_threads=1)
            with compute_threads():
                assert set(blas_threads().values()) == {2}
            assert set(blas_threads().values()) == {1}
            set_threads(blas=1, numba_threads=1)
        assert blas_threads() == before and numba.get_num_threads() == numba_before
        with pytest.raises(ValueError, match=">= 0"):
            set_threads(blas=-1)
    finally:
        set_threads(blas=previous["blas"], numba_threads=previous["numba"])


def test_centre_matches_numpy(data):
    X = data[0] + 1e3  # far from the origin
    center, Xc, norms, radius2 = centre(X)
    np.testing.assert_allclose(center, X.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(Xc, X - X.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(norms, np.sum(Xc**2, axis=1), rtol=1e-12)
    assert radius2 == pytest.approx(np.max(norms), rel=1e-12)
    np.testing.assert_allclose(sqdist_centred(Xc, norms), sqdist(X), atol=1e-8)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, "both infinities"])
def test_centre_flags_nonfinite(bad):
    X = np.arange(12.0).reshape(4, 3)
    if bad == "both infinities":  # their column sum is NaN, not inf
        X[1, 2], X[3, 2] = np.inf, -np.inf
    else:
        X[2, 1] = bad
    assert centre(X)[3] == -1.0


def test_centre_identical_rows_and_overflowing_sums():
    # 0.1 summed 7 times and divided by 7 is not exactly 0.1: identity is judged on X itself
    X = np.full((7, 3), 0.1)
    assert centre(X)[3] == 0.0
    X[3, 0] = 0.1 + 1e-15
    assert centre(X)[3] > 0.0
    huge = np.full((4, 2), 1e308)
    huge[0] = -1e308
    huge[1, 1] = 1e307
    assert centre(huge)[3] == np.inf  # finite entries whose sum overflows


def test_rbf_pass_within_two_ulps_of_numpy_exp_and_zero_below_the_floor():
    """The compiled RBF pass (vectorised exp) against numpy's exp entry by entry, over the
    whole range of exponents, with the deep tail (e^t, t < −708) set to exactly 0."""
    from mcmcadapt.score import _numba

    rng = np.random.default_rng(3)
    t = np.concatenate([-rng.uniform(0, 1, 500) ** 3 * 760.0, [0.0, -707.9, -708.0, -708.1,
                                                               -745.2, -800.0, -1e300]])
    D = -t.reshape(-1, 1) * np.ones((1, 3))  # inv_two_h2 = 1: the exponent is −D
    rowsum = np.empty(D.shape[0])
    K = D.copy()
    _numba.rbf_from_sqdist_inplace(K, 1.0, rowsum)
    ref = np.exp(-D)
    normal = -D >= -708.0
    ulps = np.abs(K[normal] - ref[normal]) / np.spacing(ref[normal])
    assert ulps.max() <= 2.0
    assert np.all(K[~normal] == 0.0) and np.all(ref[~normal] < 3.4e-308)
    np.testing.assert_allclose(rowsum, K.sum(axis=1), rtol=1e-15, atol=0.0)


def test_finite_checks_match_numpy():
    from mcmcadapt._validation import all_finite, finite_rows

    rng = np.random.default_rng(0)
    A = rng.standard_normal((7, 33)) * 1e300  # large finite values stay finite
    assert all_finite(A) and finite_rows(A).all()
    for bad in (np.nan, np.inf, -np.inf):
        for i, j in ((0, 0), (3, 17), (6, 32)):
            B = A.copy()
            B[i, j] = bad
            for view in (B, np.asfortranarray(B), B[:, ::2] if j % 2 == 0 else B[:, 1::2]):
                assert all_finite(view) == bool(np.isfinite(view).all()) is False
                np.testing.assert_array_equal(finite_rows(view), np.isfinite(view).all(axis=1))
    C = A.copy()
    C[1, 2], C[1, 3] = np.inf, -np.inf  # would cancel in a plain sum
    assert not all_finite(C) and not finite_rows(C)[1]
    assert all_finite(np.zeros((0, 3))) and finite_rows(np.zeros((0, 3))).shape == (0,)
    assert all_finite(np.arange(5)) and not all_finite(np.array([1.0, np.nan]))
