"""Tikhonov and ν-method score estimators (curl-free and diagonal matrix kernels) against
slow references that build the nd×nd block Gram with explicit loops over pairs."""

import numpy as np
import pytest

from mcmcadapt.errors import HyperparameterError
from mcmcadapt.score.kernels import Kernel
from mcmcadapt.score.regularized import BlockGram, NuMethod, Tikhonov

BETA = -0.5


def scalar_derivs(kernel, h, s):
    """f, f′, f″, f‴ of k = f(s), s = ‖r‖², written out per kernel."""
    if kernel == "rbf":
        f = np.exp(-s / (2 * h * h))
        return f, -f / (2 * h**2), f / (4 * h**4), -f / (8 * h**6)
    u = 1 + s / h**2
    b = BETA
    return (u**b, b / h**2 * u ** (b - 1), b * (b - 1) / h**4 * u ** (b - 2),
            b * (b - 1) * (b - 2) / h**6 * u ** (b - 3))


def ref_block(kernel, kind, h, y, x):
    """d×d block 𝒦(y, x): diagonal k·I, or curl-free −h²∇²ψ(y − x) with ψ(r) = f(‖r‖²)."""
    d = y.size
    r = y - x
    s = float(r @ r)
    f, f1, f2, _ = scalar_derivs(kernel, h, s)
    if kind == "diagonal":
        return f * np.eye(d)
    hess = 2 * f1 * np.eye(d) + 4 * f2 * np.outer(r, r)
    return -h * h * hess


def ref_div(kernel, kind, h, y, x):
    """Σ_l ∂/∂x_l of column l of 𝒦(y, x) (a d-vector), written out per kernel."""
    d = y.size
    r = y - x
    s = float(r @ r)
    f, f1, f2, f3 = scalar_derivs(kernel, h, s)
    if kind == "diagonal":
        return -2 * f1 * r                               # ∇_x f(‖y − x‖²)
    # ∂_{x_l} of −h² ∂_k∂_l ψ(y − x) is h² ∂_k ∂_l² ψ; summed over l: h² ∂_k Δψ(r), with
    # Δψ = 2d f′ + 4 s f″ and ∂_k Δψ = 2 r_k ((2d + 4) f″ + 4 s f‴).
    return h * h * 2 * r * ((2 * d + 4) * f2 + 4 * s * f3)


def ref_gram(kernel, kind, h, Y, X):
    m, d = Y.shape
    n = X.shape[0]
    G = np.zeros((m * d, n * d))
    Z = np.zeros((m, d))
    for a in range(m):
        for b in range(n):
            G[a * d:(a + 1) * d, b * d:(b + 1) * d] = ref_block(kernel, kind, h, Y[a], X[b])
            Z[a] += ref_div(kernel, kind, h, Y[a], X[b])
    return G, Z


def ref_tikhonov(kernel, kind, h, eta, X, Y):
    n, d = X.shape
    G, Z = ref_gram(kernel, kind, h, X, X)
    s = np.linalg.solve(G + eta * np.eye(n * d), -Z.ravel())
    Gy, Zy = ref_gram(kernel, kind, h, Y, X)
    out = -(Zy.ravel() + Gy @ s) / eta
    return s.reshape(n, d), out.reshape(Y.shape)


def ref_numethod(kernel, kind, h, n_iter, nu, X, Y, lam_bound):
    """The ν-method for 𝒦 v = −Z on function values at X and Y (not the (a, C) form the
    estimator uses): v_t = v + u(v − v′) − (ω/Λ)(Z + 𝒦 v_X) at every evaluation point."""
    n, d = X.shape
    G, Z = ref_gram(kernel, kind, h, X, X)
    Gy, Zy = ref_gram(kernel, kind, h, Y, X)
    Z, Zy = Z.ravel(), Zy.ravel()
    v = vp = np.zeros(n * d)
    w_ = wp = np.zeros(Y.size)
    for t in range(1, n_iter + 1):
        u = 0.0 if t == 1 else ((t - 1) * (2 * t - 3) * (2 * t + 2 * nu - 1)
                                / ((t + 2 * nu - 1) * (2 * t + 4 * nu - 1) * (2 * t + 2 * nu - 3)))
        om = 4 * (2 * t + 2 * nu - 1) * (t + nu - 1) / ((t + 2 * nu - 1) * (2 * t + 4 * nu - 1))
        v_new = v + u * (v - vp) - om / lam_bound * (Z + G @ v)
        w_new = w_ + u * (w_ - wp) - om / lam_bound * (Zy + Gy @ v)
        v, vp, w_, wp = v_new, v, w_new, w_
    return v.reshape(n, d), w_.reshape(Y.shape), G


def rel_err(A, B):
    return np.max(np.abs(A - B)) / np.max(np.abs(B))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((12, 3)) * np.array([1.0, 0.5, 2.0]) + np.array([3.0, -1.0, 0.0])
    Y = X[:4] + 0.3 * rng.standard_normal((4, 3))
    return X, Y


KINDS = ["curl_free", "diagonal"]
KERNELS = ["rbf", "imq"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_divergence_formula_matches_finite_differences(kernel, kind):
    # Independent of the analytic derivatives above: central differences of the block itself.
    rng = np.random.default_rng(3)
    y, x = rng.standard_normal(4), rng.standard_normal(4)
    h, eps = 1.3, 1e-5
    fd = np.zeros(4)
    for l in range(4):
        e = np.zeros(4)
        e[l] = eps
        col = (ref_block(kernel, kind, h, y, x + e)[:, l]
               - ref_block(kernel, kind, h, y, x - e)[:, l]) / (2 * eps)
        fd += col
    np.testing.assert_allclose(ref_div(kernel, kind, h, y, x), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_block_gram_apply_and_divergence(data, kernel, kind):
    X, Y = data
    h = 1.7
    kern = Kernel(kernel, h, BETA)
    from mcmcadapt.score.kernels import sqdist

    gram = BlockGram(kern, kind, Y, X, sqdist(Y, X))
    G, Z = ref_gram(kernel, kind, h, Y, X)
    S = np.random.default_rng(0).standard_normal(X.shape)
    assert rel_err(gram.apply(S), (G @ S.ravel()).reshape(Y.shape)) < 1e-12
    assert rel_err(gram.Z, Z) < 1e-12


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_tikhonov_matches_dense_reference(data, kernel, kind):
    X, Y = data
    h, eta = 1.5, 0.2
    est = Tikhonov(kernel=kernel, bandwidth=h, eta=eta, matrix_kernel=kind, tol=1e-14,
                   max_iter=10_000).fit(X)
    s_ref, out_ref = ref_tikhonov(kernel, kind, h, eta, X, Y)
    assert rel_err(est.gradients(), s_ref) < 1e-10
    assert rel_err(est.gradients(Y), out_ref) < 1e-10
    # The out-of-sample formula reproduces the in-sample estimate at the particles.
    assert rel_err(est.gradients(X), s_ref) < 1e-10


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_numethod_matches_dense_reference(data, kernel, kind):
    X, Y = data
    h = 1.5
    est = NuMethod(kernel=kernel, bandwidth=h, n_iter=15, nu=1.0, matrix_kernel=kind).fit(X)
    v, w, G = ref_numethod(kernel, kind, h, 15, 1.0, X, Y, est.norm_bound_)
    assert rel_err(est.gradients(), v) < 1e-10
    assert rel_err(est.gradients(Y), w) < 1e-10
    assert rel_err(est.gradients(X), v) < 1e-10
    # The step normalisation is a true upper bound of the block Gram's spectrum.
    assert est.norm_bound_ >= np.linalg.eigvalsh(G)[-1] * (1 - 1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_numethod_converges_to_unregularised_solution(kind):
    # With a well-conditioned Gram the in-sample values tend to −𝒦⁻¹Z, the η → 0 limit of
    # Tikhonov. The ν-method's residual polynomials decay algebraically, as t^(−2ν) on the
    # spectrum (they are built for ill-posed problems, not for fast convergence), so with
    # ν = 1 four times the iterations must shrink the error by about 16.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 2)) * 2.0
    h = 0.8
    G, Z = ref_gram("rbf", kind, h, X, X)
    assert np.linalg.cond(G) < 5
    limit = np.linalg.solve(G, -Z.ravel()).reshape(X.shape)
    err = [rel_err(NuMethod(bandwidth=h, n_iter=t, nu=1.0, matrix_kernel=kind).fit(X).gradients(),
                   limit) for t in (100, 400)]
    assert err[1] < 2e-5
    assert err[1] < err[0] / 8


@pytest.mark.parametrize("nu", [0.5, 1.0, 2.5])
def test_numethod_other_qualifications(data, nu):
    X, Y = data
    est = NuMethod(bandwidth=1.5, n_iter=9, nu=nu).fit(X)
    v, w, _ = ref_numethod("rbf", "curl_free", 1.5, 9, nu, X, Y, est.norm_bound_)
    assert rel_err(est.gradients(Y), w) < 1e-10


def test_diagonal_tikhonov_is_exact_stein_in_sample(data):
    from mcmcadapt.score.stein import Stein

    X, _ = data
    for kernel in KERNELS:
        a = Tikhonov(kernel=kernel, bandwidth=1.1, eta=0.05, matrix_kernel="diagonal").fit(X)
        b = Stein(kernel=kernel, bandwidth=1.1, eta=0.05).fit(X)
        assert rel_err(a.gradients(), b.gradients()) < 1e-10


@pytest.mark.parametrize("cls,kw", [(Tikhonov, {"eta": 0.3}), (NuMethod, {"n_iter": 12})])
def test_curl_free_estimate_is_a_gradient_field(cls, kw):
    # The curl-free RKHS holds gradients only, so the Jacobian of ŝ is symmetric.
    rng = np.random.default_rng(8)
    X = rng.standard_normal((40, 3))
    est = cls(**kw).fit(X)
    y, eps = rng.standard_normal(3) * 0.5, 1e-5
    J = np.array([(est.gradients((y + eps * e)[None]) - est.gradients((y - eps * e)[None]))[0]
                  / (2 * eps) for e in np.eye(3)])
    assert np.max(np.abs(J - J.T)) < 1e-7 * np.max(np.abs(J))
    diag = Tikhonov(eta=0.3, matrix_kernel="diagonal").fit(X)
    Jd = np.array([(diag.gradients((y + eps * e)[None]) - diag.gradients((y - eps * e)[None]))[0]
                   / (2 * eps) for e in np.eye(3)])
    # Control: the diagonal kernel's estimate is not constrained to be a gradient.
    assert np.max(np.abs(Jd - Jd.T)) > 1e-4 * np.max(np.abs(Jd))


def test_cg_reports_non_convergence():
    X = np.random.default_rng(2).standard_normal((30, 2))
    with pytest.warns(RuntimeWarning, match="max_iter"):
        est = Tikhonov(eta=1e-3, max_iter=2).fit(X)
    assert est.cg_iterations_ == 2


def test_duplicate_particles_do_not_crash():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 2))
    X[10:] = X[:10]
    for est in (Tikhonov(), Tikhonov(matrix_kernel="diagonal"), NuMethod()):
        G = est.fit(X).gradients()
        assert np.all(np.isfinite(G))
        # Coinciding particles get the same estimate.
        np.testing.assert_allclose(G[10:], G[:10], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "cls,kw,match",
    [
        (Tikhonov, {"eta": 0.0}, "eta"),
        (Tikhonov, {"eta": -1.0}, "eta"),
        (Tikhonov, {"eta": "big"}, "eta"),
        (Tikhonov, {"tol": 0.0}, "tol"),
        (Tikhonov, {"max_iter": 0}, "max_iter"),
        (Tikhonov, {"matrix_kernel": "full"}, "matrix_kernel"),
        (NuMethod, {"n_iter": 0}, "n_iter"),
        (NuMethod, {"n_iter": 2.5}, "n_iter"),
        (NuMethod, {"n_iter": True}, "n_iter"),
        (NuMethod, {"nu": 0.0}, "nu"),
        (NuMethod, {"matrix_kernel": None}, "matrix_kernel"),
    ],
)
def test_bad_hyperparameters(cls, kw, match):
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(HyperparameterError, match=match):
        cls(**kw).fit(X)


def test_auto_selects_from_grid():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((120, 2))
    est = NuMethod(bandwidth="auto", n_iter="auto").fit(X)
    assert est.n_iter_ in NuMethod.auto_grids["n_iter"]
    assert est.selection_["chosen"]["n_iter"] == est.n_iter_
    est = Tikhonov(eta="auto").fit(X)
    assert est.eta_ in Tikhonov.auto_grids["eta"]
