"""resume(): a saved run continues its chains — draw for draw the uninterrupted run when the
random stream is continued — from memory or NetCDF; kernels rebuild from their config()."""

import json
import warnings

import numpy as np
import pytest

import mcmcadapt as ma
from mcmcadapt import transitions
from mcmcadapt.errors import InputError
from mcmcadapt.models import Model
from mcmcadapt.models.targets import eight_schools

KERNEL_CASES = [
    ("rwm", {}), ("rwm", {"scale": "dense"}), ("mala", {"precond": "dense"}),
    ("ula", {"precond": "diag"}), ("hmc", {"n_steps": 3, "step_spread": True}),
    ("hmc", {"trajectory_length": 1.5, "max_steps": 64}), ("sgld", {"batch_size": None}),
    ("sgld", {"precond": "diag", "step_size": 1e-3}), ("learned", {"hidden": 4, "zeta": 1e-3}),
]


def gauss(X):
    scale = np.array([0.5, 1.0, 2.0])
    return -0.5 * np.sum((X / scale) ** 2, axis=1), -X / scale**2


@pytest.mark.parametrize("name,options", KERNEL_CASES)
def test_config_rebuilds_the_kernel(name, options):
    kernel = transitions.make(name, **options)
    config = kernel.config()
    rebuilt = transitions.make(name, **json.loads(json.dumps(config)))  # as a file stores it
    assert type(rebuilt) is type(kernel) and repr(rebuilt) == repr(kernel)
    model = Model(gauss, 3, name="gauss")
    phi = kernel.init_params(model)
    X = np.random.default_rng(0).standard_normal((4, 3))
    a = kernel.step(model, kernel.init(model, X), phi, np.random.default_rng(1))[0]
    b = rebuilt.step(model, rebuilt.init(model, X), phi, np.random.default_rng(1))[0]
    np.testing.assert_array_equal(a.x, b.x)


def test_learned_config_drops_a_generator_seed():
    kernel = transitions.Learned(seed=np.random.default_rng(3))
    assert kernel.config()["seed"] is None
    assert transitions.Learned(seed=np.int64(5)).config()["seed"] == 5


@pytest.fixture(scope="module")
def tuned():
    model = eight_schools(centered=False)
    result = ma.tune(model, "hmc", "speed", chains=16, steps=60, seed=0, progress=False,
                     kernel_options={"n_steps": 4})
    return model, result


def _assert_same_draws(a, b):
    for group in ("posterior", "sample_stats"):
        assert set(a[group].data_vars) == set(b[group].data_vars)
        for var in a[group].data_vars:
            np.testing.assert_array_equal(a[group][var].values, b[group][var].values,
                                          err_msg=f"{group}/{var}")
        np.testing.assert_array_equal(a[group]["draw"].values, b[group]["draw"].values)


def test_resume_continues_the_uninterrupted_run(tuned):
    model, result = tuned
    full = ma.sample(model, result, chains=3, draws=30, seed=1, progress=False)
    part = ma.sample(model, result, chains=3, draws=12, seed=1, progress=False)
    resumed = ma.resume(model, part, draws=18, progress=False)
    _assert_same_draws(full, resumed)
    assert int(resumed.attrs["draws_requested"]) == 30
    assert json.loads(resumed.attrs["resume_seeds"]) == [None]
    assert int(resumed.attrs["interrupted"]) == 0
    # the sampling counts add up: the resumed part re-evaluates the 3 chains once
    steps = int(resumed["sample_stats"]["n_grad"].sum())
    assert int(resumed.attrs["n_grad_sampling"]) == steps + 3
    assert ma.summarize(resumed).n_grad_sampling == steps + 3    # the report pays them too
    np.testing.assert_array_equal(resumed["sampler_state"]["x"].values,
                                  full["sampler_state"]["x"].values)
    for group in ("warmup_posterior", "adaptation"):  # the tuning record is carried over
        assert resumed[group].to_dataset().identical(part[group].to_dataset())


def test_resume_of_selected_chains_counts_their_share(tuned):
    model, result = tuned
    part = ma.sample(model, result, chains=4, draws=10, seed=2, progress=False)
    paid = int(part.attrs["n_grad_sampling"]) / 2      # two of four chains: half the cost
    resumed = ma.resume(model, part.isel(chain=[1, 3]), draws=5, progress=False)
    after = int(resumed["sample_stats"]["n_grad"].isel(draw=slice(10, None)).sum())
    assert int(resumed.attrs["chains_sampled"]) == 2
    assert ma.summarize(resumed).n_grad_sampling == round(paid) + after + 2


def test_counts_of_a_tree_that_does_not_say_how_many_chains_it_paid_for(tuned):
    import xarray as xr

    model, result = tuned
    tree = ma.sample(model, result, chains=4, draws=10, seed=3, progress=False)
    old = tree.copy()
    del old.attrs["chains_sampled"]                 # written before the attribute existed
    two = old.isel(chain=[1, 3])
    own = int(two["sample_stats"]["n_grad"].sum())  # the kept draws' own counts, not all 4
    assert ma.summarize(two).n_grad_sampling == own
    resumed = ma.resume(model, two, draws=4, progress=False)
    after = int(resumed["sample_stats"]["n_grad"].isel(draw=slice(10, None)).sum())
    assert ma.summarize(resumed).n_grad_sampling == own + after + 2
    # a tree diagnosed on its predictive group alone: the share of the chains kept there
    pred = xr.Dataset({"m": (("chain", "draw"), tree["posterior"]["mu"].values)},
                      coords={"chain": np.arange(4), "draw": np.arange(10)})
    light = xr.DataTree.from_dict({"/": xr.Dataset(attrs=dict(tree.attrs)), "predictive": pred})
    paid = int(tree.attrs["n_grad_sampling"])
    assert ma.summarize(light.isel(chain=[0, 1])).n_grad_sampling == round(paid / 2)
    # chains repeated by selection were not paid for twice
    assert ma.summarize(tree.isel(chain=[0, 0, 1, 1, 2, 2, 3, 3])).n_grad_sampling == paid


def test_resume_from_netcdf_is_the_same(tuned, tmp_path):
    from mcmcadapt.cli import load_idata, save_idata

    model, result = tuned
    part = ma.sample(model, result, chains=2, draws=10, seed=4, progress=False)
    save_idata(part, tmp_path / "part.nc")
    from_file = ma.resume(model, load_idata(tmp_path / "part.nc"), draws=7, progress=False)
    in_memory = ma.resume(model, part, draws=7, progress=False)
    _assert_same_draws(from_file, in_memory)
    save_idata(from_file, tmp_path / "again.nc")  # a resumed tree is itself savable
    again = ma.resume(model, load_idata(tmp_path / "again.nc"), draws=3, progress=False)
    assert again["posterior"].sizes["draw"] == 20
    assert json.loads(again.attrs["resume_seeds"]) == [None, None]


def test_resume_after_an_interrupt_draws_what_is_owed():
    from test_sampling import Counter

    model = Model(Counter(gauss, interrupt_at=25), 3, name="gauss")
    result = ma.tune(Model(gauss, 3, name="gauss"), "mala", "window", chains=8, steps=40,
                     seed=0, progress=False)
    part = ma.sample(model, result, chains=2, draws=50, seed=2, progress=False)
    done = part["posterior"].sizes["draw"]
    assert int(part.attrs["interrupted"]) == 1 and 0 < done < 50
    # the stored positions are the last completed draw's (unconstrained = named here)
    np.testing.assert_array_equal(part["sampler_state"]["x"].values,
                                  part["posterior"]["x"].values[:, -1])
    resumed = ma.resume(model, part, progress=False)
    assert resumed["posterior"].sizes["draw"] == 50
    assert int(resumed.attrs["interrupted"]) == 0
    for var in part["posterior"].data_vars:  # the earlier draws are kept as they were
        np.testing.assert_array_equal(resumed["posterior"][var].values[:, :done],
                                      part["posterior"][var].values)
    with pytest.raises(InputError, match="complete .50 of 50"):
        ma.resume(model, resumed, progress=False)


def test_resume_with_a_seed_starts_a_new_stream(tuned):
    model, result = tuned
    part = ma.sample(model, result, chains=2, draws=5, seed=1, progress=False)
    a = ma.resume(model, part, draws=5, progress=False)
    b = ma.resume(model, part, draws=5, seed=9, progress=False)
    c = ma.resume(model, part, draws=5, seed=9, progress=False)
    assert not np.array_equal(a["posterior"]["mu"].values, b["posterior"]["mu"].values)
    np.testing.assert_array_equal(b["posterior"]["mu"].values, c["posterior"]["mu"].values)
    assert json.loads(b.attrs["resume_seeds"]) == [9]


def test_resume_drops_groups_of_the_earlier_draws(tuned):
    import xarray as xr

    model, result = tuned
    part = ma.sample(model, result, chains=2, draws=5, seed=1, progress=False)
    part["predictive"] = xr.DataTree(xr.Dataset({"y": (("chain", "draw"), np.zeros((2, 5)))}))
    with pytest.warns(RuntimeWarning, match="call mcmcadapt.diagnostics.add_predictive"):
        assert "predictive" not in ma.resume(model, part, draws=2, progress=False).children


def test_resume_recomputes_the_models_predictive_group(tuned):
    from mcmcadapt.diagnostics import add_predictive

    model, result = tuned
    model.predictive_quantities = lambda X: {"s": X.sum(axis=1)}
    try:
        part = add_predictive(ma.sample(model, result, chains=2, draws=5, seed=1,
                                        progress=False), model)
        with warnings.catch_warnings():
            warnings.simplefilter("error")          # the same quantities: nothing is lost
            done = ma.resume(model, part, draws=3, progress=False)
        mine = add_predictive(part, model, quantities=lambda X: {"m": X.max(axis=1)})
        with pytest.warns(RuntimeWarning, match=r"computed by the caller \(m\)"):
            replaced = ma.resume(model, mine, draws=3, progress=False)
        assert set(replaced["predictive"].data_vars) == {"s"}
        # under the model's own name too: the caller's values are not the model's
        same_name = add_predictive(part, model, quantities=lambda X: {"s": X.max(axis=1)})
        with pytest.warns(RuntimeWarning, match=r"computed by the caller \(s\)"):
            ma.resume(model, same_name, draws=3, progress=False)
        older = part.copy()                      # written before the group said its source
        del older["predictive"].attrs["source"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ma.resume(model, older, draws=3, progress=False)
    finally:
        del model.predictive_quantities
    pred = done["predictive"]["s"].values
    assert pred.shape == (2, 8)
    np.testing.assert_array_equal(pred[:, :5], part["predictive"]["s"].values)


def test_resume_errors_name_the_problem(tuned):
    model, result = tuned
    part = ma.sample(model, result, chains=2, draws=5, seed=1, progress=False)
    with pytest.raises(InputError, match="draws must be a positive integer"):
        ma.resume(model, part, draws=0)
    with pytest.raises(InputError, match="dimension 10 but the model has 3"):
        ma.resume(Model(gauss, 3, name="gauss"), part, draws=2)
    bare = part.copy()
    del bare["sampler_state"]
    with pytest.raises(InputError, match="no sampler state"):
        ma.resume(model, bare, draws=2)
    with pytest.raises(InputError, match="no sampler state"):
        ma.resume(model, {"posterior": None}, draws=2)


def test_custom_kernel_without_config_is_sampled_but_not_resumable(tuned):
    model, result = tuned

    class Custom(transitions.HMC):
        def __init__(self, flavour):  # an option it keeps under no attribute
            super().__init__(n_steps=4)

    import dataclasses

    custom = dataclasses.replace(result, transition=Custom("x"))
    tree = ma.sample(model, custom, chains=2, draws=3, seed=1, progress=False)
    assert "transition" not in tree.attrs
    with pytest.raises(InputError, match="no sampler state"):
        ma.resume(model, tree, draws=2)


def _interrupting(model, at, exc=KeyboardInterrupt):
    """``model`` whose ``at``-th call raises ``exc``."""
    calls = {"n": 0}

    def f(X):
        calls["n"] += 1
        if calls["n"] == at:
            raise exc("stopped")
        return model._f(X)

    return Model(f, model.dim, names=["mu", "tau", "theta_tilde[8]"], name=model.name,
                 transforms={"tau": "positive"})


@pytest.mark.parametrize("at", [1, 7, 30])
def test_interrupted_mid_trajectory_then_resumed_equals_the_uninterrupted_run(tuned, at):
    model, result = tuned  # HMC with 4 leapfrog steps: an interrupt lands inside a step
    full = ma.sample(model, result, chains=3, draws=25, seed=1, progress=False)
    part = ma.sample(_interrupting(model, at), result, chains=3, draws=25, seed=1,
                     progress=False)
    assert int(part.attrs["interrupted"]) == 1 and part["posterior"].sizes["draw"] < 25
    _assert_same_draws(full, ma.resume(model, part, progress=False))


def test_a_model_that_raises_keeps_the_draws(tuned):
    model, result = tuned
    with pytest.warns(RuntimeWarning, match="LinAlgError: stopped"):
        part = ma.sample(_interrupting(model, 40, np.linalg.LinAlgError), result, chains=2,
                         draws=50, seed=1, progress=False)
    assert 0 < part["posterior"].sizes["draw"] < 50
    assert "LinAlgError: stopped" in part.attrs["error"]
    full = ma.sample(model, result, chains=2, draws=50, seed=1, progress=False)
    resumed = ma.resume(model, part, progress=False)
    _assert_same_draws(full, resumed)
    assert "error" not in resumed.attrs


def test_resume_after_selecting_chains_or_dropping_burn_in(tuned):
    model, result = tuned
    tree = ma.sample(model, result, chains=3, draws=10, seed=1, progress=False)
    two = ma.resume(model, tree.isel(chain=[0, 2]), draws=4, progress=False)
    assert two["posterior"]["chain"].values.tolist() == [0, 2]
    assert two["posterior"].sizes["draw"] == 14
    assert np.all(np.isfinite(two["posterior"]["theta_tilde"].values))
    later = ma.resume(model, tree.isel(draw=slice(6, None)), draws=5, progress=False)
    assert later["posterior"]["draw"].values.tolist() == list(range(6, 15))
    assert int(later.attrs["draws_requested"]) == 15
    np.testing.assert_array_equal(later["posterior"]["mu"].values[:, 4:],
                                  ma.resume(model, tree, draws=5, progress=False)
                                  ["posterior"]["mu"].values[:, 10:])
    with pytest.raises(InputError, match="ends at draw 4 but the sampler state stands after "
                                         "draw 9"):
        ma.resume(model, tree.isel(draw=slice(0, 5)), draws=2)
    mixed = tree.copy()
    mixed["posterior"] = tree["posterior"].isel(chain=[0, 1])
    with pytest.raises(InputError, match=r"chains \[0, 1\] but the sampler state chains "
                                         r"\[0, 1, 2\]"):
        ma.resume(model, mixed, draws=2)


def test_resume_checks_the_model_variables_and_its_arguments(tuned):
    model, result = tuned
    part = ma.sample(model, result, chains=2, draws=5, seed=1, progress=False)
    other = Model(model._f, 10, name="unnamed")
    with pytest.raises(InputError, match=r"holds variables mu, tau, theta_tilde\[8\] but the "
                                         r"model names x\[10\]"):
        ma.resume(other, part, draws=2)
    for bad in (2.5, "3", True):
        with pytest.raises(InputError, match="draws must be a positive integer"):
            ma.resume(model, part, draws=bad)
    with pytest.raises(InputError, match="seed must be None"):
        ma.resume(model, part, draws=2, seed="a")
    broken = part.copy()
    broken.attrs["transition"] = '{"kernel": "hmc", "options": {"n_steps": "x"}}'
    with pytest.raises(InputError, match="does not describe a kernel"):
        ma.resume(model, broken, draws=2)
    broken.attrs["transition"] = "not json"
    with pytest.raises(InputError, match="does not describe a kernel"):
        ma.resume(model, broken, draws=2)
