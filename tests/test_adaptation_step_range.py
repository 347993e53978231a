"""The step-range rule for HMC with a step spread: local step sizes follow the local scale,
the range covers them (plus the exploration margin), and tuning with it reaches the funnel's
neck, which a single dual-averaged step size does not."""

import numpy as np
import pytest

from mcmcadapt.adaptation.step_range import LN2, StepRangeRule, local_step_sizes, step_range
from mcmcadapt.errors import HyperparameterError
from mcmcadapt.models.targets import get, gaussian
from mcmcadapt.transitions import HMC


def test_local_step_sizes_scale_with_the_target():
    # HMC with an identity metric is equivariant under x -> c x, h -> c h: with the step
    # size scaled too, the bisection sees the same acceptances and returns c times the steps
    kernel = HMC("diag", n_steps=4, step_spread=True)
    out = []
    for c in (1.0, 10.0):
        model = gaussian(np.zeros(3), c**2 * np.eye(3))
        X = c * np.random.default_rng(0).standard_normal((16, 3))
        phi = kernel.init_params(model, X, step_size=0.5 * c)
        h, n_grad = local_step_sizes(model, kernel, kernel.init(model, X), phi,
                                     np.random.default_rng(1))
        out.append(h)
        assert n_grad > 0
    np.testing.assert_allclose(out[1], 10.0 * out[0], rtol=1e-9)
    # and on a unit Gaussian the 0.8-acceptance step of 4 leapfrog steps is O(1)
    assert np.all((out[0] > 0.3) & (out[0] < 3.0))


def _funnel_population(n, seed):
    """(model, kernel, state, φ) for n exact funnel10 draws and a spread HMC."""
    model = get("funnel10")
    X = model.sample(n, np.random.default_rng(seed))
    kernel = HMC("diag", n_steps=4, step_spread=True)
    return model, kernel, kernel.init(model, X), kernel.init_params(model, X, step_size=0.1)


def test_local_step_sizes_are_small_in_the_funnels_neck():
    model, kernel, state, phi = _funnel_population(64, 2)
    X = state.x
    h, _ = local_step_sizes(model, kernel, state, phi, np.random.default_rng(2))
    # the lower coordinates' scale is e^{x0/2}: the local step follows it
    rank = np.argsort(np.argsort(X[:, 0])), np.argsort(np.argsort(np.log(h)))
    spearman = np.corrcoef(*rank)[0, 1]
    # measured 0.74–0.89 over seeds 0–7 (momentum noise); a sign error would make it negative
    assert spearman > 0.6
    assert h[X[:, 0] < -3].max() < h[X[:, 0] > 3].min()


def test_step_range_spans_the_quantiles_and_the_margin():
    model, kernel, state, phi = _funnel_population(32, 3)
    h, _ = local_step_sizes(model, kernel, state, phi, np.random.default_rng(4))
    out, _ = step_range(model, kernel, state, phi, np.random.default_rng(4),
                        quantiles=(0.1, 0.9), explore=1.5)
    d = kernel.describe(out)
    lo, hi = np.quantile(np.log(h), (0.1, 0.9))
    extension = 1.5 * np.clip((hi - lo) / LN2 - 1.0, 0.0, 1.0)
    assert extension > 0.0
    assert np.log(d["step_size"]) - d["step_spread"] == pytest.approx(lo - extension * LN2)
    assert np.log(d["step_size"]) + d["step_spread"] == pytest.approx(hi)


def test_step_range_extends_in_proportion_to_the_variation_seen():
    # exact draws of a Gaussian: local steps within about an octave, so little or no extension
    model = gaussian(np.zeros(4), np.eye(4))
    rng = np.random.default_rng(5)
    X = rng.standard_normal((32, 4))
    kernel = HMC("diag", n_steps=4, step_spread=True)
    phi = kernel.init_params(model, X, step_size=0.5)
    state = kernel.init(model, X)
    h, _ = local_step_sizes(model, kernel, state, phi, np.random.default_rng(6))
    lo, hi = np.quantile(np.log(h), (0.05, 0.95))
    seen = (hi - lo) / LN2
    out, _ = step_range(model, kernel, state, phi, np.random.default_rng(6))
    d = kernel.describe(out)
    extension = (lo - (np.log(d["step_size"]) - d["step_spread"])) / LN2
    assert extension == pytest.approx(2.0 * np.clip(seen - 1.0, 0.0, 1.0), abs=1e-9)
    assert extension < 1.0


def test_step_spread_needs_the_n_steps_mode():
    with pytest.raises(HyperparameterError, match="n_steps mode"):
        HMC("diag", trajectory_length=1.0, step_spread=True)
    with pytest.raises(HyperparameterError, match="True or False"):
        HMC("diag", step_spread=0.5)
    kernel = HMC("diag", n_steps=3, step_spread=True)
    phi = kernel.init_params(gaussian(np.zeros(2), np.eye(2)))
    for bad in (-0.1, np.inf, np.nan):
        with pytest.raises(HyperparameterError, match="step spread"):
            kernel.set_step_spread(phi, bad)
    with pytest.raises(HyperparameterError, match="no step spread"):
        HMC("diag", n_steps=3).set_step_spread(phi[:-1], 0.5)


@pytest.mark.parametrize("options,match", [
    ({"accept": 1.0}, "accept"), ({"n_momenta": 0}, "n_momenta"),
    ({"quantiles": (0.9, 0.1)}, "quantiles"), ({"explore": -1.0}, "explore"),
    ({"explore": np.nan}, "explore"),
])
def test_step_range_rejects_bad_options(options, match):
    model, kernel, state, phi = _funnel_population(8, 4)
    with pytest.raises(HyperparameterError, match=match):
        step_range(model, kernel, state, phi, 0, **options)
    with pytest.raises(HyperparameterError, match=match):
        StepRangeRule(100, **options)


def test_local_step_sizes_from_a_seed_draw_distinct_momenta():
    # a seed is turned into one generator: the momentum draws differ (a seed handed to every
    # draw would repeat one draw, and averaging "over momenta" would average nothing)
    model, kernel, state, phi = _funnel_population(16, 5)
    a, _ = local_step_sizes(model, kernel, state, phi, 7, n_momenta=3)
    b, _ = local_step_sizes(model, kernel, state, phi, 7, n_momenta=1)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, local_step_sizes(model, kernel, state, phi, 7)[0])


def test_step_range_needs_a_spread_kernel():
    model = gaussian(np.zeros(2), np.eye(2))
    kernel = HMC("diag", n_steps=3)
    X = np.random.default_rng(0).standard_normal((4, 2))
    with pytest.raises(HyperparameterError, match="step_spread"):
        local_step_sizes(model, kernel, kernel.init(model, X), kernel.init_params(model), 0)


def _funnel_runs(objective, sample=False):
    import mcmcadapt as ma

    model = get("funnel10")
    out = {}
    for spread in (False, True):
        r = ma.tune(model, "hmc", objective, chains=32, steps=300, seed=0, precond="diag",
                    kernel_options={"n_steps": 8, "jitter": True, "step_spread": spread},
                    progress=False)
        idata = ma.sample(model, r, chains=8, draws=1500, seed=5, progress=False) if sample else None
        out[spread] = r, idata
    return out


@pytest.mark.parametrize("objective", ["window", "speed", "kl"])
def test_every_objective_sets_a_step_range(objective):
    out = _funnel_runs(objective)
    p, single = out[True][0].params, out[False][0].params
    assert "step_spread" not in single
    # a range of at least a factor e (measured s 1.05–1.4 at seeds 0, 1), reaching below
    # the single tuned step size (measured 0.04–0.53 of it)
    assert p["step_spread"] > 0.5
    assert p["step_size"] * np.exp(-p["step_spread"]) < 0.8 * single["step_size"]


def test_sampling_with_a_step_range_reaches_the_funnels_neck():
    # P(x0 < −4) = Φ(−4/3) = 0.091 under the target; measured (seeds 0–2, 8 × 1500 draws):
    # 0.000 with one dual-averaged step size, 0.07–0.105 with the step range
    from mcmcadapt.diagnostics import summarize

    out = _funnel_runs("window", sample=True)
    x0 = {k: v[1]["posterior"]["x"].values[..., 0] for k, v in out.items()}
    assert np.mean(x0[False] < -4.0) < 0.01
    assert np.mean(x0[True] < -4.0) > 0.04
    # every draw records its own step, inside the tuned range
    r, idata = out[True]
    steps = idata["sample_stats"]["step_size"].values
    lo = r.params["step_size"] * np.exp(-r.params["step_spread"])
    hi = r.params["step_size"] * np.exp(r.params["step_spread"])
    assert steps.min() >= lo * (1 - 1e-12) and steps.max() <= hi * (1 + 1e-12)
    assert np.quantile(np.log(steps), 0.9) - np.quantile(np.log(steps), 0.1) > 0.5 * (
        np.log(hi) - np.log(lo))  # log-uniform: the middle 80% spans 80% of the range
    # the divergence warning tells the range's large steps from its small ones
    div = idata["sample_stats"]["diverging"].values
    assert div.any()
    n_small = int(np.count_nonzero(div & (steps <= np.median(steps))))
    message = [w.message for w in summarize(idata).warnings if w.kind == "divergences"][0]
    assert f"{n_small} of them at steps in the lower half" in message


@pytest.mark.parametrize("objective", ["window", "speed", "kl"])
def test_objectives_take_step_range_settings(objective):
    """``objective_options={"step_range": {...}}`` reaches the rule each objective builds
    (and its record); bad settings are named when the objective is made."""
    import mcmcadapt as ma
    from mcmcadapt.adaptation.tune import make_objective

    model = get("funnel10")
    settings = {"explore": 6.0, "quantiles": (0.1, 0.9)}
    obj = make_objective(objective, options={"step_range": settings})
    r = ma.tune(model, "hmc", obj, chains=8, steps=10, seed=0, precond="diag",
                kernel_options={"n_steps": 4, "step_spread": True}, progress=False)
    assert {k: obj.range.options[k] for k in settings} == settings
    assert r.settings["objective"]["step_range"] == {"explore": 6.0, "quantiles": [0.1, 0.9]}
    for bad, match in (({"explore": -1.0}, "explore"), ({"widen": 2}, "'widen'.*explore"),
                       ("wide", "dict")):
        with pytest.raises(HyperparameterError, match=match):
            ma.tune(model, "hmc", objective, chains=4, steps=2, progress=False,
                    kernel_options={"step_spread": True},
                    objective_options={"step_range": bad})


@pytest.mark.parametrize("objective", ["window", "speed"])
def test_more_downward_exploration_widens_the_range(objective):
    """On the funnel (more than two octaves of local step sizes, so the whole ``explore``
    margin applies) six octaves of downward exploration end far below none."""
    import mcmcadapt as ma

    model = get("funnel10")
    lows = {}
    for explore in (0.0, 6.0):
        r = ma.tune(model, "hmc", objective, chains=16, steps=100, seed=0, precond="diag",
                    kernel_options={"n_steps": 4, "step_spread": True}, progress=False,
                    objective_options={"step_range": {"explore": explore}})
        lows[explore] = np.log(r.params["step_size"]) - r.params["step_spread"]
    assert lows[6.0] < lows[0.0] - 3.0 * LN2
