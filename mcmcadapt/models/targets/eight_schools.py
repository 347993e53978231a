"""Eight schools (Rubin 1981), centred and non-centred.

y = [28, 8, -3, 7, -1, 1, 18, 12], sigma = [15, 10, 16, 11, 9, 11, 10, 18];
mu ~ N(0, 5²), tau ~ HalfCauchy(5), theta_j ~ N(mu, tau²), y_j ~ N(theta_j, sigma_j²).
The non-centred form samples theta_tilde_j ~ N(0, 1) with theta_j = mu + tau·theta_tilde_j.
tau is sampled as log tau (Jacobian included by the model's ``positive`` transform), so the
unconstrained vector is [mu, log tau, theta (or theta_tilde) 1..8]. The log density is the
normalised log joint.

``true_mean``/``true_std`` are exact posterior moments of that unconstrained vector, by
deterministic quadrature (:func:`reference_moments`).
"""

import numpy as np

from ..model import Model

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
MU_SD = 5.0
TAU_SCALE = 5.0

_HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)
# N(mu; 0, 5²) + HalfCauchy(tau; 5) + N(y; ., sigma²) normalising constants
_CONST = (-_HALF_LOG_2PI - np.log(MU_SD) + np.log(2.0 / (np.pi * TAU_SCALE))
          - np.sum(_HALF_LOG_2PI + np.log(SIGMA)))


def _hyper(mu, tau):
    lp = _CONST - 0.5 * (mu / MU_SD) ** 2 - np.log1p((tau / TAU_SCALE) ** 2)
    return lp, -mu / MU_SD**2, -2.0 * tau / (TAU_SCALE**2 + tau**2)


def _centred(X):
    mu, tau, theta = X[:, 0], X[:, 1], X[:, 2:]
    lp, gmu, gtau = _hyper(mu, tau)
    z = (theta - mu[:, None]) / tau[:, None]
    r = (Y - theta) / SIGMA**2
    J = Y.size
    lp = lp - 0.5 * np.sum(z**2, axis=1) - J * (np.log(tau) + _HALF_LOG_2PI) \
        - 0.5 * np.sum((Y - theta) ** 2 / SIGMA**2, axis=1)
    g = np.empty_like(X)
    g[:, 0] = gmu + np.sum(z, axis=1) / tau
    g[:, 1] = gtau + (np.sum(z**2, axis=1) - J) / tau
    g[:, 2:] = -z / tau[:, None] + r
    return lp, g


def _noncentred(X):
    mu, tau, tt = X[:, 0], X[:, 1], X[:, 2:]
    lp, gmu, gtau = _hyper(mu, tau)
    r = (Y - mu[:, None] - tau[:, None] * tt) / SIGMA**2
    lp = lp - 0.5 * np.sum(tt**2, axis=1) - Y.size * _HALF_LOG_2PI \
        - 0.5 * np.sum(r**2 * SIGMA**2, axis=1)
    g = np.empty_like(X)
    g[:, 0] = gmu + np.sum(r, axis=1)
    g[:, 1] = gtau + np.sum(r * tt, axis=1)
    g[:, 2:] = -tt + tau[:, None] * r
    return lp, g


def reference_moments(centered=True, step=0.02, lower=-60.0, upper=15.0):
    """Exact posterior mean and sd (each (10,)) of [mu, log tau, theta or theta_tilde].

    Given tau, everything else is Gaussian: with V_j = sigma_j² + tau², the marginal
    y_j | mu, tau ~ N(mu, V_j) and the N(0, 5²) prior make mu | tau, y ~ N(b/P, 1/P),
    P = 1/25 + Σ 1/V_j, b = Σ y_j/V_j; theta_j | mu, tau, y ~ N(mu + B_j (y_j - mu), sigma_j² B_j)
    with B_j = tau²/V_j, so theta_tilde_j = (theta_j - mu)/tau has mean tau (y_j - mu)/V_j and
    variance sigma_j²/V_j. Only the 1-D density of s = log tau (HalfCauchy prior, Jacobian
    tau, mu integrated out analytically) is left; it is smooth and decays like e^s as
    s -> -inf and e^(-9 s) as s -> +inf, so the trapezoidal rule on a uniform grid ``step``
    over [``lower``, ``upper``] converges geometrically (halving ``step`` changes nothing
    at 1e-12). Cost: one (K, 8) pass, K ≈ 3750 nodes.
    """
    s = np.arange(lower, upper + 0.5 * step, step)
    tau = np.exp(s)[:, None]
    V = SIGMA**2 + tau**2
    P = 1.0 / MU_SD**2 + np.sum(1.0 / V, axis=1)
    b = np.sum(Y / V, axis=1)
    m = b / P
    log_w = (-0.5 * np.sum(np.log(V) + Y**2 / V, axis=1) + 0.5 * b * m - 0.5 * np.log(P)
             - np.log1p((tau[:, 0] / TAU_SCALE) ** 2) + s)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    # conditional (given tau) first and second moments of each coordinate
    m1 = np.empty((s.size, 10))
    m2 = np.empty((s.size, 10))
    m1[:, 0], m2[:, 0] = m, m**2 + 1.0 / P
    m1[:, 1], m2[:, 1] = s, s**2
    if centered:
        B = tau**2 / V
        m1[:, 2:] = (1.0 - B) * m[:, None] + B * Y
        m2[:, 2:] = m1[:, 2:] ** 2 + (1.0 - B) ** 2 / P[:, None] + SIGMA**2 * B
    else:
        a = tau / V
        m1[:, 2:] = a * (Y - m[:, None])
        m2[:, 2:] = m1[:, 2:] ** 2 + a**2 / P[:, None] + SIGMA**2 / V
    mean = w @ m1
    return mean, np.sqrt(w @ m2 - mean**2)


def eight_schools(centered=True):
    """The eight-schools posterior; ``centered=False`` gives the non-centred form."""
    mean, sd = reference_moments(centered)
    if centered:
        return Model(_centred, 10, names=["mu", "tau", "theta[8]"], name="eight-schools",
                     transforms={"tau": "positive"}, true_mean=mean, true_std=sd)
    return Model(_noncentred, 10, names=["mu", "tau", "theta_tilde[8]"],
                 name="eight-schools-nc", transforms={"tau": "positive"},
                 true_mean=mean, true_std=sd)
