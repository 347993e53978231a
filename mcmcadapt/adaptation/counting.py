"""A transparent model proxy that counts gradient evaluations at the source.

Kernels report their own ``n_grad``, but objectives add Hessian-vector products and
heuristics add trial proposals; counting at the model sees all of them. One row of
``logp_and_grad`` is one gradient evaluation; one row of ``hvp`` costs
``hvp_cost`` evaluations (2 for central differences of gradients, the models' fallback,
which calls the wrapped model directly and so would otherwise go unseen; an analytic
Hessian-vector product is counted as 1). ``n_grad_full`` counts the same in full-data
gradients: a minibatch gradient on b of the model's ``n_data`` points is b/n_data of one,
so that ESS per gradient compares minibatch and full-data kernels at their cost.
"""

import os
import time
import traceback

import numpy as np

from ..errors import ModelError


class CountingModel:
    """Wraps a model; forwards every attribute, counts ``logp_and_grad`` rows and ``hvp``
    rows, and accumulates the wall time spent inside them (``seconds``) and the calling
    thread's CPU time (``cpu_seconds``: unaffected by other processes on a busy machine,
    and equal to the wall time when the model runs on the calling thread).

    Any exception a model call raises reaches the caller as a
    :class:`~mcmcadapt.errors.ModelError` naming the original (chained to it), so that the
    tuning and sampling loops treat every failure of the user's code alike: a sampling run
    keeps its draws whether the model returned NaN or raised (a LinAlgError, say)."""

    def __init__(self, model):
        self._model = model
        self.n_grad = 0
        self.n_grad_full = 0.0
        self.n_hvp = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.hvp_cost = 1 if _has_analytic_hvp(model) else 2

    def __getattr__(self, name):
        return getattr(self._model, name)

    @property
    def wrapped(self):
        return self._model

    def logp_and_grad(self, X, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.thread_time()
        out = _forward(self._model.logp_and_grad, "logp_and_grad", X, *args, **kwargs)
        self.seconds += time.perf_counter() - t0
        self.cpu_seconds += time.thread_time() - c0
        rows = int(np.shape(X)[0])
        self.n_grad += rows
        batch, n_data = kwargs.get("batch"), getattr(self._model, "n_data", None)
        self.n_grad_full += rows * (1.0 if batch is None or not n_data
                                    else min(1.0, len(batch) / n_data))
        return out

    def hvp(self, X, V, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.thread_time()
        out = _forward(self._model.hvp, "hvp", X, V, *args, **kwargs)
        self.seconds += time.perf_counter() - t0
        self.cpu_seconds += time.thread_time() - c0
        rows = int(np.shape(X)[0])
        self.n_hvp += rows
        self.n_grad += self.hvp_cost * rows
        self.n_grad_full += self.hvp_cost * rows
        return out


def _forward(method, name, *args, **kwargs):
    try:
        return method(*args, **kwargs)
    except ModelError:
        raise
    except Exception as exc:
        owner = getattr(getattr(method, "__self__", None), "name", "model")
        frame = _user_frame(traceback.extract_tb(exc.__traceback__)[1:])  # [0]: this call
        where = f" (at {frame.filename}:{frame.lineno}, in {frame.name})" if frame else ""
        raise ModelError(f"model {owner!r}: {name} raised {type(exc).__name__}: {exc}{where}"
                         ) from exc


def _is_library(filename):
    """In the standard library or an installed package (any site-packages or dist-packages
    folder: venvs, user installs, distribution packages)."""
    import sysconfig

    path = os.path.realpath(filename)
    stdlib = tuple(os.path.join(os.path.realpath(sysconfig.get_paths()[key]), "")
                   for key in ("stdlib", "platstdlib"))
    return path.startswith(stdlib) or bool(set(path.split(os.sep))
                                           & {"site-packages", "dist-packages"})


def _user_frame(frames):
    """The deepest frame of ``frames`` in the user's code (see :func:`_is_library`): a model
    whose numpy call failed is named at its own line, not numpy's. The deepest frame of all
    when every frame is library code; None for none."""
    for frame in reversed(frames):
        if not _is_library(frame.filename):
            return frame
    return frames[-1] if frames else None


def _has_analytic_hvp(model):
    """Whether ``model.hvp`` is analytic (user-supplied) rather than central differences."""
    return bool(getattr(model, "has_hvp", False))


class FirstOrderModel:
    """Model proxy whose Hessian-vector products are zero: a kernel VJP evaluated through it
    treats ∇log p at every evaluated point as a constant (the first-order gradient, with no
    second-derivative cost). Everything else is forwarded. ``zero_hessian`` tells the kernels
    (:func:`mcmcadapt.transitions.base.zero_hessian`) to skip the products altogether."""

    zero_hessian = True

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def hvp(self, X, V, *args, **kwargs):
        return np.zeros(np.shape(V))
