"""Meta-training behaviour on a Gaussian target, the entropy term's role, and parameter files."""

import json
import re

import numpy as np
import pytest

from mcmcadapt.errors import HyperparameterError, InputError
from mcmcadapt.meta import (FastLearned, load_sampler, make_entropy_estimator, meta_train,
                            rollout, save_sampler)
from mcmcadapt.models import Model
from mcmcadapt.score.stein import Stein
from mcmcadapt.transitions import MALA

D, SD = 2, 0.5
MU = np.array([1.0, -0.5])


def target():
    """N(MU, SD² I) with its exact Hessian."""
    def lg(X):
        return -0.5 * np.sum((X - MU) ** 2, 1) / SD**2, -(X - MU) / SD**2

    return Model(lg, D, hvp=lambda X, V: -V / SD**2, name="gauss")


def wide_start(n, rng):
    return 2.0 * rng.standard_normal((n, D))


def train(estimator, options=None):
    return meta_train(target(), estimator, transition=FastLearned(hidden=5, zeta=0.02),
                      particles=50, unroll=5, iterations=150, restart_every=5, lr=0.02,
                      init=wide_start, estimator_options=options, seed=0, progress=False)


def simulate(res, phi, steps=60):
    """Population of 400 chains from the wide start after each step (same noise for any φ)."""
    model = target()
    state = res.transition.init(model, wide_start(400, np.random.default_rng(9)))
    return rollout(model, res.transition, phi, state, steps=steps, rng=3).states


def test_stein_trained_sampler_converges_faster_and_keeps_the_spread():
    res = train("stein", {"bandwidth": "median", "eta": 0.01})
    assert np.all(res.history["status"] <= 1)  # ok or clipped, never skipped
    assert np.all(res.history["score_ratio"] > 0.1)  # the entropy term is not negligible here
    before, after = simulate(res, res.phi0), simulate(res, res.phi)
    # after 5 steps the trained population is much closer to the target
    assert after[5].logp.mean() > before[5].logp.mean() + 3.0
    # and it does not collapse: stationary spread within 20% of the target's sd
    sd = after[-1].x.std(axis=0)
    assert np.all(np.abs(sd - SD) < 0.2 * SD), sd
    assert np.all(np.abs(after[-1].x.mean(axis=0) - MU) < 0.15)


def test_map_trained_sampler_collapses_to_an_optimiser():
    """Without the entropy term the KL loss rewards only log p: the noise is trained away."""
    res = train("map")
    np.testing.assert_array_equal(res.history["score_ratio"], 0.0)
    sd = simulate(res, res.phi)[-1].x.std(axis=0)
    assert np.all(sd < 0.2 * SD), sd


def test_history_and_gradient_count():
    res = meta_train(target(), "map", transition=FastLearned(hidden=3, zeta=0.02), particles=4,
                     unroll=3, iterations=4, restart_every=2, init=wide_start, seed=1,
                     progress=False)
    assert res.history["logp"].shape == (4,) and np.all(np.isfinite(res.history["logp"]))
    # 2 restarts × 4 rows + 4 iterations × 3 steps × 4 chains × (1 gradient + 1 analytic HVP)
    assert res.n_grad == 2 * 4 + 4 * 3 * 4 * 2
    assert res.settings["estimator"] == "map" and res.settings["unroll"] == 3


def test_save_load_roundtrip(tmp_path):
    kernel = FastLearned(hidden=4, zeta=3e-5)
    phi = np.random.default_rng(0).standard_normal(kernel.n_params()) * np.pi
    path = save_sampler(tmp_path / "s.json", kernel, phi, {"estimator": "stein", "n": np.int64(3)})
    assert path.stat().st_size < 100_000
    k2, phi2, info = load_sampler(path, batch_size=32)
    np.testing.assert_array_equal(phi2, phi)  # bit for bit
    assert (k2.hidden, k2.zeta, k2.batch_size) == (4, 3e-5, 32)
    assert info == {"estimator": "stein", "n": 3}


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_sampler(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_sampler(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="not a learned-sampler file"):
        load_sampler(bad)
    kernel = FastLearned(hidden=4)
    path = save_sampler(tmp_path / "ok.json", kernel, np.zeros(kernel.n_params()))
    doc = json.loads(path.read_text())
    doc["phi"] = doc["phi"][:-1]
    bad.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="5·hidden"):
        load_sampler(bad)
    with pytest.raises(InputError, match="length"):
        save_sampler(tmp_path / "x.json", kernel, np.zeros(3))
    for phi, shown in ((["0.1"] * kernel.n_params(), "'0.1'"),
                       ([0.0] * (kernel.n_params() - 1) + [[1, 2]], "[1, 2]"),
                       ([True] * kernel.n_params(), "True")):
        bad.write_text(json.dumps({**doc, "phi": phi}))
        with pytest.raises(InputError, match=f"phi must be a list of numbers; found "
                                             f"{re.escape(shown)}"):
            load_sampler(bad)


def test_estimator_and_option_errors():
    est, name = make_entropy_estimator("score_matching", {"eta": 0.5})
    assert name == "ksm" and est.eta == 0.5 and est.bandwidth == "median_log"
    assert make_entropy_estimator(None) == (None, "map")
    stein = Stein()
    assert make_entropy_estimator(stein) == (stein, "Stein")
    with pytest.raises(HyperparameterError, match="unknown estimator"):
        make_entropy_estimator("svgd")
    with pytest.raises(HyperparameterError, match="fit"):
        make_entropy_estimator(object())
    with pytest.raises(HyperparameterError, match="accept/reject"):
        meta_train(target(), "map", transition=MALA(), iterations=1, progress=False)
    with pytest.raises(InputError, match="particles"):
        meta_train(target(), "map", particles=1, iterations=1, progress=False)


def test_review_inputs_are_named(tmp_path):
    import json

    import numpy as np
    import pytest

    from mcmcadapt.errors import HyperparameterError, InputError
    from mcmcadapt.meta import FastLearned, load_sampler, save_sampler
    from mcmcadapt.meta.estimators import make_entropy_estimator
    from mcmcadapt.transitions import make

    kernel = FastLearned(hidden=3, zeta=1e-2)
    phi = np.linspace(-1, 1, 17)
    path = save_sampler(tmp_path / "s.json", kernel, phi)
    with pytest.raises(InputError, match="only learned coordinate-wise kernels"):
        save_sampler(tmp_path / "u.json", make("ula"), np.zeros(17))
    doc = json.loads(path.read_text())
    for change in ({"phi": ["a"] * 17}, {"phi": [[1, 2], [3]]}, {"phi": {"a": 1}},
                   {"phi": [10**400] * 17}):
        (tmp_path / "bad.json").write_text(json.dumps({**doc, **change}))
        with pytest.raises(InputError, match="finite phi values|phi must be a list of numbers"):
            load_sampler(tmp_path / "bad.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    for bad in (tmp_path / "bin.json", tmp_path):
        with pytest.raises(InputError, match="cannot be read: not valid JSON"):
            load_sampler(bad)
    (tmp_path / "int.json").write_text(json.dumps({**doc, "zeta": 1}))
    assert load_sampler(tmp_path / "int.json")[0].zeta == 1.0
    with pytest.raises(HyperparameterError, match="has no option 'foo'"):
        make_entropy_estimator("stein", {"foo": 1})


def test_transition_by_name():
    common = dict(particles=4, unroll=2, iterations=2, restart_every=2, init=wide_start,
                  seed=1, progress=False)
    res = meta_train(target(), "map", transition="sgld", **common)
    assert res.transition.name == "sgld" and res.transition.batch_size == 32
    assert meta_train(target(), "map", transition="ula", **common).transition.name == "ula"
    with pytest.raises(HyperparameterError, match="accept/reject"):
        meta_train(target(), "map", transition="mala", **common)


def test_save_sampler_names_folder_and_non_finite_info(tmp_path):
    kernel = FastLearned(hidden=2, zeta=1e-3)
    phi = np.zeros(kernel.n_params())
    with pytest.raises(InputError, match="is a folder"):
        save_sampler(tmp_path, kernel, phi)
    with pytest.raises(InputError, match="NaN or infinite"):
        save_sampler(tmp_path / "s.json", kernel, phi, {"loss": [1.0, float("nan")]})
    assert not (tmp_path / "s.json").exists()
