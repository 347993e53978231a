"""HTML report of a run: ``mcmcadapt.report(idata, result, "report.html")``.

The module itself is callable (``mcmcadapt.report(...)`` is :func:`~.build.report`), so the
public name works whether Python resolves ``mcmcadapt.report`` to this subpackage or to the
function.
"""

import sys
import types

from .build import report

__all__ = ["report"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
