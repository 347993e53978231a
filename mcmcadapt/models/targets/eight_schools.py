"""Eight schools (Rubin 1981), centred and non-centred.

y = [28, 8, -3, 7, -1, 1, 18, 12], sigma = [15, 10, 16, 11, 9, 11, 10, 18];
mu ~ N(0, 5²), tau ~ HalfCauchy(5), theta_j ~ N(mu, tau²), y_j ~ N(theta_j, sigma_j²).
The non-centred form samples theta_tilde_j ~ N(0, 1) with theta_j = mu + tau·theta_tilde_j.
tau is sampled as log tau (Jacobian included by the model's ``positive`` transform), so the
unconstrained vector is [mu, log tau, theta (or theta_tilde) 1..8]. The log density is the
normalised log joint. No trusted moments are attached (``true_mean``/``true_std`` None).
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


def eight_schools(centered=True):
    """The eight-schools posterior; ``centered=False`` gives the non-centred form."""
    if centered:
        return Model(_centred, 10, names=["mu", "tau", "theta[8]"], name="eight-schools",
                     transforms={"tau": "positive"})
    return Model(_noncentred, 10, names=["mu", "tau", "theta_tilde[8]"],
                 name="eight-schools-nc", transforms={"tau": "positive"})
