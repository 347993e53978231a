"""tune(): window baseline, speed objective, reproducibility, failure handling, interrupts."""

import warnings

import numpy as np
import pytest

import mcmcadapt as ma
from mcmcadapt.adaptation.objective import Objective
from mcmcadapt.adaptation.scales import first_order_entropy, param_scales
from mcmcadapt.adaptation.stan_tools import PopulationMetric, find_reasonable_step_size
from mcmcadapt.errors import HyperparameterError, InputError
from mcmcadapt.models import Model
from mcmcadapt.models.targets import gaussian
from mcmcadapt.transitions import HMC, MALA

SD = np.array([0.1, 0.5, 1.0, 3.0])


@pytest.fixture(scope="module")
def target():
    return gaussian(np.zeros(4), np.diag(SD**2))


def test_window_reaches_target_acceptance_and_learns_variances(target):
    r = ma.tune(target, "mala", "window", chains=32, steps=400, seed=0, progress=False)
    # dual averaging drives the iterates' acceptance to the target during the last window
    terminal = r.history["acceptance_rate"][-50:]
    assert abs(terminal.mean() - 0.574) < 0.05
    np.testing.assert_allclose(r.params["inv_mass_diag"], SD**2, rtol=0.15)
    assert r.objective == "window" and r.n_grad > 32 * 400


def test_speed_grows_tiny_step_size_and_hits_acceptance_target(target):
    r = ma.tune(target, "mala", "speed", chains=32, steps=400, seed=1, progress=False,
                step_size=1e-3, objective_options={"init_step_size": False})
    h = r.history
    assert h["acceptance_rate"][:10].mean() > 0.95  # tiny steps are always accepted
    assert abs(h["acceptance_rate"][-100:].mean() - 0.574) < 0.05
    # the proposal scale per target sd, ε·√M_ii/σ_i, grew from 1e-3 to O(1), evenly
    scaled = r.params["step_size"] * np.sqrt(r.params["inv_mass_diag"]) / SD
    assert np.all(scaled > 0.3) and scaled.max() / scaled.min() < 1.5


def test_speed_gradient_alone_learns_preconditioner_shape(target):
    r = ma.tune(target, "mala", "speed", chains=32, steps=400, seed=2, progress=False,
                objective_options={"population_metric": False})
    scaled = r.params["step_size"] * np.sqrt(r.params["inv_mass_diag"]) / SD
    assert scaled.max() / scaled.min() < 1.3
    assert abs(r.history["acceptance_rate"][-100:].mean() - 0.574) < 0.05


def test_speed_terminal_step_size_is_dual_averaged(target):
    from mcmcadapt.adaptation.stan_tools import DualAveraging, window_schedule

    steps = 400
    r = ma.tune(target, "mala", "speed", chains=32, steps=steps, seed=3, progress=False)
    h = r.history
    last = window_schedule(steps)[-1][1]  # the preconditioner's last reset
    # replay Stan's recursion on the recorded acceptances from the reset's step size
    dual = DualAveraging(0.574, gamma=0.1, centre=1.0)
    dual.restart(h["step_size"][last])
    replay = [dual.update(a) for a in h["acceptance_rate"][last + 1:]]
    np.testing.assert_allclose(h["step_size"][last + 1:], replay, rtol=1e-12)
    assert r.params["step_size"] == pytest.approx(dual.final_step_size, rel=1e-12)
    # before the reset the gradient moved the step size: the recursion does not explain it
    assert not np.allclose(np.diff(np.log(h["step_size"][last - 40:last])), 0.0)
    g = ma.tune(target, "mala", "speed", chains=32, steps=steps, seed=3, progress=False,
                objective_options={"terminal": "gradient"})
    assert not np.allclose(g.history["step_size"][last + 1:], replay, rtol=1e-3)


@pytest.mark.parametrize("objective, name", [("speed", "eight-schools-nc"), ("kl", "neal100")])
def test_tuned_sampler_runs_at_the_target_acceptance(objective, name):
    # measured before the population dual-averaging constants: speed (β-coupled gradient
    # alone after the last window) accepted 0.72 on eight schools; kl (Stan's constants)
    # 0.70–0.75 on neal100, for a 0.574 target
    from mcmcadapt.models.targets import get

    model = get(name)
    r = ma.tune(model, "mala", objective, chains=32, steps=625, seed=0, progress=False)
    tree = ma.sample(model, r, chains=4, draws=2000, seed=1, progress=False)
    acc = float(tree["sample_stats"]["acceptance_rate"].mean())
    assert abs(acc - 0.574) < 0.05


def test_speed_rejects_unknown_terminal(target):
    with pytest.raises(HyperparameterError, match="terminal"):
        ma.tune(target, "mala", "speed", chains=8, steps=10, progress=False,
                objective_options={"terminal": "newton"})


@pytest.mark.parametrize("objective", ["speed", "window"])
def test_reproducible_with_seed(target, objective):
    kw = dict(chains=16, steps=120, progress=False)
    a = ma.tune(target, "mala", objective, seed=7, **kw)
    b = ma.tune(target, "mala", objective, seed=7, **kw)
    c = ma.tune(target, "mala", objective, seed=8, **kw)
    np.testing.assert_array_equal(a.phi, b.phi)
    np.testing.assert_array_equal(a.history["acceptance_rate"], b.history["acceptance_rate"])
    np.testing.assert_array_equal(a.state.x, b.state.x)
    assert a.n_grad == b.n_grad
    assert not np.array_equal(a.phi, c.phi)


def _nan_model(bad_calls):
    """A 2-d Gaussian whose log density is NaN at one particle on the given calls."""
    calls = {"n": 0}

    def f(X):
        calls["n"] += 1
        lp, g = -0.5 * np.sum(X**2, axis=1), -X
        if calls["n"] in bad_calls:
            lp = lp.copy()
            lp[0] = np.nan
        return lp, g

    return Model(f, 2, name="nan-sometimes")


@pytest.mark.parametrize("objective", ["speed", "window"])
def test_nan_target_is_reported_not_propagated(objective):
    model = _nan_model({40, 41, 90})
    with pytest.warns(RuntimeWarning, match="failed"):
        r = ma.tune(model, "mala", objective, chains=8, steps=100, seed=0, progress=False)
    assert np.all(np.isfinite(r.phi))
    assert np.sum(r.history["status"] == 3) >= 2
    assert any("NaN" in m or "nan" in m for m in r.messages)
    for v in r.params.values():
        assert np.all(np.isfinite(v))


def test_persistent_model_failure_raises():
    model = _nan_model(set(range(40, 10_000)))  # after the set-up heuristics
    with pytest.raises(ValueError, match="failed 25 iterations in a row"):
        ma.tune(model, "mala", "speed", chains=8, steps=100, seed=0, progress=False)


class _NaNAtThree(Objective):
    """Plain MALA steps with a made-up gradient that is NaN at iteration 3."""

    name = "nan-at-three"

    def __init__(self):
        self.t = 0

    def update(self, model, transition, state, phi, rng):
        new_state, info = transition.step(model, state, phi, rng)
        grad = np.full(phi.shape, np.nan if self.t == 3 else 0.1)
        self.t += 1
        return new_state, grad, {"objective": 0.0, "acceptance_rate": 1.0, "info": info}


def test_nonfinite_gradient_skipped_and_recorded(target):
    with pytest.warns(RuntimeWarning, match="skipped"):
        r = ma.tune(target, "mala", _NaNAtThree(), chains=4, steps=6, seed=0, progress=False,
                    average=0.0)
    h = r.history
    assert list(h["status"][:5]) == [0, 0, 0, 2, 0]
    eps = h["step_size"]
    assert eps[3] == eps[2] and eps[4] != eps[3]
    assert np.all(np.isfinite(r.phi))


def test_keyboard_interrupt_returns_partial_result():
    calls = {"n": 0}

    def f(X):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return -0.5 * np.sum(X**2, axis=1), -X

    model = Model(f, 3, name="interrupting")
    with pytest.warns(RuntimeWarning, match="interrupted"):
        r = ma.tune(model, "mala", "window", chains=8, steps=100, seed=0, progress=False)
    assert r.interrupted
    assert 0 < len(r.history["acceptance_rate"]) < 100
    assert np.all(np.isfinite(r.phi)) and r.state.x.shape == (8, 3)


def test_bad_arguments(target):
    with pytest.raises(InputError):
        ma.tune(target, chains=1, progress=False)
    with pytest.raises(HyperparameterError, match="unknown objective"):
        ma.tune(target, objective="fast", progress=False)
    with pytest.raises(HyperparameterError):
        ma.tune(target, kernel="nuts", progress=False)
    with pytest.raises(InputError, match="init"):
        ma.tune(target, chains=4, init=np.zeros((3, 4)), progress=False)
    with pytest.raises(HyperparameterError, match="unadjusted"):
        ma.tune(target, kernel="ula", objective="speed", steps=5, progress=False)
    # the estimator is checked when the objective is made, even where (MALA's closed-form
    # entropy) the speed objective would never fit it
    for objective in ("speed", "kl"):
        with pytest.raises(HyperparameterError, match="unknown estimator 'nope'"):
            ma.tune(target, "mala", objective, estimator="nope", steps=2, progress=False)
        with pytest.raises(HyperparameterError, match="stein estimator has no option 'foo'"):
            ma.tune(target, "mala", objective, estimator_options={"foo": 1}, steps=2,
                    progress=False)
        with pytest.raises(HyperparameterError, match="eta must be positive"):
            ma.tune(target, "mala", objective, estimator_options={"eta": -1.0}, steps=2,
                    progress=False)


def test_progress_line_on_request(target, capsys):
    ma.tune(target, "mala", "window", chains=4, steps=30, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "tune mala/window" in err and "30/30" in err


def test_step_size_heuristic_stops_when_the_step_size_no_longer_acts(target):
    # HMC with a trajectory length T: beyond ε ≥ T it takes one step of length T, so the
    # acceptance stops changing; the doubling used to run 60 times (ε ≈ 1e17)
    hmc = HMC("diag", trajectory_length=0.3, jitter=False)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4)) * SD
    state = hmc.init(target, X)
    phi = hmc.init_params(target, X, step_size=0.01)
    eps, n_grad = find_reasonable_step_size(target, hmc, state, phi, rng, threshold=0.0)
    assert 0.3 <= eps <= 1.2 and n_grad < 16 * 200
    # halving from a step size at which every proposal diverges (y = x, unchanged) goes on
    def lg(Z):
        lp, g = -0.5 * np.sum(Z**2, axis=1), -Z
        lp[np.linalg.norm(Z, axis=1) > 5.0] = -np.inf  # outside the support
        return lp, g

    walled = Model(lg, 4, name="walled")
    mala = MALA("diag")
    X = 0.5 * rng.standard_normal((16, 4))
    phi = mala.init_params(walled, X, step_size=1e3)
    eps, _ = find_reasonable_step_size(walled, mala, mala.init(walled, X), phi, rng)
    assert eps < 3.0


@pytest.mark.parametrize("jitter", [False, True])
def test_hmc_step_size_is_capped_by_the_trajectory_length(target, jitter):
    # a step longer than the (longest) trajectory is one step of the trajectory's length, so
    # a step-size controller seeing no effect would push ε without end (measured: 1e13 under
    # the kl objective's dual averaging)
    hmc = HMC("diag", trajectory_length=0.5, jitter=jitter)
    phi = hmc.init_params(target, step_size=0.1)
    longest = 1.0 if jitter else 0.5
    assert hmc.describe(hmc.set_step_size(phi, 10.0))["step_size"] == pytest.approx(longest)
    assert hmc.describe(hmc.set_step_size(phi, 0.2))["step_size"] == pytest.approx(0.2)
    r = ma.tune(target, hmc, "kl", chains=16, steps=150, seed=0, progress=False)
    assert r.params["step_size"] <= (2.0 if jitter else 1.0) * r.params["trajectory_length"]


def test_first_order_entropy_matches_gaussian_closed_form(target):
    """For MALA the forces-fixed entropy is the exact Gaussian one."""
    mala = MALA(precond="dense")
    rng = np.random.default_rng(0)
    phi = rng.normal(size=mala.n_params(4)) * 0.3
    H, g = first_order_entropy(mala, phi)
    H_ref, g_ref = mala.proposal_entropy(phi)
    assert H == pytest.approx(H_ref, rel=1e-12)
    np.testing.assert_allclose(g, g_ref, atol=1e-12)


def test_param_scales_follow_cholesky_rows():
    mala = MALA(precond="dense")
    M = np.array([[4.0, 1.0, 0.0], [1.0, 9.0, 1.0], [0.0, 1.0, 1.0]])
    phi = mala.set_inv_mass(np.zeros(mala.n_params(3)), M)
    s = param_scales(mala, phi)
    rows, _ = np.tril_indices(3, -1)
    np.testing.assert_allclose(s[4:], np.sqrt(np.diag(M) / 3)[rows])
    assert np.all(s[:4] == 1.0)


def test_population_metric_pools_chains():
    rng = np.random.default_rng(3)
    pm = PopulationMetric(200, 2, "diag")
    windows = pm.windows
    out = {}
    for it in range(200):
        M = pm.observe(it, rng.normal(size=(50, 2)) * [1.0, 4.0])
        if M is not None:
            out[it] = M
    assert sorted(out) == [end for _, end in windows]
    start, end = windows[-1]
    n = 50 * (end - start + 1)
    last = out[end]
    assert last[1] / last[0] == pytest.approx(16.0, rel=0.1)
    assert n > 1000


def test_step_size_heuristic_brackets_half_acceptance(target):
    hmc = HMC(precond="diag", n_steps=5)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)) * SD
    state = hmc.init(target, X)
    phi = hmc.init_params(target, step_size=1e-4)
    eps, n_grad = find_reasonable_step_size(target, hmc, state, phi, rng)
    assert n_grad > 0 and 1e-3 < eps < 1.0
    cons, _ = find_reasonable_step_size(target, hmc, state, phi, np.random.default_rng(0),
                                        conservative=True)
    assert cons == pytest.approx(eps / 2) or cons == pytest.approx(eps)



def test_timing_counts_the_model_calls():
    """A model that burns a known amount of thread CPU time per call: the model timing
    (wall and CPU) accumulates at least that per call and never exceeds the total."""
    import time

    from mcmcadapt.adaptation.counting import CountingModel

    burn = 2e-3

    def lg(X):
        t0 = time.thread_time()
        while time.thread_time() - t0 < burn:
            pass
        return -0.5 * np.sum(X * X, 1), -X

    model = Model(lg, 2, name="busy-normal")
    CountingModel(model).logp_and_grad(np.zeros((3, 2)))  # first use compiles the output checks
    counting = CountingModel(model)
    counting.logp_and_grad(np.zeros((3, 2)))
    assert burn <= counting.cpu_seconds < burn + 0.05 and counting.seconds >= burn
    ma.tune(model, "mala", "window", chains=4, steps=2, seed=0, progress=False)  # compiles
    t = ma.tune(model, "mala", "window", chains=4, steps=5, seed=0, progress=False).timing
    assert set(t) == {"total", "model", "kernel", "cpu_total", "cpu_model", "cpu_kernel"}
    assert t["cpu_model"] >= 5 * burn and t["model"] >= 5 * burn  # ≥ one call per iteration
    assert t["cpu_total"] >= t["cpu_model"] + t["cpu_kernel"] and t["cpu_kernel"] >= 0.0
    assert t["total"] >= t["model"] + t["kernel"] and t["kernel"] >= 0.0
    assert t["cpu_kernel"] < 5 * burn  # the model's time (≥ 5 × burn) is not the kernel's


@pytest.mark.parametrize("objective", ["window", "speed", "kl"])
def test_timing_separates_the_kernels_own_work(objective):
    """A kernel whose proposal burns a known CPU time outside the model: ``kernel`` holds
    that time for every move of the population (and not the model's), whatever the
    objective; the step-size searches' extra proposals are the adaptation's, so the kernel
    time stays below all the time outside the model. A reused objective starts from 0."""
    import time

    from mcmcadapt.adaptation.tune import make_objective

    burn = 2e-3

    class SlowMALA(MALA):
        def propose(self, model, state, phi, noise):
            t0 = time.thread_time()
            while time.thread_time() - t0 < burn:
                pass
            return super().propose(model, state, phi, noise)

    model = gaussian(np.zeros(3), np.eye(3))
    ma.tune(model, SlowMALA(), objective, chains=8, steps=2, seed=0, progress=False)  # compiles
    obj = make_objective(objective, "stein", None, None, None)
    for _ in range(2):
        t = ma.tune(model, SlowMALA(), obj, chains=8, steps=6, seed=0, progress=False).timing
        assert 6 * burn <= t["cpu_kernel"] < 6 * burn + 0.05
        assert t["cpu_kernel"] < t["cpu_total"] - t["cpu_model"]
        assert t["kernel"] >= t["cpu_kernel"] - 1e-3


def test_window_lengths_and_option_types_are_checked(target):
    # a window of length 0 never ended (a hang) before it was checked
    for objective, options in (("window", {"base_window": 0}), ("speed", {"buffers": (75, 0, 50)}),
                               ("kl", {"buffers": (75, -1, 50)}), ("speed", {"buffers": (1, 2)}),
                               ("window", {"init_buffer": 2.5})):
        with pytest.raises(HyperparameterError, match="buffers|base_window|init_buffer"):
            ma.tune(target, "mala", objective, steps=50, objective_options=options,
                    progress=False)
    for options, match in (({"target_accept": "high"}, "target_accept must be None"),
                           ({"step_range": {"explore": "a"}}, "step-range settings must be"),
                           ({"step_range": {"quantiles": None}}, "step-range settings must be")):
        with pytest.raises(HyperparameterError, match=match):
            ma.tune(target, "hmc", "window", steps=5, objective_options=options,
                    kernel_options={"step_spread": True, "n_steps": 2}, progress=False)
    with pytest.raises(InputError, match="record_chains must be"):
        ma.tune(target, "mala", "window", steps=5, record_chains=-1, progress=False)
    with pytest.raises(InputError, match="init must be an array"):
        ma.tune(target, "mala", "window", steps=5, init="abc", progress=False)


def test_objective_instances_keep_their_own_settings(target):
    from mcmcadapt.adaptation.window import WindowAdaptation

    obj = WindowAdaptation()
    with pytest.raises(HyperparameterError, match="cannot be applied to an objective instance"):
        ma.tune(target, "mala", obj, steps=5, target_accept=0.9, progress=False)
    with pytest.raises(HyperparameterError, match="options cannot be applied"):
        ma.tune(target, "mala", obj, steps=5, objective_options={"gamma": 0.1}, progress=False)
    # reused for another kernel, an instance resolves that kernel's default target
    a = ma.tune(target, "rwm", obj, chains=8, steps=30, seed=0, progress=False)
    b = ma.tune(target, "hmc", obj, chains=8, steps=30, seed=0, progress=False)
    assert a.settings["objective"]["target_accept"] == 0.234
    assert b.settings["objective"]["target_accept"] == 0.8 and obj.target_accept is None


def test_kl_takes_the_target_acceptance(target):
    r = ma.tune(target, "mala", "kl", chains=16, steps=150, seed=1, target_accept=0.95,
                progress=False)
    assert r.settings["objective"]["target_accept"] == 0.95
    assert np.mean(r.history["acceptance_rate"][-50:]) > 0.85


def test_a_model_that_breaks_down_far_out_shrinks_the_step():
    # NaN beyond |x| > 5 (a numerical breakdown away from the mass): step-size trials and
    # iterations that reach it count as rejections; before, tuning stopped at once (MALA,
    # HMC: the initial step-size search) or after 25 failed iterations (RWM)
    def f(X):
        lp = -0.5 * np.sum(X**2, axis=1)
        lp[np.any(np.abs(X) > 5, axis=1)] = np.nan
        return lp, -X.copy()

    model = Model(f, 2, name="nanfar")
    for kernel, objective in (("mala", "speed"), ("hmc", "window"), ("rwm", "window")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = ma.tune(model, kernel, objective, chains=8, steps=100, seed=0, progress=False)
        assert np.all(np.abs(r.state.x) <= 5), kernel
        # it ends accepting (dual averaging counted the failures as rejections)
        assert np.nanmean(r.history["acceptance_rate"][-20:]) > 0.1, kernel


def test_failed_iterations_shrink_the_step():
    from mcmcadapt.adaptation.objective import Objective
    from mcmcadapt.adaptation.stan_tools import DualAveraging

    kernel = MALA("diag")
    phi = kernel.set_step_size(np.zeros(3), 0.4)
    assert kernel.get_step_size(Objective().failed(kernel, phi)) == pytest.approx(0.2)
    obj = Objective()
    obj.dual = DualAveraging(0.8)
    obj.dual.restart(0.4)
    twin = DualAveraging(0.8)
    twin.restart(0.4)
    assert kernel.get_step_size(obj.failed(kernel, phi)) == pytest.approx(twin.update(0.0))


def test_minibatch_kernel_restarts_its_step_from_full_data_gradients():
    # at a metric reset the step-size heuristic ran on SGLD's minibatch log p against the
    # twin's full-data log p: every trial rejected and the step collapsed to ~1e-39
    from mcmcadapt.models.targets import get

    model = get("logistic-breast-cancer")
    steps = {}
    for bs in (32, None):
        r = ma.tune(model, "sgld", "kl", chains=16, steps=100, seed=0, progress=False,
                    kernel_options={"batch_size": bs, "precond": "diag"})
        steps[bs] = r.params["step_size"]
    assert 0.1 < steps[32] / steps[None] < 10


def test_step_size_search_that_never_accepts_warns():
    from mcmcadapt.adaptation.stan_tools import find_reasonable_step_size
    from mcmcadapt.transitions import MALA

    calls = {"n": 0}

    def sinking(X):  # every call lower than the last: no proposal is ever accepted
        calls["n"] += 1
        return np.full(X.shape[0], -1e4 * calls["n"]), -X

    rng = np.random.default_rng(0)
    model = Model(sinking, 2, name="sinking")
    kernel = MALA("diag")
    state = kernel.init(model, np.zeros((8, 2)))
    with pytest.warns(RuntimeWarning, match="halved the step 60 times"):
        find_reasonable_step_size(model, kernel, state, kernel.init_params(model), rng)


def test_settings_record_the_kernel_that_was_built(target):
    r = ma.tune(target, "mala", "window", chains=8, steps=5, precond=None, progress=False)
    assert r.settings["kernel_options"] == {"precond": "diag"} == r.transition.config()
    r = ma.tune(target, "hmc", "window", chains=8, steps=5, progress=False,
                kernel_options={"n_steps": 3})
    assert r.settings["kernel_options"]["n_steps"] == 3
    assert r.settings["kernel_options"]["jitter"] is True  # tune's default for n_steps HMC


def test_tuning_that_ends_diverging_warns():
    # the learned kernel's network sees raw (x, ∇log p): on a target a million times narrower
    # than where the chains start, its steps blow up (log p falls by > 1000) and are rejected
    narrow = Model(lambda X: (-0.5 * np.sum((X / 1e-6) ** 2, axis=1), -X / 1e-12), 3)
    with pytest.warns(RuntimeWarning, match=r"of the chains' steps in the last 10 iterations "
                                            r"diverged"):
        r = ma.tune(narrow, kernel="learned", objective="kl", chains=16, steps=100, seed=0,
                    progress=False)
    assert r.history["n_bad"][-10:].sum() > 0.5 * 16 * 10
    # the same kernel on a unit-scale target tunes without that warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = ma.tune(Model(lambda X: (-0.5 * np.sum(X**2, axis=1), -X), 3), kernel="learned",
                    objective="kl", chains=16, steps=100, seed=0, progress=False)
    assert r.history["n_bad"].sum() == 0


def test_precond_reaches_every_kernel_that_has_one(target):
    r = ma.tune(target, "sgld", "kl", chains=8, steps=3, precond="dense", progress=False,
                kernel_options={"batch_size": None, "step_size": 1e-3})
    assert r.transition.precond == "dense" and "inv_mass" in r.params
    r = ma.tune(target, "sgld", "kl", chains=8, steps=3, progress=False,
                kernel_options={"batch_size": None, "step_size": 1e-3})
    assert r.transition.precond == "identity"  # SGLD's own default
    r = ma.tune(target, "mala", "window", chains=8, steps=3, progress=False)
    assert r.transition.precond == "diag"
    # kernel options take precedence over the shorthand
    r = ma.tune(target, "mala", "window", chains=8, steps=3, precond="diag", progress=False,
                kernel_options={"precond": "dense"})
    assert r.transition.precond == "dense"
    with pytest.raises(HyperparameterError, match="learned kernel has no preconditioner"):
        ma.tune(target, "learned", "kl", chains=8, steps=3, precond="dense", progress=False)
    with pytest.raises(HyperparameterError, match="build the MALA instance"):
        ma.tune(target, MALA("diag"), "window", chains=8, steps=3, precond="dense",
                progress=False)


def test_warmup_record_of_a_large_model_is_bounded(monkeypatch):
    import importlib

    tune_module = importlib.import_module("mcmcadapt.adaptation.tune")

    monkeypatch.setattr(tune_module, "WARMUP_RECORD_FLOATS", 4 * 50 * 10)
    model = Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 50)
    r = ma.tune(model, "mala", "window", chains=8, steps=100, seed=0, progress=False)
    k, T, d = r.warmup_draws["x"].shape
    assert (k, d) == (4, 50) and k * T * d <= 4 * 50 * 10 and T >= 9
    assert np.all(np.diff(r.warmup_draws["iteration"]) == 10)


def test_phi0_starts_from_given_parameters_and_steps_0_uses_them_as_they_are(target):
    import tempfile
    from pathlib import Path

    from mcmcadapt.meta import load_sampler, save_sampler
    from mcmcadapt.transitions import Learned

    kernel = Learned(hidden=3, zeta=0.05)
    phi = kernel.init_params(target, step_size=0.01)
    path = save_sampler(Path(tempfile.mkdtemp()) / "s.json", kernel, phi)
    loaded, phi_loaded, _ = load_sampler(path)
    r = ma.tune(target, loaded, "kl", chains=6, steps=0, phi0=phi_loaded, seed=0,
                progress=False)
    np.testing.assert_array_equal(r.phi, phi)
    # the start and the gradient check (2 points, each 1 + 2 directions × 2 evaluations)
    assert r.history["acceptance_rate"].shape == (0,) and r.n_grad == 6 + 10
    tree = ma.sample(target, r, chains=3, draws=20, seed=1, progress=False)
    assert tree["posterior"].sizes["draw"] == 20 and tree.attrs["n_grad_warmup"] == 16
    # with steps, tuning continues from phi0 (the learned kernel's weights move from there)
    r2 = ma.tune(target, loaded, "kl", chains=6, steps=5, phi0=phi_loaded, seed=0,
                 progress=False)
    assert 0 < np.max(np.abs(r2.phi - phi)) < 0.5
    with pytest.raises(InputError, match="0 only with phi0"):
        ma.tune(target, "mala", "window", chains=6, steps=0, progress=False)
    with pytest.raises(ValueError, match="phi"):
        ma.tune(target, loaded, "kl", chains=6, steps=0, phi0=phi[:-1], progress=False)


def test_phi0_step_size_is_replaced_by_the_heuristic_unless_kept():
    model = Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 5)
    mala = ma.transitions.make("mala")
    phi = mala.set_step_size(mala.init_params(model), 1e-4)     # far below N(0, I)'s ~1
    fresh = ma.tune(model, "mala", "speed", chains=8, steps=3, seed=0, progress=False,
                    phi0=phi)
    kept = ma.tune(model, "mala", "speed", chains=8, steps=3, seed=0, progress=False,
                   phi0=phi, objective_options={"init_step_size": False})
    assert fresh.history["step_size"][0] > 0.1
    assert kept.history["step_size"][0] == pytest.approx(1e-4, rel=0.1)


def test_a_wrong_gradient_is_named_before_tuning():
    def wrong_sign(X):
        return -0.5 * np.sum(X**2, 1), X

    def missing_term(X):                      # the gradient forgets the 0.1·x₀³ term
        g = -X.copy()
        return -0.5 * np.sum(X**2, 1) - 0.025 * X[:, 0] ** 4, g

    for lg in (wrong_sign, missing_term):
        with pytest.warns(RuntimeWarning, match="gradient disagrees with finite differences"):
            r = ma.tune(Model(lg, 3), "mala", "speed", chains=4, steps=2, seed=0,
                        progress=False, init=np.full(3, 1.5))
        assert r.n_grad > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # a correct gradient: nothing said
        ma.tune(Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 3), "mala", "speed", chains=4,
                steps=2, seed=0, progress=False)


def test_directional_gradient_check_measures_and_names_bad_input():
    from mcmcadapt.models.checks import directional_gradient_error

    model = Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 3)
    X = np.random.default_rng(1).standard_normal((2, 3))
    assert directional_gradient_error(model, X, np.random.default_rng(0)) < 1e-8
    flipped = Model(lambda X: (-0.5 * np.sum(X**2, 1), X), 3)
    assert directional_gradient_error(flipped, X, np.random.default_rng(0)) > 0.1
    for bad, what in ((np.ones(3), "2-D"), (np.ones((2, 4)), "columns"),
                      (np.full((2, 3), np.nan), "NaN")):
        with pytest.raises(InputError, match=what):
            directional_gradient_error(model, bad, np.random.default_rng(0))
