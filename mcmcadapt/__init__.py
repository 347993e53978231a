"""mcmcadapt: tune MCMC transition kernels by entropy-regularised stochastic gradient."""

__version__ = "0.1.0"

from .adaptation import TuneResult, tune  # noqa: E402  (numpy only; no ArviZ at import)
from .sampling import resume, sample  # noqa: E402  (xarray/ArviZ imported inside)


SUBPACKAGES = ("adaptation", "datasets", "diagnostics", "meta", "models", "sampling", "score",
               "surrogate", "transitions")


def __getattr__(name):
    # ``mcmcadapt.report(idata, result, path)`` and ``mcmcadapt.summarize(idata, model)``:
    # imported on first use (they need ArviZ). The subpackage mcmcadapt.report is itself
    # callable, so that name works however it gets bound.
    import importlib

    if name == "report":
        return importlib.import_module(".report", __name__)
    if name == "summarize":
        return importlib.import_module(".diagnostics", __name__).summarize
    if name in SUBPACKAGES:   # ``ma.models.targets.get(...)`` without importing it first
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
