"""ScoreSurrogateModel: exact log density, the estimator's out-of-sample gradient, and HMC on
it still targets the exact distribution (the accept step uses the exact density)."""

import numpy as np
import pytest

from mcmcadapt.errors import HyperparameterError, InputError
from mcmcadapt.models.targets import banana
from mcmcadapt.score.kde import KDE
from mcmcadapt.score.score_matching import KernelScoreMatching
from mcmcadapt.score.spectral import SSGE
from mcmcadapt.score.stein import Stein
from mcmcadapt.surrogate import ScoreSurrogateModel
from mcmcadapt.transitions import HMC


@pytest.mark.parametrize("make", [lambda: Stein(eta=0.05), lambda: SSGE(),
                                  lambda: KernelScoreMatching(), lambda: KDE()])
def test_gradient_is_the_estimators_and_logp_is_exact(make):
    tgt = banana()
    S = tgt.sample(120, seed=0)
    Y = tgt.sample(33, seed=1)
    model = ScoreSurrogateModel(tgt, make(), S)
    lp, g = model.logp_and_grad(Y)
    np.testing.assert_array_equal(lp, tgt.logp_and_grad(Y)[0])
    np.testing.assert_allclose(g, make().fit(S).gradients(Y), rtol=1e-12, atol=1e-14)
    assert model.dim == 2 and model.name == "surrogate-banana"
    np.testing.assert_array_equal(model.true_mean, tgt.true_mean)


def test_stein_surrogate_equals_refit_on_enlarged_sample():
    """Out-of-sample Stein at y equals the in-sample estimate after refitting on X ∪ {y}
    with the same bandwidth and η (paper Eq. 28), so the surrogate's gradient is that."""
    tgt = banana()
    S = tgt.sample(60, seed=2)
    y = np.array([[3.0, -1.0]])
    model = ScoreSurrogateModel(tgt, Stein(bandwidth=8.0, eta=0.1), S)
    refit = Stein(bandwidth=8.0, eta=0.1).fit(np.vstack([S, y])).gradients()[-1]
    np.testing.assert_allclose(model.logp_and_grad(y)[1][0], refit, rtol=1e-8)


def test_hmc_on_a_poor_surrogate_is_still_exact():
    """A deliberately poor gradient (KDE, tiny bandwidth, 30 samples) lowers acceptance but
    the exact-density accept step keeps N(0, diag(4, 1)) invariant."""
    from mcmcadapt.models import Model

    var = np.array([4.0, 1.0])
    tgt = Model(lambda X: (-0.5 * np.sum(X * X / var, 1), -X / var), 2, name="gauss",
                sampler=lambda n, rng: rng.standard_normal((n, 2)) * np.sqrt(var))
    model = ScoreSurrogateModel(tgt, KDE(bandwidth=0.3), tgt.sample(30, seed=0))
    hmc = HMC(precond="diag", n_steps=5)
    phi = hmc.init_params(model, step_size=0.4)
    rng = np.random.default_rng(1)
    state = hmc.init(model, tgt.sample(300, seed=3))
    draws, acc = [], []
    for t in range(150):
        state, info = hmc.step(model, state, phi, rng)
        acc.append(info.acceptance_rate.mean())
        if t >= 50:
            draws.append(state.x.copy())
    X = np.concatenate(draws)
    assert 0.3 < np.mean(acc) < 0.8  # visibly imperfect (exact gradient: 0.99)
    np.testing.assert_allclose(X.mean(0), 0.0, atol=0.15)
    np.testing.assert_allclose(X.var(0), var, rtol=0.12)


def test_bad_input():
    tgt = banana()
    with pytest.raises(InputError, match="columns"):
        ScoreSurrogateModel(tgt, Stein(), np.zeros((10, 3)))
    with pytest.raises(InputError, match="NaN"):
        ScoreSurrogateModel(tgt, Stein(), np.full((10, 2), np.nan))
    with pytest.raises(HyperparameterError, match="fit"):
        ScoreSurrogateModel(tgt, object(), tgt.sample(10, seed=0))
    with pytest.raises(InputError, match="Model"):
        ScoreSurrogateModel(object(), Stein(), tgt.sample(10, seed=0))


def test_surrogate_keeps_the_target_names_and_rejects_a_class():
    import numpy as np
    import pytest

    from mcmcadapt.errors import HyperparameterError
    from mcmcadapt.models import Model
    from mcmcadapt.score import Stein
    from mcmcadapt.surrogate import ScoreSurrogateModel

    target = Model(lambda X: (-0.5 * np.sum(X**2, 1), -X), 2, names=["mu[2]"], name="g")
    samples = np.random.default_rng(0).standard_normal((100, 2))
    surrogate = ScoreSurrogateModel(target, Stein(), samples)
    assert [(v.name, v.shape) for v in surrogate.variables] == [("mu", (2,))]
    with pytest.raises(HyperparameterError, match="estimator must have fit"):
        ScoreSurrogateModel(target, Stein, samples)


def test_diagnostics_say_the_ksd_is_against_the_estimated_score():
    import mcmcadapt as ma

    tgt = banana()
    model = ScoreSurrogateModel(tgt, Stein(eta=0.05), tgt.sample(200, seed=0))
    r = ma.tune(model, "hmc", "window", chains=8, steps=30, seed=0, progress=False)
    tree = ma.sample(model, r, chains=2, draws=60, seed=1, progress=False)
    line = next(t for t in ma.summarize(tree, model).to_text().splitlines()
                if t.startswith("KSD"))
    assert "estimated score (a surrogate" in line
    exact = ma.summarize(tree, tgt).to_text()
    assert "KSD (IMQ) of the draws vs the model score" in exact
