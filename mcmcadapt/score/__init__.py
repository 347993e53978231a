"""Nonparametric estimators of the score ∇log q from particles of q.

All estimators share one convention: ``fit(X)`` with X of shape (n, d), then
``gradients()`` (in-sample, (n, d)) or ``gradients(Y)`` (at new points, (m, d)); the kernel
bandwidth is the length-scale h of k(x, y) = exp(−‖x − y‖²/(2h²)) (RBF) or
(1 + ‖x − y‖²/h²)^β (IMQ); the ridge eta is absolute, on the K + eta·I scale.
"""

from ..errors import (
    DegenerateParticlesError,
    HyperparameterError,
    InputError,
    NotFittedError,
    SingularMatrixError,
)
from ._threads import get_threads, set_threads
from .base import ScoreEstimator
from .kde import KDE
from .kernels import Kernel
from .ksd import ksd, ksd_squared
from .regularized import NuMethod, Tikhonov
from .score_matching import KernelScoreMatching
from .spectral import SSGE
from .stein import Stein

__all__ = [
    "Stein",
    "SSGE",
    "KDE",
    "KernelScoreMatching",
    "Tikhonov",
    "NuMethod",
    "ScoreEstimator",
    "Kernel",
    "ksd",
    "ksd_squared",
    "set_threads",
    "get_threads",
    "InputError",
    "NotFittedError",
    "HyperparameterError",
    "DegenerateParticlesError",
    "SingularMatrixError",
]
