"""Reference posterior moments of eight schools (quadrature) and logistic-german (stored
importance-sampling result): checked against a 2-D grid and a prior importance sampler
written here, and against a fresh, smaller importance sampler with its own proposal."""

import json
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.linalg import solve_triangular

from mcmcadapt.datasets import DataNotFoundError, load, shared_data_root
from mcmcadapt.models import targets as T
from mcmcadapt.models.targets.logistic import design_matrix, reference_file, reference_moments

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def _shared_or_skip():
    try:
        return shared_data_root()
    except DataNotFoundError as exc:
        pytest.skip(f"reference data not available: {exc}")


# ---- eight schools ---------------------------------------------------------------------

def _eight_schools_grid():
    """Moments of [mu, log tau, theta, theta_tilde] from a (mu, log tau) grid: theta
    integrated out (y_j | mu, tau ~ N(mu, sigma_j² + tau²)), then theta | mu, tau, y Gaussian
    with precision 1/sigma² + 1/tau² and mean v (y/sigma² + mu/tau²)."""
    mu = np.arange(-35.0, 45.0, 0.1)[:, None, None]
    s = np.arange(-25.0, 10.0, 0.05)[None, :, None]
    tau = np.exp(s)
    # mu prior, HalfCauchy prior on tau, Jacobian of tau = exp(s), theta-marginal likelihood
    logp = (stats.norm.logpdf(mu[..., 0], 0.0, 5.0)
            + stats.halfcauchy.logpdf(tau[..., 0], scale=5.0) + s[..., 0]
            + stats.norm.logpdf(Y, mu, np.sqrt(SIGMA**2 + tau**2)).sum(axis=-1))
    w = np.exp(logp - logp.max())
    w /= w.sum()
    v = 1.0 / (1.0 / SIGMA**2 + 1.0 / tau**2)
    m = v * (Y / SIGMA**2 + mu / tau**2)
    out = {}
    for label, e1, e2 in [
        ("mu", mu[..., 0], mu[..., 0] ** 2),
        ("s", np.broadcast_to(s[..., 0], w.shape), np.broadcast_to(s[..., 0] ** 2, w.shape)),
        ("theta", m, m**2 + v),
        ("theta_tilde", (m - mu) / tau, ((m - mu) / tau) ** 2 + v / tau**2),
    ]:
        wk = w if e1.ndim == 2 else w[..., None]
        mean = np.sum(wk * e1, axis=(0, 1))
        out[label] = (mean, np.sqrt(np.sum(wk * e2, axis=(0, 1)) - mean**2))
    return out


@pytest.mark.parametrize("name, var", [("eight-schools", "theta"),
                                       ("eight-schools-nc", "theta_tilde")])
def test_eight_schools_moments_match_2d_grid(name, var):
    grid = _eight_schools_grid()
    m = T.get(name)
    want_mean = np.concatenate([np.atleast_1d(grid[k][0]) for k in ("mu", "s", var)])
    want_sd = np.concatenate([np.atleast_1d(grid[k][1]) for k in ("mu", "s", var)])
    assert np.max(np.abs(m.true_mean - want_mean) / want_sd) < 1e-7
    np.testing.assert_allclose(m.true_std, want_sd, rtol=1e-7)


def _weighted_z(draws, w, mean, sd):
    """|estimate - truth| / (delta-method standard error), for self-normalised weights w."""
    m = w @ draws
    c2 = (draws - m) ** 2
    s = np.sqrt(w @ c2)
    se_m = np.sqrt((w**2) @ c2)
    se_s = np.sqrt((w**2) @ (c2 - s**2) ** 2) / (2 * s)
    return np.abs(m - mean) / se_m, np.abs(s - sd) / se_s


def test_eight_schools_moments_match_prior_importance_sampling():
    """Exact prior draws of the non-centred vector, weighted by the models' own log
    densities minus the prior (the likelihood), and mapped to the centred vector."""
    rng = np.random.default_rng(8)
    n = 400_000
    mu = 5.0 * rng.standard_normal(n)
    tau = 5.0 * np.abs(rng.standard_cauchy(n))
    tt = rng.standard_normal((n, 8))
    u_nc = np.column_stack([mu, np.log(tau), tt])
    log_prior = (stats.norm.logpdf(mu, 0, 5) + stats.halfcauchy.logpdf(tau, scale=5)
                 + np.log(tau) + stats.norm.logpdf(tt).sum(axis=1))
    nc, c = T.get("eight-schools-nc"), T.get("eight-schools")
    log_w = nc.logp_and_grad(u_nc)[0] - log_prior
    u_c = np.column_stack([mu, np.log(tau), mu[:, None] + tau[:, None] * tt])
    # the centred density of the mapped draws is the prior's minus log|d theta/d theta_tilde|
    log_w_c = c.logp_and_grad(u_c)[0] - (log_prior - 8 * np.log(tau))
    np.testing.assert_allclose(log_w_c - log_w_c.max(), log_w - log_w.max(), atol=1e-8)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    assert 1.0 / np.sum(w**2) > 20_000
    for model, draws in ((nc, u_nc), (c, u_c)):
        z_mean, z_sd = _weighted_z(draws, w, model.true_mean, model.true_std)
        assert z_mean.max() < 4.5 and z_sd.max() < 4.5, (model.name, z_mean, z_sd)


# ---- logistic-german -------------------------------------------------------------------

def _german():
    root = _shared_or_skip()
    ds = load("german", root=root, test_fraction=0.0)
    return T.get("logistic-german", root=root), design_matrix(ds.X_train), ds.y_train


def test_logistic_german_loads_the_stored_reference():
    model, _, _ = _german()
    ref = json.loads(reference_file("german").read_text())
    np.testing.assert_array_equal(model.true_mean, ref["mean"])
    np.testing.assert_array_equal(model.true_std, ref["std"])
    # trusted: IS standard errors small against the posterior sd
    assert ref["ess"] > 1e5
    assert np.max(np.array(ref["mcse_mean"]) / ref["std"]) < 0.005
    assert np.max(np.array(ref["mcse_std"]) / ref["std"]) < 0.005


def test_logistic_german_reference_matches_fresh_importance_sampling():
    """50 000 draws from a Student-t (nu = 4, 1.3 x Laplace) at a mode found by Newton's
    method on the model's gradient and Hessian-vector products. Its standard errors are
    small enough to reject, e.g., the Laplace sds (about 2% off) as the reference."""
    model, _, _ = _german()
    d = model.dim
    b = np.zeros(d)
    for _ in range(12):
        g = model.logp_and_grad(b[None])[1][0]
        H = -model.hvp(np.repeat(b[None], d, axis=0), np.eye(d))
        b = b + np.linalg.solve(0.5 * (H + H.T), g)
    assert np.abs(model.logp_and_grad(b[None])[1]).max() < 1e-8
    L = np.linalg.cholesky(0.5 * (H + H.T))
    rng = np.random.default_rng(4)
    n, nu, scale = 50_000, 4.0, 1.3
    z = rng.standard_normal((n, d))
    g2 = rng.chisquare(nu, n)
    # x = b + scale · L⁻ᵀ t with t a standard multivariate t draw: scale matrix scale² H⁻¹
    x = b + scale * solve_triangular(L, (z * np.sqrt(nu / g2)[:, None]).T, lower=True,
                                     trans="T").T
    log_q = -0.5 * (nu + d) * np.log1p(np.sum(z**2, axis=1) / g2)
    log_w = model.logp_and_grad(x)[0] - log_q
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    assert 1.0 / np.sum(w**2) > 5_000
    ref = json.loads(reference_file("german").read_text())
    m = w @ x
    c2 = (x - m) ** 2
    s = np.sqrt(w @ c2)
    se_m = np.hypot(np.sqrt((w**2) @ c2), ref["mcse_mean"])
    se_s = np.hypot(np.sqrt((w**2) @ (c2 - s**2) ** 2) / (2 * s), ref["mcse_std"])
    assert np.max(np.abs(m - ref["mean"]) / se_m) < 4.5
    assert np.max(np.abs(s - ref["std"]) / se_s) < 4.5


def test_logistic_reference_refused_for_other_data():
    _, design, y = _german()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, sd = reference_moments("german", design, y)
    assert mean.shape == sd.shape == (25,)
    bad = design.copy()
    bad[3, 5] += 1e-3
    flipped = y.copy()
    flipped[10] = 1 - flipped[10]
    for X_, y_ in ((bad, y), (design, flipped), (design[::-1], y[::-1]), (design[:-1], y[:-1])):
        with pytest.warns(UserWarning, match="data differ"):
            assert reference_moments("german", X_, y_) == (None, None)
    # no reference computed for this data set
    assert reference_moments("breast-cancer", design, y) == (None, None)
    assert T.get("logistic-breast-cancer").true_mean is None
