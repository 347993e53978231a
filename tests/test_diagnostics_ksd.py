"""The kernel Stein discrepancy part of the diagnostics: the Stein kernel matrix and its
U-statistic against explicit loops, subsampling per window with one model call, and the
trend warning (stationary draws never warn, independent or autocorrelated, across seeds;
draws still converging, or drifting away, do)."""

import numpy as np
import pytest

from mcmcadapt.diagnostics import summarize
from mcmcadapt.diagnostics.ksd_check import ksd_profile, stein_matrix, u_statistic
from test_diagnostics_synth import ar1_chains, gaussian_model, make_idata

CHAINS, DRAWS, DIM = 4, 400, 2


def imq_stein_kernel(x, y, sx, sy, beta=-0.5):
    """h_p(x, y) for k = (1 + |x-y|^2)^beta, derivatives written out by hand."""
    r = x - y
    u = 1.0 + r @ r
    k = u ** beta
    grad_x = 2 * beta * u ** (beta - 1) * r          # d k / d x
    grad_y = -grad_x
    d = len(x)
    # sum_l d^2 k / dx_l dy_l = -2 beta [d u^(beta-1) + 2 (beta-1) u^(beta-2) |r|^2]
    trace = -2 * beta * (d * u ** (beta - 1) + 2 * (beta - 1) * u ** (beta - 2) * (r @ r))
    return sx @ sy * k + sx @ grad_y + sy @ grad_x + trace


def test_stein_matrix_matches_explicit_loops():
    rng = np.random.default_rng(0)
    X, S = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    ref = np.array([[imq_stein_kernel(X[i], X[j], S[i], S[j]) for j in range(12)]
                    for i in range(12)])
    np.testing.assert_allclose(stein_matrix(X, S), ref, rtol=1e-12, atol=1e-12)


def test_u_statistic_matches_loops_and_is_conservative():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9, 2))
    H = stein_matrix(X, -X)
    u, _ = u_statistic(H)
    ref = sum(H[i, j] for i in range(9) for j in range(9) if i != j) / (9 * 8)
    np.testing.assert_allclose(u, ref, rtol=1e-12)
    # over replicates, the estimated variance is not below the actual variance of U
    us, vs = [], []
    for _ in range(300):
        X = rng.normal(size=(60, 2)) + 0.3        # off-target: non-degenerate U-statistic
        u, v = u_statistic(stein_matrix(X, -X))
        us.append(u)
        vs.append(v)
    assert np.var(us) <= np.mean(vs) <= 4 * np.var(us)


def test_score_ksd_is_the_u_statistic_of_the_stein_matrix():
    from mcmcadapt.score.ksd import ksd_squared

    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3)) + 0.5
    u, _ = u_statistic(stein_matrix(X, -X))
    np.testing.assert_allclose(ksd_squared(X, -X, kernel="imq"), u, rtol=1e-10)


class Counting:
    def __init__(self, model):
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def logp_and_grad(self, X):
        self.calls.append(np.shape(X)[0])
        return self.model.logp_and_grad(X)


def test_profile_one_model_call_with_stride_and_cap():
    rng = np.random.default_rng(3)
    flat = rng.standard_normal((CHAINS, DRAWS, DIM))
    model = Counting(gaussian_model(DIM))
    prof = ksd_profile(flat, model, stride=5, points=50, n_windows=4, seed=1)
    assert model.calls == [200] and list(prof.points) == [50] * 4
    assert prof.window_draws == [(0, 100), (100, 200), (200, 300), (300, 400)]
    wide = ksd_profile(flat, gaussian_model(DIM), stride=10, points=500, n_windows=4)
    assert list(wide.points) == [CHAINS * 100 // 10] * 4
    again = ksd_profile(flat, gaussian_model(DIM), stride=5, points=50, n_windows=4, seed=1)
    assert again.overall == prof.overall and again.trend_z == prof.trend_z


def test_ksd_separates_target_from_a_shifted_sample():
    rng = np.random.default_rng(4)
    model = gaussian_model(DIM)
    good = summarize(make_idata({"x": rng.standard_normal((CHAINS, DRAWS, DIM))}), model)
    bad = summarize(make_idata({"x": rng.standard_normal((CHAINS, DRAWS, DIM)) + 1.0}), model)
    assert bad.ksd > 3 * good.ksd


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rho, draws", [(0.0, DRAWS), (0.9, 2000)])
def test_stationary_draws_never_warn(seed, rho, draws):
    rng = np.random.default_rng(100 + seed)
    x = ar1_chains(rng, CHAINS, draws, DIM, rho)
    s = summarize(make_idata({"x": x}), gaussian_model(DIM), seed=seed)
    assert np.isfinite(s.ksd_trend_z)
    assert abs(s.ksd_trend_z) < s.thresholds["ksd_trend_z"]
    assert "ksd_trend" not in {w.kind for w in s.warnings}


def test_too_few_independent_draws_skip_the_trend_test():
    rng = np.random.default_rng(9)
    x = ar1_chains(rng, CHAINS, DRAWS, DIM, 0.98)
    x[:, :DRAWS // 4] += 3.0                      # a trend the test cannot see with ~4 points
    s = summarize(make_idata({"x": x}), gaussian_model(DIM))
    assert np.all(s.ksd_points < 20) and np.isnan(s.ksd_trend_z)
    assert "ksd_trend" not in {w.kind for w in s.warnings}
    assert "trend z n/a" in s.to_text()


def test_draws_still_converging_warn():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((CHAINS, DRAWS, DIM))
    x[:, :DRAWS // 4] += 1.5 * np.exp(-np.arange(DRAWS // 4) / 60.0)[None, :, None]
    s = summarize(make_idata({"x": x}), gaussian_model(DIM))
    w = [w for w in s.warnings if w.kind == "ksd_trend"]
    assert len(w) == 1 and "falls" in w[0].message and "still approaching" in w[0].message
    assert s.ksd_windows[0] > s.ksd_windows[-1]


def test_draws_drifting_away_warn():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((CHAINS, DRAWS, DIM))
    x[:, -DRAWS // 4:] *= 2.0
    s = summarize(make_idata({"x": x}), gaussian_model(DIM))
    w = [w for w in s.warnings if w.kind == "ksd_trend"]
    assert len(w) == 1 and "rises" in w[0].message


def test_autocorrelated_draws_are_spaced_out():
    rng = np.random.default_rng(7)
    x = ar1_chains(rng, CHAINS, DRAWS, DIM, 0.95)
    s = summarize(make_idata({"x": x}), gaussian_model(DIM))
    n_ind = summarize(make_idata({"x": rng.standard_normal((CHAINS, DRAWS, DIM))}),
                      gaussian_model(DIM)).ksd_points
    assert np.all(s.ksd_points < n_ind / 5)       # AR(1) 0.95: autocorrelation time ~39


def test_ksd_in_text_and_skipped_without_model():
    rng = np.random.default_rng(8)
    idata = make_idata({"x": rng.standard_normal((CHAINS, 100, DIM))})
    assert "KSD (IMQ)" in summarize(idata, gaussian_model(DIM)).to_text()
    s = summarize(idata)
    assert s.ksd is None and "KSD" not in s.to_text()


def test_ksd_that_cannot_be_judged_is_said_so():
    from mcmcadapt.diagnostics.ksd_check import fmt_ksd, ksd_caveat

    assert fmt_ksd(np.nan) == "n/a" and fmt_ksd(0.0) == "≈0" and fmt_ksd(0.0123) == "0.0123"
    assert ksd_caveat(0.5, [50, 50]) == ""
    assert "no discrepancy detectable" in ksd_caveat(0.0, [50, 50])
    assert "only 4 draws kept" in ksd_caveat(0.3, [1, 1, 1, 1])
    # one strongly autocorrelated chain: about one kept draw per window
    rng = np.random.default_rng(9)
    x = ar1_chains(rng, 1, 100, DIM, 0.999)
    s = summarize(make_idata({"x": x}), gaussian_model(DIM))
    line = next(t for t in s.to_text().splitlines() if t.startswith("KSD (IMQ)"))
    assert "too few to judge" in line and "nan" not in line
