"""Common φ layout of the step-size + preconditioner kernels (RWM, MALA, ULA, SGLD, HMC).

φ = [log step_size, θ (preconditioner block, see :mod:`.precond`), extra...]. The step size and
the preconditioner are separate blocks so window adaptation can set each on its own.

``describe``, ``set_step_size``, ``set_inv_mass`` and ``proposal_entropy`` infer d from len(φ);
they also take an optional ``dim=``, which only SGLD without a preconditioner (φ of length 1)
needs, and only for the entropy.
"""

import numpy as np

from .._validation import as_particles, positive_float
from ..errors import HyperparameterError
from .base import Transition, model_dim
from .precond import PRECOND_KINDS, Preconditioner


class PreconditionedTransition(Transition):
    """Base for kernels with φ = [log step_size, θ, extra (``_n_extra`` entries)]."""

    _n_extra = 0

    def __init__(self, precond="diag"):
        if precond not in PRECOND_KINDS:
            raise HyperparameterError(f"precond must be one of {PRECOND_KINDS}, got {precond!r}.")
        self.precond = precond

    def __repr__(self):
        return f"{type(self).__name__}(precond={self.precond!r})"

    def _pre(self, dim):
        return Preconditioner(self.precond, dim)

    def n_params(self, dim):
        return 1 + self._pre(dim).n_params + self._n_extra

    def _dim_from_phi(self, phi, dim=None, required=False):
        """d from len(φ). Without a preconditioner φ does not determine d: then ``dim`` must
        be passed where d matters (``required``), elsewhere 0 stands in."""
        if dim is not None:
            return int(dim)
        shape = np.shape(phi)
        p = shape[0] - 1 - self._n_extra if len(shape) == 1 else -1
        if p < 1 and self.precond != "identity":
            return -1  # _check_phi then reports the shape
        if self.precond == "diag":
            return p
        if self.precond == "dense":
            d = int(round((np.sqrt(8 * p + 1) - 1) / 2))
            if d * (d + 1) // 2 == p:
                return d
            return -1  # _check_phi then reports the shape
        if not required:
            return 0
        raise HyperparameterError(
            f"{self!r} has no preconditioner parameters, so φ does not determine the "
            "dimension; pass dim=."
        )

    def _split(self, phi, dim):
        k = 1 + self._pre(dim).n_params
        return phi[0], phi[1:k], phi[k:]

    def _default_step_size(self, dim):
        raise NotImplementedError

    def _extra_init(self, dim):
        return np.zeros(0)

    def init_params(self, model, X=None, step_size=None):
        """φ0: the given step size (default: a dimension-scaled rule of thumb for a unit-scale
        target, see the kernel's docstring), identity preconditioner, kernel extras.
        X, if given, is only checked against the model's dimension."""
        d = model_dim(model)
        if X is not None:
            as_particles(X, name="X", min_rows=1, dim=d)
        eps = self._default_step_size(d) if step_size is None else positive_float(step_size, "step_size")
        return np.concatenate([[np.log(eps)], np.zeros(self._pre(d).n_params), self._extra_init(d)])

    def describe(self, phi, dim=None):
        """{"step_size": float, "inv_mass_diag": (d,) or "inv_mass": (d, d), ...}."""
        d = self._dim_from_phi(phi, dim)
        phi = self._check_phi(phi, d)
        a, theta, _ = self._split(phi, d)
        out = {"step_size": float(np.exp(a))}
        out.update(self._pre(d).to_dict(theta))
        return out

    def get_step_size(self, phi):
        """exp(φ[0]) (ε; for SGLD the Welling–Teh step ε_WT), as ``describe`` reports it; φ
        is checked as ``describe`` checks it."""
        return float(np.exp(self._check_phi(phi, self._dim_from_phi(phi))[0]))

    def set_step_size(self, phi, eps, dim=None):
        """Copy of φ with the step size replaced by ``eps``."""
        d = self._dim_from_phi(phi, dim)
        phi = self._check_phi(phi, d).copy()
        phi[0] = np.log(positive_float(eps, "step_size"))
        return phi

    def set_inv_mass(self, phi, M, dim=None):
        """Copy of φ with the preconditioner set to M = L Lᵀ ((d,) diagonal or (d, d))."""
        d = self._dim_from_phi(phi, dim)
        phi = self._check_phi(phi, d).copy()
        pre = self._pre(d)
        phi[1 : 1 + pre.n_params] = pre.from_matrix(M)
        return phi
