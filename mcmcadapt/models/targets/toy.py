"""Analytic non-Gaussian targets: Neal's funnel, the banana, a bimodal Gaussian mixture.

Each has a normalised log density, exact ``true_mean``/``true_std`` and an exact sampler
(``model.sample(n, seed)``), for tests and for benchmarks that need reference draws.
"""

import numpy as np

from ..._validation import positive_float, positive_int
from ...errors import InputError
from ..model import Model


def funnel(dim=10, scale=3.0):
    """Neal's funnel, centred: x0 ~ N(0, scale²), x_i | x0 ~ N(0, exp(x0)) for i = 1..dim-1.

    Exact moments: mean 0; sd(x0) = scale, sd(x_i) = exp(scale²/4) (E[exp(x0)] = exp(scale²/2)).
    """
    scale = positive_float(scale, "scale")
    if dim < 2:
        raise InputError(f"funnel needs dim >= 2, got {dim}.")
    k = dim - 1
    s2 = scale**2
    const = -0.5 * np.log(2 * np.pi * s2) - 0.5 * k * np.log(2 * np.pi)

    def logp_and_grad(X):
        v, x = X[:, 0], X[:, 1:]
        ev = np.exp(-v)
        ss = np.einsum("ij,ij->i", x, x)
        lp = const - 0.5 * v**2 / s2 - 0.5 * ss * ev - 0.5 * k * v
        g = np.empty_like(X)
        g[:, 0] = -v / s2 + 0.5 * ss * ev - 0.5 * k
        g[:, 1:] = -x * ev[:, None]
        return lp, g

    def sample(n, rng):
        v = rng.normal(0.0, scale, n)
        return np.column_stack([v, rng.standard_normal((n, k)) * np.exp(v / 2)[:, None]])

    std = np.full(dim, np.exp(s2 / 4))
    std[0] = scale
    return Model(logp_and_grad, dim, name=f"funnel{dim}", true_mean=np.zeros(dim),
                 true_std=std, sampler=sample)


def banana(b=0.03, sd1=10.0):
    """2-D banana: x1 ~ N(0, sd1²), x2 | x1 ~ N(b(x1² - sd1²), 1).

    Exact moments: mean 0; sd(x1) = sd1, sd(x2) = sqrt(1 + 2 b² sd1⁴).
    """
    sd1 = positive_float(sd1, "sd1")
    b = float(b)
    v1 = sd1**2
    const = -np.log(2 * np.pi * sd1)

    def logp_and_grad(X):
        x1, x2 = X[:, 0], X[:, 1]
        r = x2 - b * (x1**2 - v1)
        lp = const - 0.5 * x1**2 / v1 - 0.5 * r**2
        g = np.column_stack([-x1 / v1 + 2.0 * b * x1 * r, -r])
        return lp, g

    def sample(n, rng):
        x1 = rng.normal(0.0, sd1, n)
        return np.column_stack([x1, b * (x1**2 - v1) + rng.standard_normal(n)])

    return Model(logp_and_grad, 2, name="banana", true_mean=np.zeros(2),
                 true_std=np.array([sd1, np.sqrt(1.0 + 2.0 * b**2 * v1**2)]), sampler=sample)


def mixture(dim=2, separation=6.0, weight=0.5):
    """Bimodal mixture w·N(c, I) + (1 - w)·N(-c, I), c = (separation/2)·(1, ..., 1)/sqrt(dim).

    The modes are ``separation`` apart along the diagonal. Exact moments: mean (2w - 1)c,
    covariance I + 4w(1 - w)ccᵀ, so sd_i = sqrt(1 + w(1 - w)·separation²/dim).
    """
    separation = positive_float(separation, "separation")
    dim = positive_int(dim, "dim")
    if not 0.0 < weight < 1.0:
        raise InputError(f"weight must lie in (0, 1), got {weight}.")
    c = np.full(dim, 0.5 * separation / np.sqrt(dim))
    log_w = np.log([weight, 1.0 - weight])
    const = -0.5 * dim * np.log(2 * np.pi)

    def logp_and_grad(X):
        a = log_w[0] - 0.5 * np.einsum("ij,ij->i", X - c, X - c)
        b = log_w[1] - 0.5 * np.einsum("ij,ij->i", X + c, X + c)
        lp = np.logaddexp(a, b)
        r = np.exp(a - lp) - np.exp(b - lp)  # responsibility of +c minus that of -c
        return const + lp, -X + r[:, None] * c

    def sample(n, rng):
        sign = np.where(rng.random(n) < weight, 1.0, -1.0)
        return rng.standard_normal((n, dim)) + sign[:, None] * c

    return Model(logp_and_grad, dim, name=f"mixture{dim}", true_mean=(2 * weight - 1) * c,
                 true_std=np.full(dim, np.sqrt(1.0 + weight * (1 - weight) * separation**2 / dim)),
                 sampler=sample)
