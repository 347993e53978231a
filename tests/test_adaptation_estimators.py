"""Amortised search of "auto" score-estimator hyper-parameters across adaptation steps."""

import numpy as np
import pytest

import mcmcadapt as ma
from mcmcadapt.adaptation import KLObjective
from mcmcadapt.adaptation.estimators import Reselecting, amortised
from mcmcadapt.errors import HyperparameterError
from mcmcadapt.models import Model
from mcmcadapt.score import Stein


def populations(n=40, d=3, seed=0):
    """Five populations of different shapes, for which the search picks different η."""
    rng = np.random.default_rng(seed)
    bimodal = np.concatenate([rng.standard_normal((n // 2, d)) - 3,
                              rng.standard_normal((n // 2, d)) + 3])
    return [rng.standard_normal((n, d)), rng.standard_t(2, (n, d)), bimodal,
            rng.uniform(-1, 1, (n, d)), rng.standard_normal((n, d)) * [1, 10, 0.1]]


def test_search_runs_every_k_fits_and_fixed_values_in_between():
    Xs = populations()
    est = amortised(Stein(eta="auto"), 2)
    assert isinstance(est, Reselecting)
    got = [est.fit(X).gradients().copy() for X in Xs]
    assert (est.n_fits, est.n_searches) == (5, 3)  # fits 0, 2 and 4 search
    for t, X in enumerate(Xs):
        searched = Stein(eta="auto").fit(Xs[t - t % 2])
        ref = (searched if t % 2 == 0
               else Stein(eta="auto").clone(**searched.selection_["chosen"]).fit(X))
        np.testing.assert_array_equal(got[t], ref.gradients())
    # at fit 3 the η held from fit 2 is not the one a search there picks, and it shows
    chosen = [Stein(eta="auto").fit(X).selection_["chosen"]["eta"] for X in Xs]
    assert chosen[2] != chosen[3]
    assert not np.allclose(got[3], Stein(eta="auto").fit(Xs[3]).gradients())


def test_no_wrapper_without_auto_settings_or_with_every_one():
    plain = Stein(eta=0.1)
    assert amortised(plain, 25) is plain
    auto = Stein(eta="auto")
    assert amortised(auto, 1) is auto
    with pytest.raises(HyperparameterError, match="reselect_every"):
        amortised(auto, 0)


def test_kl_objective_amortises_the_search_in_tune():
    model = Model(lambda X: (-0.5 * np.sum(X * X, 1), -X), 3, name="std-normal")
    obj = KLObjective(estimator="stein", estimator_options={"eta": "auto"}, reselect_every=4)
    res = ma.tune(model, "ula", obj, chains=16, steps=10, seed=1, progress=False)
    assert (obj._estimator.n_fits, obj._estimator.n_searches) == (10, 3)
    assert res.settings["objective"]["reselect_every"] == 4


def test_held_bandwidth_stays_relative_to_the_median():
    """Between searches the chosen bandwidth is a multiple of each new population's median
    distance, not the grid value taken as an absolute length-scale."""
    from mcmcadapt.score.bandwidth import bandwidth_from_sqdist
    from mcmcadapt.score.kernels import sqdist

    rng = np.random.default_rng(3)
    X0 = rng.standard_normal((40, 3))
    X1 = 10.0 * rng.standard_normal((40, 3))  # ten times wider: the median moves with it
    est = amortised(Stein(bandwidth="auto"), 5)
    est.fit(X0)
    scale = est.selection_["chosen"]["bandwidth"]
    est.fit(X1)
    assert est.bandwidth_ == pytest.approx(scale * bandwidth_from_sqdist(sqdist(X1)), rel=1e-12)
