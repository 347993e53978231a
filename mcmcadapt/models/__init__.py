"""The model interface (:class:`Model`), transforms, checks; built-in targets in
:mod:`mcmcadapt.models.targets`."""

from .checks import check_gradients
from .model import Model
from .transforms import Interval, Positive, Transform, as_transform
from .variables import Variable

__all__ = ["Interval", "Model", "Positive", "Transform", "Variable", "as_transform",
           "check_gradients"]
