"""mcmcadapt.diagnostics.summarize on synthetic sampling outputs: the convergence table
against a slow reference written here (Vehtari et al. 2021, explicit loops), the warnings and
their thresholds, sampler statistics, ESS per gradient, predictive quantities, rendering."""

import warnings

import numpy as np
import pytest
from scipy import stats as sps

from mcmcadapt.diagnostics import add_predictive, summarize
from mcmcadapt.errors import InputError, ModelError
from test_diagnostics_synth import ar1_chains, gaussian_model, make_idata


# ---- slow reference implementation (explicit loops) --------------------------------------

def _autocov(x):
    n = len(x)
    m = x.mean()
    return np.array([sum((x[i] - m) * (x[i + t] - m) for i in range(n - t)) / n
                     for t in range(n)])


def _ess(chains):
    """ESS of (M, N) chains with Geyer's initial positive then monotone sequence, Stan style."""
    M, N = chains.shape
    if chains.max() - chains.min() < np.finfo(float).resolution:
        return float(M * N)
    acov = np.array([_autocov(c) for c in chains])
    W = acov[:, 0].mean() * N / (N - 1)
    var_plus = W * (N - 1) / N
    if M > 1:
        var_plus += np.var(chains.mean(axis=1), ddof=1)
    rho = 1.0 - (W - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    kept = np.zeros(N)
    kept[0], kept[1] = rho[0], rho[1]
    t = 1
    even, odd = rho[0], rho[1]
    while t < N - 3 and even + odd > 0:
        even, odd = rho[t + 1], rho[t + 2]
        if even + odd >= 0:
            kept[t + 1], kept[t + 2] = even, odd
        t += 2
    last = t - 2
    if even > 0:
        kept[last + 1] = even
    t = 1
    while t <= last - 2:
        if kept[t + 1] + kept[t + 2] > kept[t - 1] + kept[t]:
            kept[t + 1] = kept[t + 2] = (kept[t - 1] + kept[t]) / 2.0
        t += 2
    tau = -1.0 + 2.0 * kept[: last + 1].sum() + kept[last + 1: last + 2].sum()
    tau = max(tau, 1.0 / np.log10(M * N))
    return M * N / tau


def _split(x):
    half = x.shape[1] // 2
    return np.vstack([x[:, :half], x[:, -half:]])


def _z(x):
    r = sps.rankdata(x, method="average").reshape(x.shape)
    return sps.norm.ppf((r - 3 / 8) / (x.size - 2 * 3 / 8 + 1))


def _rhat(x):
    M, N = x.shape
    B = N * np.var(x.mean(axis=1), ddof=1)
    W = np.mean(np.var(x, axis=1, ddof=1))
    return np.sqrt((B / W + N - 1) / N)


def reference_row(x):
    """mean, sd, mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat of chains x (M, N)."""
    s = _split(x)
    ess_bulk = _ess(_z(s))
    ess_tail = min(_ess(_split((x <= np.quantile(x, p)).astype(float))) for p in (0.05, 0.95))
    r_hat = max(_rhat(_z(s)), _rhat(_z(np.abs(s - np.median(s)))))
    sd = np.std(x, ddof=1)
    mcse_mean = sd / np.sqrt(_ess(s))
    c = x - x.mean()
    evar = (c ** 2).mean()
    mcse_sd = np.sqrt(((c ** 4).mean() - evar ** 2) / _ess(_split(c ** 2)) / evar / 4)
    return {"mean": x.mean(), "sd": sd, "mcse_mean": mcse_mean, "mcse_sd": mcse_sd,
            "ess_bulk": ess_bulk, "ess_tail": ess_tail, "r_hat": r_hat}


# ---- the table ----------------------------------------------------------------------------

def test_table_matches_slow_reference():
    rng = np.random.default_rng(1)
    post = {"mu": ar1_chains(rng, 4, 120, 1, 0.6)[..., 0],
            "theta": ar1_chains(rng, 4, 120, 2, 0.9, offsets=[0, 0, 0, 0.8])}
    s = summarize(make_idata(post))
    assert s.labels == ["mu", "theta[0]", "theta[1]"]
    cols = [post["mu"], post["theta"][..., 0], post["theta"][..., 1]]
    for i, x in enumerate(cols):
        ref = reference_row(x)
        for name, value in ref.items():
            np.testing.assert_allclose(s.columns[name][i], value, rtol=1e-9, err_msg=name)


def test_tail_ess_uses_5_95_quantiles():
    # a chain whose 5% tail mixes slowly: the tail ESS must follow the 5% indicator
    rng = np.random.default_rng(2)
    x = ar1_chains(rng, 4, 150, 1, 0.3)[..., 0]
    s = summarize(make_idata({"a": x}))
    at_11 = min(_ess(_split((x <= np.quantile(x, p)).astype(float))) for p in (0.11, 0.89))
    ref = reference_row(x)["ess_tail"]
    np.testing.assert_allclose(s.columns["ess_tail"][0], ref, rtol=1e-9)
    assert abs(ref - at_11) > 1e-6 * ref  # the two conventions differ on this data


def test_well_mixed_chains_raise_no_warning():
    rng = np.random.default_rng(3)
    post = {"x": rng.standard_normal((4, 400, 3))}
    s = summarize(make_idata(post, energy=rng.standard_normal((4, 400))))
    assert s.ok and s.warnings == []
    assert not s.flagged.any()
    assert np.all(s.columns["r_hat"] < 1.01)
    assert "No warnings" in s.to_text()


def test_rhat_and_ess_warnings_name_the_bad_quantities():
    rng = np.random.default_rng(4)
    good = rng.standard_normal((4, 400))
    stuck = ar1_chains(rng, 4, 400, 1, 0.5, offsets=[0, 0, 0, 3.0])[..., 0]   # one chain off
    slow = ar1_chains(rng, 4, 400, 1, 0.995)[..., 0]                           # ESS tiny
    s = summarize(make_idata({"good": good, "stuck": stuck, "slow": slow}))
    kinds = {w.kind: w for w in s.warnings}
    assert "r_hat" in kinds and "stuck" in kinds["r_hat"].labels
    assert "good" not in kinds["r_hat"].labels
    assert "ess" in kinds and "slow" in kinds["ess"].labels and "good" not in kinds["ess"].labels
    assert list(s.flagged) == [False, True, True]
    # the ESS threshold is 100 per chain, on both bulk and tail ESS
    ess_min = np.minimum(s.columns["ess_bulk"], s.columns["ess_tail"])
    assert np.array_equal(s.flagged, (s.columns["r_hat"] > 1.01) | (ess_min < 400))


def test_thresholds_are_parameters():
    rng = np.random.default_rng(5)
    x = ar1_chains(rng, 4, 300, 1, 0.8)[..., 0]
    s = summarize(make_idata({"x": x}))
    ess = min(s.columns["ess_bulk"][0], s.columns["ess_tail"][0])
    lo = summarize(make_idata({"x": x}), ess_per_chain_min=np.floor(ess / 4) - 1)
    hi = summarize(make_idata({"x": x}), ess_per_chain_min=np.ceil(ess / 4) + 1)
    assert "ess" not in {w.kind for w in lo.warnings}
    assert "ess" in {w.kind for w in hi.warnings}


def test_divergences_counted_and_any_warns():
    rng = np.random.default_rng(6)
    post = {"x": rng.standard_normal((4, 200))}
    div = np.zeros((4, 200), bool)
    div[2, 17] = True
    s = summarize(make_idata(post, diverging=div))
    assert s.divergences == 1
    assert [w.kind for w in s.warnings] == ["divergences"]
    s0 = summarize(make_idata(post))
    assert s0.divergences == 0 and s0.ok


def test_acceptance_is_mean_of_sample_stats():
    rng = np.random.default_rng(7)
    acc = rng.uniform(size=(3, 100))
    s = summarize(make_idata({"x": rng.standard_normal((3, 100))}, acceptance=acc))
    np.testing.assert_allclose(s.acceptance, acc.mean())
    np.testing.assert_allclose(s.acceptance_per_chain, acc.mean(axis=1))


def test_ebfmi_matches_definition_and_warns_when_low():
    rng = np.random.default_rng(8)
    iid = rng.standard_normal((4, 300))
    walk = np.cumsum(0.05 * rng.standard_normal((4, 300)), axis=1)   # energy barely moves
    energy = np.vstack([iid[:3], walk[:1]])
    s = summarize(make_idata({"x": rng.standard_normal((4, 300))}, energy=energy))
    ref = [sum((e[t] - e[t - 1]) ** 2 for t in range(1, len(e))) / sum((e - e.mean()) ** 2)
           for e in energy]
    np.testing.assert_allclose(s.ebfmi, ref, rtol=1e-10)
    w = [w for w in s.warnings if w.kind == "ebfmi"]
    assert len(w) == 1 and "[3]" in w[0].message
    assert summarize(make_idata({"x": iid})).ebfmi is None   # no energy: not computed


def test_ess_per_gradient_counts_warmup():
    rng = np.random.default_rng(9)
    post = {"a": rng.standard_normal((4, 200)),
            "b": ar1_chains(rng, 4, 200, 1, 0.7)[..., 0]}
    s = summarize(make_idata(post, n_grad_per_draw=5, n_grad_warmup=9000))
    total = 9000 + 4 * 200 * 5
    assert s.n_grad == total
    i = int(np.argmin(s.columns["ess_bulk"]))
    assert s.ess_per_grad["ess_bulk_label"] == s.labels[i] == "b"
    np.testing.assert_allclose(s.ess_per_grad["ess_bulk"], s.columns["ess_bulk"][i] / total)
    np.testing.assert_allclose(s.ess_per_grad["ess_tail"],
                               s.columns["ess_tail"].min() / total)
    assert s.ess_per_grad["warmup_counted"]


def test_ess_per_gradient_falls_back_to_sample_stats_counts():
    rng = np.random.default_rng(10)
    idata = make_idata({"a": rng.standard_normal((2, 100))}, n_grad_per_draw=4)
    for key in ("n_grad_warmup", "n_grad_sampling"):
        del idata.attrs[key]
    s = summarize(idata)
    # the warm-up draws keep a few thinned chains of the population: they do not count the
    # warm-up, so without the adaptation record's cumulative count it is unknown
    assert s.n_grad_sampling == 2 * 100 * 4 and s.n_grad_warmup is None
    assert not s.ess_per_grad["warmup_counted"]
    np.testing.assert_allclose(s.ess_per_grad["ess_bulk"], s.columns["ess_bulk"][0] / 800)
    import xarray as xr

    adapt = idata["adaptation"].to_dataset()
    counts = np.cumsum(np.full(adapt.sizes["iteration"], 64 * 3))
    idata["adaptation"] = xr.DataTree(adapt.assign(n_grad=("iteration", counts)))
    s = summarize(idata)
    assert s.n_grad_warmup == counts[-1] and s.ess_per_grad["warmup_counted"]
    np.testing.assert_allclose(s.ess_per_grad["ess_bulk"],
                               s.columns["ess_bulk"][0] / (800 + counts[-1]))


def test_one_chain_has_no_rhat_but_still_summarises():
    rng = np.random.default_rng(11)
    s = summarize(make_idata({"x": rng.standard_normal((1, 300))}))
    assert np.isnan(s.columns["r_hat"][0])
    assert "r_hat" not in {w.kind for w in s.warnings}
    assert "n/a" in s.to_text() and "needs at least 2" in s.to_text()


def test_interrupted_run_is_said():
    rng = np.random.default_rng(12)
    s = summarize(make_idata({"x": rng.standard_normal((4, 100))}, attrs={"interrupted": 1}))
    assert s.run["interrupted"]
    assert any(w.kind == "interrupted" and "100 draws" in w.message for w in s.warnings)
    assert not any("resume" in w.message for w in s.warnings)  # no sampler state to resume
    s = summarize(make_idata({"x": rng.standard_normal((4, 100))},
                             attrs={"interrupted": 1, "transition": "{}"}))
    assert any(w.kind == "interrupted" and "mcmcadapt resume IDATA.nc" in w.message
               for w in s.warnings)


def test_bad_input_errors():
    import xarray as xr

    with pytest.raises(InputError, match="DataTree"):
        summarize(np.zeros((4, 100)))
    with pytest.raises(InputError, match="posterior"):
        summarize(xr.DataTree())
    rng = np.random.default_rng(13)
    with pytest.raises(InputError, match="at least 4"), pytest.warns(UserWarning, match="chain"):
        summarize(make_idata({"x": rng.standard_normal((4, 3))}, with_warmup=False))


# ---- predictive quantities ----------------------------------------------------------------

def test_predictive_group_replaces_parameters():
    rng = np.random.default_rng(14)
    model = gaussian_model(3, names=["w[3]"])
    w = rng.standard_normal((4, 200, 3))
    idata = make_idata({"w": w})

    def quantities(X):
        return {"sumsq": np.sum(X * X, axis=1), "probs": 1 / (1 + np.exp(-X[:, :2]))}

    out = add_predictive(idata, model, quantities=quantities, reason="symmetry")
    assert "predictive" not in idata.children        # the input is left alone
    pred = out["predictive"].to_dataset()
    np.testing.assert_allclose(pred["sumsq"].values, np.sum(w * w, axis=2))
    np.testing.assert_allclose(pred["probs"].values, 1 / (1 + np.exp(-w[..., :2])))
    s = summarize(out)
    assert s.source == "predictive" and s.note == "symmetry"
    assert s.labels == ["sumsq", "probs[0]", "probs[1]"]
    np.testing.assert_allclose(s.columns["mean"][1], np.mean(1 / (1 + np.exp(-w[..., 0]))))
    assert "symmetry" in s.to_text()


def test_predictive_quantities_checked():
    rng = np.random.default_rng(15)
    model = gaussian_model(2)
    idata = make_idata({"x": rng.standard_normal((2, 50, 2))})
    with pytest.raises(InputError, match="predictive_quantities"):
        add_predictive(idata, model)
    with pytest.raises(ModelError, match="shape"):
        add_predictive(idata, model, quantities=lambda X: {"bad": X[:1, 0]})
    with pytest.raises(ModelError, match="not finite"):
        add_predictive(idata, model, quantities=lambda X: {"bad": np.where(X[:, 0] > 0, 1.0,
                                                                           np.nan)})
    other = gaussian_model(2, names=["y[2]"])
    with pytest.raises(InputError, match="lacks variables"):
        add_predictive(idata, other, quantities=lambda X: {"q": X[:, 0]})


# ---- rendering ----------------------------------------------------------------------------

def test_text_shows_worst_rows_first_when_many():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((4, 300, 30))
    x[:, :, 7] = ar1_chains(rng, 4, 300, 1, 0.5, offsets=[0, 0, 0, 2.0])[..., 0]
    s = summarize(make_idata({"x": x}))
    text = s.to_text(max_rows=5)
    table = text.split("\n\n")[1].splitlines()
    assert len(table) == 1 + 5 + 1                      # header, 5 rows, "... more" line
    assert any(line.startswith("x[7]") and line.endswith("!") for line in table)
    assert "25 more quantities" in text
    assert "[r_hat]" in text and "x[7]" in text.split("WARNING [r_hat]")[1]


def test_non_finite_draws_are_named_not_diagnosed():
    x = np.random.default_rng(0).standard_normal((4, 100, 3))
    x[1, 40, 2] = np.nan
    with pytest.raises(InputError, match=r"x\[2\] of group 'posterior' is nan at chain 1, "
                                         r"draw 40 \(1 non-finite values\)"):
        summarize(make_idata({"x": x}))


def test_counts_are_checked():
    from mcmcadapt.report import report

    idata = make_idata({"x": np.random.default_rng(0).standard_normal((2, 50))})
    with pytest.raises(InputError, match="ksd_points must be an integer >= 2"):
        summarize(idata, ksd_points=0)
    with pytest.raises(InputError, match="max_rows must be a positive integer"):
        summarize(idata).to_text(max_rows=0)
    with pytest.raises(InputError, match="max_plots must be a positive integer"):
        report(idata, None, "unused.html", max_plots=0)


def test_thresholds_are_checked():
    idata = make_idata({"x": np.random.default_rng(0).standard_normal((2, 50))})
    for name, value in (("rhat_max", float("nan")), ("ess_per_chain_min", "100"),
                        ("ebfmi_min", -1.0)):
        with pytest.raises(InputError, match=f"{name} must be a finite number"):
            summarize(idata, **{name: value})


def test_quantity_constant_in_every_chain_is_flagged():
    # one common constant: R-hat is 0/0 (NaN), so neither the R-hat nor the ESS check fires
    rng = np.random.default_rng(12)
    post = {"x": rng.standard_normal((4, 300)), "c": np.full((4, 300), 2.5)}
    s = summarize(make_idata(post))
    stuck = [w for w in s.warnings if w.kind == "stuck"]
    assert len(stuck) == 1 and stuck[0].labels == ["c"]
    assert "same value in every draw" in stuck[0].message
    assert list(s.flagged) == [False, True]


def test_frozen_chain_is_named():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 300, 2))
    x[2] = x[2, 0]                                   # chain 2 never leaves its first draw
    s = summarize(make_idata({"x": x}))
    stuck = [w for w in s.warnings if w.kind == "stuck"]
    assert len(stuck) == 1 and "chain(s) [2] never moved" in stuck[0].message
    # in a short run a chain rejecting every proposal can be chance: not called frozen
    short = summarize(make_idata({"x": x[:, :10]}, with_warmup=False))
    assert "stuck" not in {w.kind for w in short.warnings}
    # every chain frozen at one common point: one warning, naming the quantities
    s = summarize(make_idata({"x": np.ones((4, 300, 2))}))
    stuck = [w for w in s.warnings if w.kind == "stuck"]
    assert len(stuck) == 1 and "[0, 1, 2, 3] never moved" in stuck[0].message
    assert stuck[0].labels == ["x[0]", "x[1]"] and s.flagged.all()


def test_huge_rhat_keeps_the_table_aligned():
    x = np.repeat(np.arange(4.0)[:, None], 300, axis=1)  # four frozen chains: R-hat ~ 1e15
    s = summarize(make_idata({"x": x}))
    row = next(line for line in s.to_text().splitlines() if line.startswith("x "))
    assert s.columns["r_hat"][0] > 1e3
    assert row.split()[-2] == f"{s.columns['r_hat'][0]:.3g}" and row.endswith(" !")


def test_ess_per_gradient_of_selected_chains_and_cut_draws():
    rng = np.random.default_rng(15)
    idata = make_idata({"x": rng.standard_normal((4, 200))}, n_grad_per_draw=3,
                       n_grad_warmup=1000)
    full = summarize(idata)
    assert (full.n_grad_warmup, full.n_grad_sampling) == (1000, 4 * 200 * 3)
    two = summarize(idata.isel(chain=[0, 2]))
    assert (two.n_grad_warmup, two.n_grad_sampling) == (1000, 2 * 200 * 3)
    cut = summarize(idata.isel(draw=slice(50, None)))   # burn-in dropped: still paid for
    assert cut.n_grad_sampling == 4 * 200 * 3
    thinned = summarize(idata.isel(draw=slice(None, None, 2)))   # every draw was paid for
    assert thinned.n_grad_sampling == 4 * 200 * 3
    both = summarize(idata.isel(chain=[1], draw=slice(None, None, 4)))
    assert both.n_grad_sampling == 200 * 3


def test_undefined_statistics_are_nan_and_scale_does_not_matter():
    from mcmcadapt.diagnostics import _arviz

    rng = np.random.default_rng(16)
    x = ar1_chains(rng, 4, 300, 1, 0.9)
    binary = np.ones((4, 300, 1))
    binary[0, 100:140] = 0.0                       # 3% zeros: both quantile indicators constant
    draws = np.concatenate([x, 1e-17 * x, np.full((4, 300, 1), 2.5), binary], axis=2)
    conv = _arviz.convergence(draws)
    # a quantity spread over 1e-17 has the same ESS and R-hat, and its MCSE scales with it
    for key in ("ess_bulk", "ess_tail", "r_hat"):
        assert conv[key][1] == pytest.approx(conv[key][0], rel=1e-9), key
    for key in ("mcse_mean", "mcse_sd"):
        assert conv[key][1] == pytest.approx(1e-17 * conv[key][0], rel=1e-9), key
    assert all(np.isnan(conv[key][2]) for key in conv)          # constant: all undefined
    assert np.isnan(conv["ess_tail"][3]) and np.isfinite(conv["ess_bulk"][3])


def test_rank_statistics_of_tied_and_infinite_draws_are_arviz_own():
    import arviz_stats as azs
    from mcmcadapt.diagnostics import _arviz

    rng = np.random.default_rng(18)
    # rounded to one decimal: ties, and pairs that fold onto each other about the median
    counts = np.round(rng.standard_normal((4, 400, 3)) * np.array([1.0, 3.0, 10.0]), 1)
    counts[1] += np.round(rng.random((400, 3)), 1)
    conv = _arviz.convergence(counts)
    ax = dict(chain_axis=0, draw_axis=1)
    np.testing.assert_array_equal(conv["r_hat"], azs.rhat(counts, method="rank", **ax))
    np.testing.assert_array_equal(conv["ess_bulk"], azs.ess(counts, method="bulk", **ax))
    np.testing.assert_array_equal(conv["ess_tail"],
                                  azs.ess(counts, method="tail", prob=(0.05, 0.95), **ax))
    # infinite draws rank where they belong: the statistics of the same order with finite
    # values, also when a 5% quantile falls between two infinities (inf - inf = NaN)
    x = rng.standard_normal((4, 200, 1))
    for c in range(4):                               # a sticky lower tail: 20 draws each
        start = rng.integers(0, 180)
        x[c, start:start + 20, 0] = -np.inf
    stand_in = np.clip(x, -1e300, None)
    with np.errstate(invalid="ignore"):
        conv, same = _arviz.convergence(x), _arviz.convergence(stand_in)
    for key in ("ess_bulk", "ess_tail", "r_hat"):
        assert conv[key][0] == same[key][0] and np.isfinite(conv[key][0]), key
    assert conv["ess_tail"][0] < 200                 # not ArviZ's stand-in, all 800 draws
    assert np.isnan(conv["mcse_mean"][0])            # the mean is undefined
    x[0, 3, 0] = np.inf                              # both infinities: still defined
    conv = _arviz.convergence(x)
    assert all(np.isfinite(conv[key][0]) for key in ("ess_bulk", "ess_tail", "r_hat"))
    assert conv["r_hat"][0] == pytest.approx(same["r_hat"][0], rel=1e-3)
    # MCSE scales with the data far from 1, where squares under- or overflow
    y = rng.standard_normal((4, 200, 1))
    base = _arviz.convergence(y)["mcse_mean"][0]
    for scale in (1e-170, 1e200):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _arviz.convergence(scale * y)["mcse_mean"][0] == pytest.approx(scale * base,
                                                                                rel=1e-9)


def test_no_warnings_claims_only_what_was_checked():
    rng = np.random.default_rng(17)
    one = summarize(make_idata({"x": rng.standard_normal((1, 1000))}))
    passed, skipped = one.checks()
    assert not any("R-hat" in p for p in passed) and any("R-hat" in s for s in skipped)
    text = one.to_text()
    assert "No warnings: bulk and tail ESS" in text and "Not checked: R-hat" in text
    # no divergence record: not claimed
    tree = make_idata({"x": rng.standard_normal((4, 500))})
    del tree["sample_stats"]["diverging"]
    passed, skipped = summarize(tree).checks()
    assert "no divergences" not in passed and any("divergences" in s for s in skipped)
    # a KSD whose trend could not be tested (strongly autocorrelated draws: few kept)
    slow = summarize(make_idata({"x": ar1_chains(rng, 4, 200, 2, 0.995)}), gaussian_model(2))
    assert np.isnan(slow.ksd_trend_z)
    assert "no KSD trend" not in slow.checks()[0] and any("KSD trend" in s
                                                            for s in slow.checks()[1])


def test_interrupted_tuning_is_a_warning():
    rng = np.random.default_rng(18)
    s = summarize(make_idata({"x": rng.standard_normal((4, 400))},
                             attrs={"tuning_interrupted": 1}))
    w = [w for w in s.warnings if w.kind == "interrupted"]
    assert len(w) == 1 and "tuning was interrupted before its 50 iterations" in w[0].message


def test_truncated_table_keeps_flagged_rows_first():
    from mcmcadapt.diagnostics.render import rows_to_show

    rng = np.random.default_rng(19)
    x = rng.standard_normal((4, 300, 40))
    x[:, :, 30:] = 1.0                             # ten constant quantities: flagged, R-hat NaN
    x[:, :, 5] += np.array([0, 0, 0, 0.1])[:, None]   # a mild R-hat excess, maybe unflagged
    s = summarize(make_idata({"x": x}))
    shown = rows_to_show(s, 12)
    assert set(range(30, 40)) <= set(shown) and len(shown) == 12
    assert "flagged first" in s.to_text(max_rows=12)


def test_a_model_with_predictive_quantities_is_diagnosed_on_them():
    from mcmcadapt.models.model import Model

    rng = np.random.default_rng(20)
    model = Model(lambda X: (-0.5 * np.sum(X * X, axis=1), -X), 2, name="gauss")
    model.predictive_quantities = lambda X: {"norm2": np.sum(X * X, axis=1)}
    model.predictive_reason = "the sign of x is not identifiable"
    idata = make_idata({"x": rng.standard_normal((4, 300, 2))})
    s = summarize(idata, model)
    assert s.labels == ["norm2"] and s.source == "predictive"
    flat = idata["posterior"]["x"].values
    np.testing.assert_allclose(s.columns["mean"][0], np.mean(np.sum(flat**2, axis=2)))
    assert summarize(idata).labels == ["x[0]", "x[1]"]   # without the model: the parameters


def test_rhat_just_over_the_threshold_is_not_shown_as_under_it():
    from mcmcadapt.diagnostics.render import cell

    rng = np.random.default_rng(21)
    s = summarize(make_idata({"x": rng.standard_normal((4, 300, 2))}))
    s.columns["r_hat"][:] = [1.0104, 1.0096]
    assert cell(s, "r_hat", 0) == "1.0104" and cell(s, "r_hat", 1) == "1.010"


def test_non_finite_sample_stats_are_named_not_shown_as_nan():
    rng = np.random.default_rng(19)
    acceptance = rng.uniform(0.5, 0.9, (4, 300))
    acceptance[1, 10:13] = np.nan
    energy = rng.standard_normal((4, 300)) + 10.0
    energy[2, 5] = np.inf
    s = summarize(make_idata({"x": rng.standard_normal((4, 300))}, acceptance=acceptance,
                             energy=energy))
    messages = [w.message for w in s.warnings if w.kind == "sample_stats"]
    assert len(messages) == 2
    assert "acceptance_rate holds 3 non-finite value(s) of 1200" in messages[0]
    assert "energy holds 1 non-finite value(s)" in messages[1]
    assert s.acceptance == pytest.approx(np.nanmean(acceptance))
    assert np.isfinite(s.acceptance_per_chain).all() and s.ebfmi is None
    assert "nan" not in s.to_text().lower().replace("n/a", "")


def test_the_acceptance_of_an_unadjusted_kernel_is_explained(tmp_path):
    from mcmcadapt.report import report

    rng = np.random.default_rng(20)
    post = {"x": rng.standard_normal((4, 200))}
    ula = make_idata(post, acceptance=np.ones((4, 200)), attrs={"kernel": "ula"})
    text = summarize(ula).to_text()
    assert "mean acceptance: 1.000 (unadjusted kernel" in text and "invisible to R-hat" in text
    assert "invisible to R-hat" in report(ula, None, tmp_path / "r.html").read_text()
    assert "unadjusted" not in summarize(make_idata(post)).to_text()      # MALA
