"""The model interface (:class:`Model`), transforms, checks; built-in targets in
:mod:`mcmcadapt.models.targets`."""

from .checks import check_gradients
from .model import Model
from .transforms import Interval, Positive, Transform, as_transform
from .variables import Variable

__all__ = ["Interval", "Model", "Positive", "Transform", "Variable", "as_transform",
           "check_gradients"]


def __getattr__(name):
    # ``mcmcadapt.models.targets`` (the built-in models, which load data sets) on first use
    if name == "targets":
        import importlib

        return importlib.import_module(".targets", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
