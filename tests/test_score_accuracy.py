"""Accuracy of the non-Stein estimators, with their default hyper-parameters, against analytic
scores: relative MSE mean‖ŝ − s‖² / mean‖s‖² at held-out points (averaged over three seeded
draws) must be small and must fall as the number of particles grows (100 → 800)."""

import numpy as np
import pytest

from mcmcadapt.score.kde import KDE
from mcmcadapt.score.regularized import NuMethod, Tikhonov
from mcmcadapt.score.score_matching import KernelScoreMatching
from mcmcadapt.score.spectral import SSGE

MU = np.array([1.0, -2.0])
SIGMA = np.array([[1.5, 0.8], [0.8, 1.0]])
CHOL = np.linalg.cholesky(SIGMA)
MODES = np.array([[-1.5, 0.0], [1.5, 0.0]])
NU = 5.0


def mixture_score(Y):
    L = -0.5 * np.sum((Y[:, None, :] - MODES[None]) ** 2, axis=2)
    L -= L.max(axis=1, keepdims=True)
    w = np.exp(L)
    w /= w.sum(axis=1, keepdims=True)
    return w @ MODES - Y


DISTRIBUTIONS = {
    # name: (sampler(n, rng), score)
    "std_normal_3d": (lambda n, rng: rng.standard_normal((n, 3)), lambda Y: -Y),
    "correlated_normal": (
        lambda n, rng: MU + rng.standard_normal((n, 2)) @ CHOL.T,
        lambda Y: -np.linalg.solve(SIGMA, (Y - MU).T).T,
    ),
    "mixture": (
        lambda n, rng: MODES[rng.integers(0, 2, size=n)] + rng.standard_normal((n, 2)),
        mixture_score,
    ),
    "student_t5": (
        lambda n, rng: rng.standard_normal((n, 2))
        / np.sqrt(rng.chisquare(NU, size=n) / NU)[:, None],
        lambda Y: -(NU + 2) * Y / (NU + np.sum(Y**2, axis=1, keepdims=True)),
    ),
}

ESTIMATORS = {
    "SSGE": SSGE,
    "KDE": KDE,
    "KernelScoreMatching": KernelScoreMatching,
    "Tikhonov": Tikhonov,
    "NuMethod": NuMethod,
}

# Held-out relative MSE every estimator must reach at n = 800 (the zero estimate scores 1).
# KDE's plug-in score is far less accurate than the others (it estimates a density first, and
# a far-out query of a heavy-tailed target sees only its nearest particle); it gets its own
# requirement: half the error of the zero estimate.
LIMIT = {"KDE": 0.5}
DEFAULT_LIMIT = 0.15
SEEDS = (0, 1, 2)


def rel_mse(S, T):
    return np.mean(np.sum((S - T) ** 2, axis=1)) / np.mean(np.sum(T**2, axis=1))


def errors(cls, dist, n, seed=0):
    sample, score = DISTRIBUTIONS[dist]
    rng = np.random.default_rng([seed, n])
    X, Y = sample(n, rng), sample(500, rng)
    est = cls().fit(X)
    return rel_mse(est.gradients(), score(X)), rel_mse(est.gradients(Y), score(Y))


@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_accuracy_improves_with_n(name, dist):
    cls = ESTIMATORS[name]
    small = np.mean([errors(cls, dist, 100, seed) for seed in SEEDS], axis=0)
    large = np.mean([errors(cls, dist, 800, seed) for seed in SEEDS], axis=0)
    assert large[1] < LIMIT.get(name, DEFAULT_LIMIT), (name, dist, large)
    assert large[1] < 0.8 * small[1], (name, dist, small, large)
    # In-sample estimates improve too (KDE's includes the self term, see its docstring).
    assert large[0] < small[0], (name, dist, small, large)
