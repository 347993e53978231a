"""Score-estimator lookup by name for the adaptation objectives."""

import importlib

from ..errors import HyperparameterError

# name -> (module of mcmcadapt.score, class), per docs/architecture.md
ESTIMATOR_NAMES = {
    "stein": ("stein", "Stein"),
    "ssge": ("spectral", "SSGE"),
    "kde": ("kde", "KDE"),
    "score_matching": ("score_matching", "KernelScoreMatching"),
    "ksm": ("score_matching", "KernelScoreMatching"),
    "tikhonov": ("regularized", "Tikhonov"),
    "nu": ("regularized", "NuMethod"),
    "nu_method": ("regularized", "NuMethod"),
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
    module, cls = ESTIMATOR_NAMES[key]
    return getattr(importlib.import_module(f"mcmcadapt.score.{module}"), cls)(**(options or {}))
