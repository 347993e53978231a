"""sample(): DataTree layout, gradient accounting against an independent counter, interrupts."""

import json

import numpy as np
import pytest

import mcmcadapt as ma
from mcmcadapt.errors import InputError
from mcmcadapt.models import Model
from mcmcadapt.models.targets import eight_schools


class Counter:
    """Wraps a batched log density and counts the rows it is called with."""

    def __init__(self, f, interrupt_at=None):
        self.f = f
        self.rows = 0
        self.calls = 0
        self.interrupt_at = interrupt_at

    def __call__(self, X):
        self.calls += 1
        if self.interrupt_at is not None and self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        self.rows += X.shape[0]
        return self.f(X)


def gauss(X):
    scale = np.array([0.5, 1.0, 2.0])
    return -0.5 * np.sum((X / scale) ** 2, axis=1), -X / scale**2


@pytest.fixture(scope="module")
def schools_run():
    """Eight schools (non-centred; named variables, a positive transform), HMC."""
    model = eight_schools(centered=False)
    counter = Counter(model._f)
    counted = Model(counter, 10, names=["mu", "tau", "theta_tilde[8]"], name="schools-counted",
                    transforms={"tau": "positive"})
    result = ma.tune(counted, "hmc", "speed", chains=16, steps=150, seed=0, progress=False,
                     kernel_options={"n_steps": 4, "jitter": True})
    n_tune = counter.rows
    tree = ma.sample(counted, result, chains=3, draws=120, seed=1, progress=False)
    return counted, counter, result, tree, n_tune, counter.rows - n_tune


def test_groups_variables_and_dims(schools_run):
    model, _, result, tree, _, _ = schools_run
    for group in ("posterior", "sample_stats", "warmup_posterior", "warmup_sample_stats",
                  "adaptation"):
        assert group in tree.children, group
    post = tree["posterior"]
    assert set(post.data_vars) == {"mu", "tau", "theta_tilde"}
    assert post["theta_tilde"].dims == ("chain", "draw", "theta_tilde_dim_0")
    assert post["theta_tilde"].shape == (3, 120, 8)
    # index coordinates and provenance, as ArviZ's own converters write them
    np.testing.assert_array_equal(post["theta_tilde_dim_0"].values, np.arange(8))
    for group in ("posterior", "sample_stats", "warmup_posterior", "warmup_sample_stats"):
        assert tree[group].attrs["inference_library"] == "mcmcadapt", group
        assert "created_at" in tree[group].attrs, group
    assert post["tau"].dims == ("chain", "draw")
    assert np.all(post["tau"].values > 0)  # constrained space
    stats = tree["sample_stats"]
    for name in ("acceptance_rate", "step_size", "diverging", "lp", "n_grad", "energy"):
        assert stats[name].dims == ("chain", "draw"), name
    assert stats["diverging"].dtype == bool
    np.testing.assert_allclose(stats["step_size"].values, result.params["step_size"])
    adapt = tree["adaptation"]
    assert adapt.sizes["iteration"] == 150
    for name in ("objective", "acceptance_rate", "step_size", "beta", "param_inv_mass_diag"):
        assert name in adapt.data_vars, name
    assert adapt["param_inv_mass_diag"].dims == ("param_iteration", "inv_mass_diag_dim_0")
    wp = tree["warmup_posterior"]
    assert wp.sizes["chain"] == 4 and wp["theta_tilde"].shape[1] == wp.sizes["draw"]
    attrs = tree.attrs
    assert attrs["kernel"] == "hmc" and attrs["objective"] == "speed"
    assert attrs["model"] == "schools-counted" and attrs["interrupted"] == 0
    assert json.loads(attrs["settings"])["chains"] == 16
    assert "step_size" in json.loads(attrs["params"])


def test_gradient_counts_match_independent_counter(schools_run):
    _, _, result, tree, n_tune, n_sample = schools_run
    assert tree.attrs["n_grad_warmup"] == result.n_grad == n_tune
    assert tree.attrs["n_grad_sampling"] == n_sample
    # sampling starts from the tuned population, so every evaluation is a draw's
    assert int(tree["sample_stats"]["n_grad"].sum()) == n_sample
    assert int(tree["adaptation"]["n_grad"][-1]) <= n_tune


def test_arviz_diagnostics_run_on_output(schools_run):
    import arviz_stats as azs

    tree = schools_run[3]
    ess = azs.ess(tree, method="tail", prob=(0.05, 0.95))
    assert float(ess["mu"]) > 10
    assert float(azs.rhat(tree)["mu"]) < 1.2


def test_arviz_plots_select_by_the_coordinates(schools_run, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import arviz as az
    import matplotlib.pyplot as plt

    az.plot_rank(schools_run[3], var_names=["theta_tilde"])  # failed without index coords
    plt.close("all")


def test_exact_hessian_counts_too():
    counter = Counter(gauss)
    model = Model(counter, 3, name="g3")  # no analytic hvp: central differences (2 rows each)
    # terminal="gradient": every iteration differentiates (the dual-averaged terminal phase
    # needs no VJP)
    result = ma.tune(model, "mala", "speed", chains=8, steps=40, seed=0, progress=False,
                     objective_options={"hessian": "exact", "terminal": "gradient"})
    assert result.n_grad == counter.rows
    assert result.n_grad > 3 * 8 * 40  # step + two-row central-difference HVP per chain


def test_interrupt_keeps_completed_draws():
    counter = Counter(gauss)
    model = Model(counter, 3, name="g3")
    result = ma.tune(model, "mala", "window", chains=8, steps=60, seed=0, progress=False)
    counter.interrupt_at = counter.calls + 26  # the 26th call of sampling raises
    tree = ma.sample(model, result, chains=4, draws=100, seed=1, progress=False)
    assert tree.attrs["interrupted"] == 1
    assert tree["posterior"].sizes["draw"] == 25
    assert tree["sample_stats"]["lp"].shape == (4, 25)
    assert np.all(np.isfinite(tree["posterior"]["x"].values))


def test_model_failure_during_sampling_keeps_draws():
    calls = {"n": 0}

    def f(X):
        calls["n"] += 1
        lp, g = gauss(X)
        if calls["n"] == 500 + 11:
            lp = lp.copy()
            lp[0] = np.nan
        return lp, g

    model = Model(f, 3, name="nan-later")
    result = ma.tune(model, "mala", "window", chains=8, steps=60, seed=0, progress=False)
    calls["n"] = 500
    with pytest.warns(RuntimeWarning, match="sampling stopped"):
        tree = ma.sample(model, result, chains=2, draws=50, seed=1, progress=False)
    assert tree.attrs["interrupted"] == 1 and "nan" in tree.attrs["error"]
    assert tree["posterior"].sizes["draw"] == 10


def test_chains_start_from_tuned_population():
    model = Model(gauss, 3, name="g3")
    result = ma.tune(model, "mala", "window", chains=6, steps=40, seed=0, progress=False)
    tree = ma.sample(model, result, chains=4, draws=1, seed=3, progress=False)
    first = tree["posterior"]["x"].values[:, 0]
    # one MALA step from a population member: within a few step sizes of one of them
    gaps = np.linalg.norm(first[:, None, :] - result.state.x[None], axis=2).min(axis=1)
    assert np.all(gaps < 10 * result.params["step_size"] * 2.0)
    with pytest.warns(RuntimeWarning, match="start at the same point"):
        more = ma.sample(model, result, chains=9, draws=2, seed=3, progress=False)
    assert more["posterior"].sizes["chain"] == 9


def test_mala_has_no_energy_and_bad_arguments():
    model = Model(gauss, 3, name="g3")
    result = ma.tune(model, "mala", "window", chains=4, steps=30, seed=0, progress=False)
    tree = ma.sample(model, result, chains=2, draws=5, seed=0, progress=False)
    assert "energy" not in tree["sample_stats"].data_vars
    with pytest.raises(ValueError, match="positive"):
        ma.sample(model, result, chains=0, progress=False)
    for bad in (2.5, None, float("nan"), True):
        with pytest.raises(InputError, match="draws must be a positive integer"):
            ma.sample(model, result, draws=bad, progress=False)
        with pytest.raises(InputError, match="chains must be a positive integer"):
            ma.sample(model, result, chains=bad, progress=False)
    with pytest.raises(InputError, match="the TuneResult that mcmcadapt.tune returned"):
        ma.sample(model, None, progress=False)
    with pytest.raises(InputError, match="seed must be None"):
        ma.sample(model, result, seed="a", progress=False)
    other = Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 2, name="g2")
    with pytest.raises(ValueError, match="dimension"):
        ma.sample(other, result, progress=False)


def test_import_is_cheap():
    import subprocess
    import sys

    code = ("import sys, mcmcadapt; "
            "bad = [m for m in ('arviz', 'arviz_base', 'arviz_stats', 'xarray', 'matplotlib') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"



def test_sgld_on_full_data_is_said():
    model = Model(lambda X, batch=None: (-0.5 * np.sum(X**2, 1), -X), 2, n_data=50)
    with pytest.warns(RuntimeWarning, match="batch_size=100 covers all 50 data points"):
        r = ma.tune(model, "sgld", "kl", chains=4, steps=3, seed=0, progress=False)
    with pytest.warns(RuntimeWarning, match="covers all 50 data points"):
        ma.sample(model, r, chains=2, draws=3, seed=1, progress=False)
    plain = Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 2)
    with pytest.warns(RuntimeWarning, match="no minibatch support"):
        ma.tune(plain, "sgld", "kl", chains=4, steps=3, seed=0, progress=False,
                kernel_options={"batch_size": 10})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ma.tune(model, "sgld", "kl", chains=4, steps=3, seed=0, progress=False,
                kernel_options={"batch_size": 10})


def test_a_model_error_names_the_users_line_not_the_librarys():
    from mcmcadapt.adaptation.counting import CountingModel
    from mcmcadapt.errors import ModelError

    def lg(X):
        np.linalg.cholesky(-np.eye(2))           # raises inside numpy
        return -0.5 * np.sum(X**2, 1), -X

    line = lg.__code__.co_firstlineno + 1
    with pytest.raises(ModelError, match=rf"LinAlgError.*test_sampling\.py:{line}, in lg\)"):
        CountingModel(Model(lg, 2, name="chol")).logp_and_grad(np.ones((1, 2)))


def test_minibatch_gradients_count_their_share_of_the_data():
    calls = []

    def lg(X, batch=None):
        calls.append((X.shape[0], 1.0 if batch is None else len(batch) / 50))
        return -0.5 * np.sum(X**2, 1), -X

    model = Model(lg, 2, n_data=50)
    r = ma.tune(model, "sgld", "kl", chains=6, steps=8, seed=0, progress=False,
                kernel_options={"batch_size": 10})
    warm = sum(rows * share for rows, share in calls)
    assert r.n_grad_full == pytest.approx(warm) and r.n_grad == sum(c[0] for c in calls)
    assert r.n_grad_full < r.n_grad                          # minibatches among them
    calls.clear()
    tree = ma.sample(model, r, chains=4, draws=30, seed=1, progress=False)
    sampling = sum(rows * share for rows, share in calls)
    assert float(tree.attrs["n_grad_full_sampling"]) == pytest.approx(sampling)
    assert int(tree.attrs["n_grad_sampling"]) == sum(c[0] for c in calls)
    s = ma.summarize(tree)
    assert (s.n_grad_warmup, s.n_grad_sampling) == (round(warm), round(sampling))
    assert s.minibatch_counts and "a minibatch gradient counts its share" in s.to_text()
    bulk = min(s.columns["ess_bulk"])
    assert s.ess_per_grad["ess_bulk"] == pytest.approx(bulk / (round(warm) + round(sampling)))
    # a full-data kernel: the counts are the evaluations, and nothing is said
    full = ma.summarize(ma.sample(model, ma.tune(model, "mala", "speed", chains=6, steps=8,
                                                 seed=0, progress=False),
                                  chains=2, draws=20, seed=1, progress=False))
    assert not full.minibatch_counts and "share of the data" not in full.to_text()


def test_user_frame_skips_every_kind_of_installed_package():
    import traceback

    from mcmcadapt.adaptation.counting import _user_frame

    user = traceback.FrameSummary("/home/me/project/model.py", 12, "lg")
    for lib in ("/root/.local/lib/python3.12/site-packages/numpy/linalg/_linalg.py",
                "/usr/lib/python3/dist-packages/numpy/linalg/_linalg.py",
                np.__file__):
        frames = [user, traceback.FrameSummary(lib, 2000, "cholesky")]
        assert _user_frame(frames) is user, lib
    only_library = [traceback.FrameSummary(np.__file__, 1, "f")]
    assert _user_frame(only_library) is only_library[0] and _user_frame([]) is None
