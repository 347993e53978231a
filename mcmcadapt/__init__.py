"""mcmcadapt: tune MCMC transition kernels by entropy-regularised stochastic gradient."""

__version__ = "0.1.0"

from .adaptation import TuneResult, tune  # noqa: E402  (numpy only; no ArviZ at import)
from .sampling import resume, sample  # noqa: E402  (xarray/ArviZ imported inside)


def __getattr__(name):
    # ``mcmcadapt.report(idata, result, path)``: imported on first use. The subpackage
    # mcmcadapt.report is itself callable, so the name works however it gets bound.
    if name == "report":
        import importlib

        return importlib.import_module(".report", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
