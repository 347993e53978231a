"""Dual averaging, Welford and the window schedule against slow reference implementations."""

import math

import numpy as np
import pytest

from mcmcadapt.adaptation.stan_tools import DualAveraging, Welford, window_schedule
from mcmcadapt.errors import HyperparameterError


def reference_dual_averaging(eps0, stats, delta=0.8, gamma=0.05, kappa=0.75, t0=10.0,
                             centre=10.0):
    """Hoffman & Gelman (2014) Alg. 5 as Stan writes it (centre 10), one scalar at a time."""
    mu = math.log(centre * eps0)
    s_bar = 0.0
    x_bar = 0.0
    iterates = []
    for m, a in enumerate(stats, start=1):
        a = min(a, 1.0)
        eta = 1.0 / (m + t0)
        s_bar = (1 - eta) * s_bar + eta * (delta - a)
        x = mu - s_bar * math.sqrt(m) / gamma
        w = m ** (-kappa)
        x_bar = (1 - w) * x_bar + w * x
        iterates.append(math.exp(x))
    return iterates, math.exp(x_bar)


@pytest.mark.parametrize("constants", [{}, {"gamma": 0.1, "centre": 1.0}])
def test_dual_averaging_matches_reference(constants):
    rng = np.random.default_rng(0)
    stats = rng.uniform(0.0, 1.2, size=200)  # values above 1 must be clipped
    da = DualAveraging(target=0.65, **constants)
    da.restart(0.3)
    got = [da.update(a) for a in stats]
    ref, ref_final = reference_dual_averaging(0.3, stats, delta=0.65, **constants)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert da.final_step_size == pytest.approx(ref_final, rel=1e-12)


def test_population_dual_averaging_starts_at_the_given_step_size():
    da = DualAveraging.for_population(0.6)
    da.restart(0.3)
    assert da.update(0.6) == pytest.approx(0.3, rel=1e-12)  # on target: stays at μ = log ε
    with pytest.raises(HyperparameterError, match="centre"):
        DualAveraging(centre=0.0)


def test_dual_averaging_treats_nan_as_rejection():
    da = DualAveraging()
    da.restart(1.0)
    e_nan = da.update(np.nan)
    da.restart(1.0)
    e_zero = da.update(0.0)
    assert e_nan == e_zero


def test_dual_averaging_converges_on_monotone_acceptance():
    # acceptance exp(-eps): the fixed point of target 0.8 is eps = -log(0.8)
    da = DualAveraging(target=0.8)
    da.restart(1.0)
    eps = 1.0
    for _ in range(3000):
        eps = da.update(math.exp(-eps))
    assert da.final_step_size == pytest.approx(-math.log(0.8), rel=0.02)


@pytest.mark.parametrize("dense", [False, True])
def test_welford_matches_two_pass_and_is_split_invariant(dense):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(97, 5)) @ rng.normal(size=(5, 5)) + 3.0
    w = Welford(5, dense=dense)
    for chunk in np.array_split(X, [1, 2, 10, 40, 41]):
        w.add(chunk)
    w1 = Welford(5, dense=dense)
    for row in X:
        w1.add(row)
    n = X.shape[0]
    # two-pass reference with explicit sums
    mean = [sum(X[i, j] for i in range(n)) / n for j in range(5)]
    cov = np.empty((5, 5))
    for a in range(5):
        for b in range(5):
            cov[a, b] = sum((X[i, a] - mean[a]) * (X[i, b] - mean[b]) for i in range(n)) / (n - 1)
    expect = cov if dense else np.diag(cov)
    np.testing.assert_allclose(w.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(w.variance(regularize=False), expect, rtol=1e-10)
    np.testing.assert_allclose(w1.variance(regularize=False), expect, rtol=1e-10)
    shrunk = (n / (n + 5.0)) * expect + 1e-3 * (5.0 / (n + 5.0)) * (np.eye(5) if dense else 1.0)
    np.testing.assert_allclose(w.variance(), shrunk, rtol=1e-10)
    w.reset()
    assert w.n == 0
    with pytest.raises(HyperparameterError):
        w.variance()


def reference_windows(num_warmup, init_buffer=75, base_window=25, term_buffer=50):
    """Stan's windowed_adaptation counters stepped one iteration at a time; returns the
    (start, end) of every slow window (end = iteration after which the metric updates)."""
    if num_warmup < 20:
        return []
    if init_buffer + base_window + term_buffer > num_warmup:
        init_buffer = int(0.15 * num_warmup)
        term_buffer = int(0.1 * num_warmup)
        base_window = num_warmup - (init_buffer + term_buffer)
    size = base_window
    next_window = init_buffer + size - 1
    windows, start = [], None
    for counter in range(num_warmup):
        in_window = init_buffer <= counter < num_warmup - term_buffer
        if in_window and start is None:
            start = counter
        if counter == next_window:
            windows.append((start, counter))
            start = None
            if next_window == num_warmup - term_buffer - 1:
                continue
            size *= 2
            next_window = counter + size
            if next_window != num_warmup - term_buffer - 1:
                if next_window + 2 * size >= num_warmup - term_buffer:
                    next_window = num_warmup - term_buffer - 1
    return windows


@pytest.mark.parametrize("n", [19, 20, 100, 149, 150, 151, 200, 300, 625, 1000, 2000, 5017])
def test_window_schedule_matches_stan_counters(n):
    assert window_schedule(n) == reference_windows(n)


def test_window_schedule_known_case():
    assert window_schedule(1000) == [(75, 99), (100, 149), (150, 249), (250, 449), (450, 949)]
