"""Exception types. Every error mcmcadapt raises for bad input is a ``ValueError``
subclass whose message names the problem and says what to do."""


class InputError(ValueError):
    """Array input of the wrong shape, size or content (NaN/inf, too few rows)."""


class NotFittedError(ValueError):
    """An estimator was queried before ``fit``."""


class HyperparameterError(ValueError):
    """A non-positive bandwidth or ridge, or an unknown option string."""


class DegenerateParticlesError(ValueError):
    """All particles coincide (or nearly), so no kernel bandwidth exists."""


class SingularMatrixError(ValueError):
    """A kernel system could not be solved even after adding jitter."""


class ModelError(ValueError):
    """A user model returned output of the wrong shape or non-finite values."""
