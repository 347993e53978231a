"""Score-estimator lookup by name for the adaptation objectives."""

from ..errors import HyperparameterError

# name -> class in mcmcadapt.score (imported on first use: it loads Numba)
ESTIMATOR_NAMES = {
    "stein": "Stein",
    "ssge": "SSGE",
    "kde": "KDE",
    "score_matching": "KernelScoreMatching",
    "ksm": "KernelScoreMatching",
    "tikhonov": "Tikhonov",
    "nu": "NuMethod",
    "nu_method": "NuMethod",
}


def make_estimator(estimator, options=None):
    """A fresh score estimator from a name in ``ESTIMATOR_NAMES`` (with constructor
    ``options``) or an estimator instance (returned unchanged; ``options`` must be empty)."""
    if not isinstance(estimator, str):
        if not (hasattr(estimator, "fit") and hasattr(estimator, "gradients")):
            raise HyperparameterError(
                f"estimator must be a name in {sorted(ESTIMATOR_NAMES)} or an object with "
                f"fit(X) and gradients(); got {estimator!r}.")
        if options:
            raise HyperparameterError("estimator_options apply only to an estimator given by name.")
        return estimator
    key = estimator.lower()
    if key not in ESTIMATOR_NAMES:
        raise HyperparameterError(
            f"unknown estimator {estimator!r}; choose one of {sorted(ESTIMATOR_NAMES)}.")
    from .. import score

    return getattr(score, ESTIMATOR_NAMES[key])(**(options or {}))
