"""Adaptation of transition-kernel parameters: objectives (speed, kl, window), Adam, ``tune``."""

from .kl import KLObjective
from .objective import Objective
from .optim import Adam
from .speed import SpeedObjective
from .tune import TuneResult, tune
from .window import WindowAdaptation

__all__ = ["Adam", "KLObjective", "Objective", "SpeedObjective", "TuneResult",
           "WindowAdaptation", "tune"]
