"""A model whose gradient is a score estimator's, with the exact log density kept.

Gradient-free HMC (Li & Turner 2018, Sec. 4.1; after Strathmann et al.'s kernel HMC): when
∇log p is unavailable but samples of p are (here: a fixed set of target draws), a score
estimator fitted on those draws supplies ∇log p̂ at any point through its out-of-sample
extension. HMC's leapfrog then runs on the surrogate gradient, while the Metropolis test uses
the exact log p, so the chain still targets p exactly: a poor surrogate costs acceptance,
not correctness.
"""

import numpy as np

from ._validation import as_particles
from .errors import HyperparameterError, InputError, ModelError
from .models.model import Model


class ScoreSurrogateModel(Model):
    """``ScoreSurrogateModel(target_model, estimator, samples)``.

    Parameters
    ----------
    target_model : Model
        Supplies the exact log density (its gradient is never used).
    estimator : score estimator
        An unfitted or fitted estimator with ``fit(X)`` and ``gradients(Y)`` (an
        out-of-sample extension: Stein, SSGE, KDE, KernelScoreMatching, ...); it is fitted
        here on ``samples`` (the object is modified).
    samples : array (m, dim)
        Draws of the target that the estimator is fitted on.

    ``logp_and_grad(X)`` returns ``(target log p(X), estimator.gradients(X))``; the Hessian-
    vector products of the base class are central differences of that surrogate gradient.
    ``true_mean``, ``true_std`` and ``sampler`` are the target's.
    """

    #: its gradient is an estimate (the diagnostics' KSD says so)
    score_is_estimated = True

    def __init__(self, target_model, estimator, samples):
        if isinstance(estimator, type) or not (hasattr(estimator, "fit")
                                               and hasattr(estimator, "gradients")):
            raise HyperparameterError(
                f"estimator must have fit(X) and gradients(Y); got {estimator!r}.")
        d = getattr(target_model, "dim", None)
        if not callable(getattr(target_model, "logp_and_grad", None)) or d is None:
            raise InputError("target_model must be a Model with dim and logp_and_grad(X).")
        samples = as_particles(samples, name="samples", min_rows=2, dim=d)
        self.target = target_model
        self.estimator = estimator.fit(samples)
        self.samples = samples
        name = f"surrogate-{getattr(target_model, 'name', 'model')}"
        # the target's variable names, so that its draws read as the target's; not with
        # transforms, whose constrained values this unconstrained surrogate does not produce
        variables = getattr(target_model, "variables", None)
        names = (None if variables is None or getattr(target_model, "transforms", None)
                 else [(v.name, v.shape) for v in variables])
        super().__init__(self._logp_and_grad, d, names=names, name=name,
                         true_mean=getattr(target_model, "true_mean", None),
                         true_std=getattr(target_model, "true_std", None),
                         sampler=getattr(target_model, "sampler", None))

    def _logp_and_grad(self, X):
        lp, _ = self.target.logp_and_grad(X)
        lp = np.asarray(lp, dtype=np.float64)
        g = np.asarray(self.estimator.gradients(X), dtype=np.float64)
        if g.shape != X.shape:
            raise ModelError(f"estimator.gradients returned shape {g.shape} for {X.shape} points.")
        return lp, g
