"""Diagnostics of a sampling run: convergence table (ArviZ), sampler checks, KSD against the
model's score, ESS per gradient evaluation, and explicit warnings with thresholds.

>>> s = mcmcadapt.diagnostics.summarize(idata, model)   # doctest: +SKIP
>>> print(s)                                              # terminal rendering
"""

from .predictive import add_predictive
from .quantities import PREDICTIVE_GROUP, diagnosed_quantities
from .summary import (COLUMNS, EBFMI_MIN, ESS_PER_CHAIN_MIN, KSD_TREND_Z, RHAT_MAX,
                      DiagnosticWarning, Summary, summarize)

__all__ = ["summarize", "Summary", "DiagnosticWarning", "add_predictive", "diagnosed_quantities",
           "PREDICTIVE_GROUP", "COLUMNS", "RHAT_MAX", "ESS_PER_CHAIN_MIN", "EBFMI_MIN",
           "KSD_TREND_Z"]
