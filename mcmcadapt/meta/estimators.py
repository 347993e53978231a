"""Entropy-gradient estimators for meta-training, with the paper's settings by default.

Li & Turner's meta-learning code uses the RBF kernel with
h² = ½·median(‖xᵢ − xⱼ‖²)/log(n+1) (our ``bandwidth="median_log"``) for every estimator,
ridge 1.0 for Stein and 0.01 for kernel score matching. ``"map"`` (or None) trains without the entropy term.
"""

from ..adaptation.estimators import make_estimator
from .._validation import check_options
from ..errors import HyperparameterError
from ..score.kde import KDE
from ..score.score_matching import KernelScoreMatching
from ..score.spectral import SSGE
from ..score.stein import Stein

#: name -> (class, default constructor arguments)
ENTROPY_ESTIMATORS = {
    "stein": (Stein, {"bandwidth": "median_log", "eta": 1.0}),
    "ssge": (SSGE, {"bandwidth": "median_log"}),
    "kde": (KDE, {"bandwidth": "median_log"}),
    "ksm": (KernelScoreMatching, {"bandwidth": "median_log", "eta": 0.01}),
}
ALIASES = {"score_matching": "ksm", "kernel_score_matching": "ksm", "none": "map"}


def make_entropy_estimator(estimator, options=None):
    """``(estimator or None, name)`` from a name in :data:`ENTROPY_ESTIMATORS`, ``"map"``
    / None (no entropy term), or an object with ``fit(X)`` and ``gradients()``. ``options``
    override the named estimator's defaults. Instances and unknown names go through the
    package's one estimator lookup, :func:`mcmcadapt.adaptation.estimators.make_estimator`."""
    if estimator is None:
        estimator = "map"
    if not isinstance(estimator, str):
        return make_estimator(estimator, options), type(estimator).__name__
    key = ALIASES.get(estimator.lower(), estimator.lower())
    if key == "map":
        if options:
            raise HyperparameterError("estimator_options need an estimator; 'map' has none.")
        return None, "map"
    if key not in ENTROPY_ESTIMATORS:
        raise HyperparameterError(
            f"unknown estimator {estimator!r}; choose one of "
            f"{sorted(ENTROPY_ESTIMATORS) + ['map']}.")
    cls, defaults = ENTROPY_ESTIMATORS[key]
    check_options(cls, options or {}, f"the {key} estimator")
    return cls(**{**defaults, **(options or {})}), key
