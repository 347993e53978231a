"""Elementwise bijections from the unconstrained real line to a constrained set.

Samplers work on an unconstrained vector ``u``; a model's density may be written in the
constrained variable ``x = T(u)``. The density of ``u`` is then
``log p_u(u) = log p_x(T(u)) + log|T'(u)|``; its gradient and Hessian-vector product follow
from the chain rule with the first two derivatives of ``T`` and of ``log|T'|``, which
every transform provides (:meth:`Transform.derivatives`).
"""

import numpy as np
from scipy.special import expit

from .._validation import positive_float
from ..errors import HyperparameterError


class Transform:
    """Base class. ``forward(u) -> x``, ``inverse(x) -> u``, ``log_jacobian(u) = log|dx/du|``."""

    def forward(self, u):
        raise NotImplementedError

    def inverse(self, x):
        raise NotImplementedError

    def log_jacobian(self, u):
        raise NotImplementedError

    def derivatives(self, u):
        """``(dx/du, d²x/du², d log|dx/du| / du, d² log|dx/du| / du²)``, each shaped like ``u``."""
        raise NotImplementedError


class Positive(Transform):
    """``x = lower + exp(u)`` onto ``(lower, inf)``; ``log|dx/du| = u``."""

    def __init__(self, lower=0.0):
        self.lower = float(lower)
        if not np.isfinite(self.lower):
            raise HyperparameterError(f"Positive: lower bound must be finite, got {lower!r}.")

    def forward(self, u):
        return self.lower + np.exp(u)

    def inverse(self, x):
        return np.log(np.asarray(x, dtype=np.float64) - self.lower)

    def log_jacobian(self, u):
        return np.asarray(u, dtype=np.float64).copy()

    def derivatives(self, u):
        e = np.exp(u)
        return e, e, np.ones_like(e), np.zeros_like(e)

    def __repr__(self):
        return f"Positive(lower={self.lower})"


class Interval(Transform):
    """``x = lower + (upper - lower)·sigmoid(u)`` onto ``(lower, upper)`` (logit link).

    ``log|dx/du| = log(upper - lower) - softplus(-u) - softplus(u)``, computed without
    overflow for large ``|u|``.
    """

    def __init__(self, lower, upper):
        self.lower, self.upper = float(lower), float(upper)
        if not (np.isfinite(self.lower) and np.isfinite(self.upper)):
            raise HyperparameterError(
                f"Interval bounds must be finite, got ({lower!r}, {upper!r}); "
                "use Positive(lower) for a half-line."
            )
        positive_float(self.upper - self.lower, "Interval width (upper - lower)")

    @property
    def width(self):
        return self.upper - self.lower

    def forward(self, u):
        return self.lower + self.width * expit(u)

    def inverse(self, x):
        s = (np.asarray(x, dtype=np.float64) - self.lower) / self.width
        return np.log(s) - np.log1p(-s)

    def log_jacobian(self, u):
        return np.log(self.width) - np.logaddexp(0.0, -u) - np.logaddexp(0.0, u)

    def derivatives(self, u):
        s = expit(u)
        s1 = s * (1.0 - s)
        return self.width * s1, self.width * s1 * (1.0 - 2.0 * s), 1.0 - 2.0 * s, -2.0 * s1

    def __repr__(self):
        return f"Interval(lower={self.lower}, upper={self.upper})"


def as_transform(spec):
    """A :class:`Transform` from an instance, ``"positive"``, ``("positive", lower)`` or
    ``("interval", lower, upper)``."""
    if isinstance(spec, Transform):
        return spec
    if isinstance(spec, str):
        spec = (spec,)
    if isinstance(spec, tuple) and spec and isinstance(spec[0], str):
        kind, args = spec[0].lower(), spec[1:]
        if kind == "positive" and len(args) <= 1:
            return Positive(*args)
        if kind == "interval" and len(args) == 2:
            return Interval(*args)
    raise HyperparameterError(
        f"unknown transform {spec!r}; use 'positive', ('positive', lower), "
        "('interval', lower, upper) or a Transform instance."
    )
