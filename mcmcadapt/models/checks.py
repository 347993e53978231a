"""Checks on what a model returns, and a finite-difference gradient check."""

import numpy as np

from .._validation import as_particles, finite_rows, positive_float
from ..errors import ModelError

# Coordinates perturbed per model call in check_gradients.
_CHUNK = 256


def check_output(model_name, out, n, d, what="logp_and_grad"):
    """Validate ``(lp, g)`` returned for ``n`` particles of dimension ``d``.

    Returns float64 arrays ``lp (n,)`` and ``g (n, d)``. A log density of ``-inf`` is allowed
    (the point is outside the support) and its gradient row is set to zero, because the
    gradient is undefined there and must not poison arithmetic downstream. Raises
    :class:`ModelError`, naming the model and the first offending particle, for a wrong
    shape, a NaN or ``+inf`` log density, or a non-finite gradient where the log density
    is finite.
    """
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ModelError(
            f"model {model_name!r}: {what} must return a tuple (lp, grad); "
            f"got {type(out).__name__}."
        )
    lp = np.asarray(out[0], dtype=np.float64)
    g = np.asarray(out[1], dtype=np.float64)
    if lp.shape != (n,):
        raise ModelError(
            f"model {model_name!r}: {what} returned a log density of shape {lp.shape} for {n} "
            f"particles; it must have shape ({n},), one value per row of X."
        )
    if g.shape != (n, d):
        raise ModelError(
            f"model {model_name!r}: {what} returned a gradient of shape {g.shape}; it must have "
            f"shape ({n}, {d}), one row per particle."
        )
    bad = np.isnan(lp) | (lp == np.inf)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ModelError(
            f"model {model_name!r}: log density is {lp[i]} at particle {i} ({int(bad.sum())} "
            "particle(s) affected); return a finite value, or -inf outside the support."
        )
    inside = np.isfinite(lp)
    badg = inside & ~finite_rows(g)
    if badg.any():
        i = int(np.flatnonzero(badg)[0])
        j = int(np.flatnonzero(~np.isfinite(g[i]))[0])
        raise ModelError(
            f"model {model_name!r}: gradient is {g[i, j]} at particle {i}, coordinate {j}, where "
            f"the log density is finite ({lp[i]}); {int(badg.sum())} particle(s) affected. "
            "Check the gradient code (overflow, log of 0, division by 0)."
        )
    if not inside.all():
        g = np.where(inside[:, None], g, 0.0)
    return lp, g


def check_gradients(model, X, step=1e-5, floor=1e-8, batch=None):
    """Largest relative error of ``model``'s gradient against central finite differences.

    For each particle x_i (row of ``X``, shape (n, d)) the difference quotient of the log
    density uses the step ``step·max(1, |x_ij|)`` per coordinate; the error of particle i
    is ``‖fd_i - g_i‖₂ / max(‖g_i‖₂, ‖fd_i‖₂, floor)``. Returns the maximum over particles
    (a float; around 1e-8 or below for a correct smooth gradient). Every point must lie
    inside the support, and so must its perturbations.
    """
    X = as_particles(X, name="X", min_rows=1, dim=model.dim)
    step = positive_float(step, "step")
    n, d = X.shape
    lp, g = model.logp_and_grad(X, batch=batch)
    if not np.all(np.isfinite(lp)):
        i = int(np.flatnonzero(~np.isfinite(lp))[0])
        raise ModelError(
            f"check_gradients: model {model.name!r} has log density -inf at particle {i}; "
            "check gradients at points inside the support."
        )
    worst = 0.0
    for i in range(n):
        h = step * np.maximum(1.0, np.abs(X[i]))
        fd = np.empty(d)
        for start in range(0, d, _CHUNK):
            # perturb coordinates start..stop in both directions: O(_CHUNK·d) memory
            cols = np.arange(start, min(start + _CHUNK, d))
            P = np.repeat(X[i][None], 2 * cols.size, axis=0)
            rows = np.arange(cols.size)
            P[rows, cols] += h[cols]
            P[rows + cols.size, cols] -= h[cols]
            lpp, _ = model.logp_and_grad(P, batch=batch)
            if not np.all(np.isfinite(lpp)):
                raise ModelError(
                    f"check_gradients: a finite-difference step left the support of model "
                    f"{model.name!r} at particle {i}; use a smaller step or a point further "
                    "inside."
                )
            fd[cols] = (lpp[: cols.size] - lpp[cols.size:]) / (2.0 * h[cols])
        denom = max(np.linalg.norm(g[i]), np.linalg.norm(fd), floor)
        worst = max(worst, float(np.linalg.norm(fd - g[i]) / denom))
    return worst


#: relative error (to ‖∇log p‖) above which a directional check calls a gradient wrong: a
#: correct gradient of a smooth model measures 1e-12–1e-8; a sign error ~2/√d
GRADIENT_TOL = 1e-4


def directional_gradient_error(model, X, rng, directions=2, step=1e-5):
    """Largest ``|D_v log p(x) − ∇log p(x)·v| / ‖∇log p(x)‖`` over the rows x of ``X`` and
    ``directions`` random unit directions v each, D_v by central differences of step
    ``step·max(1, ‖x‖_∞)``: a cheap check of a hand-written gradient (2·directions + 1
    evaluations per row, full data), against :func:`check_gradients`' 2d. None when it cannot
    be judged (a perturbation leaves the support, or the gradient vanishes)."""
    X = as_particles(X, name="X", min_rows=1, dim=model.dim)
    step = positive_float(step, "step")
    n, d = X.shape
    V = rng.standard_normal((n * directions, d))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    lp, g = model.logp_and_grad(X)
    base = np.repeat(X, directions, axis=0)
    h = step * np.maximum(1.0, np.abs(base).max(axis=1))
    lpp, _ = model.logp_and_grad(np.concatenate([base + h[:, None] * V, base - h[:, None] * V]))
    lpp = np.asarray(lpp, float)
    lp = np.repeat(np.asarray(lp, float), directions)
    g = np.repeat(np.asarray(g, float), directions, axis=0)
    fd = (lpp[: n * directions] - lpp[n * directions:]) / (2.0 * h)
    norm = np.linalg.norm(g, axis=1)
    ok = np.isfinite(fd) & np.isfinite(lp) & (norm > 0) & np.all(np.isfinite(g), axis=1)
    if not ok.any():
        return None
    return float(np.max(np.abs(fd - np.einsum("ij,ij->i", g, V))[ok] / norm[ok]))
