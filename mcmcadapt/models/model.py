"""The :class:`Model` interface: a batched, validated log density with its gradient."""

import inspect
import numbers

import numpy as np

from .._validation import all_finite, as_generator, as_particles
from ..errors import InputError, ModelError
from .checks import check_output
from .transforms import as_transform
from .variables import parse_variables

# Central-difference step for Hessian-vector products, relative to max(1, |x|_inf)/|v|_inf:
# about eps**(1/3), which balances truncation and rounding error.
_HVP_STEP = 6e-6


def _takes_batch(fn):
    """Whether ``fn`` accepts a ``batch=`` keyword (True when its signature is unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return True
    return any(p.name == "batch" or p.kind is p.VAR_KEYWORD for p in params)


class Model:
    """A target density over an unconstrained vector of length ``dim``, batched over particles.

    Parameters
    ----------
    logp_and_grad : callable
        ``f(X) -> (lp, g)`` with ``X`` (n, d), ``lp`` (n,), ``g`` (n, d). If ``transforms`` is
        given, ``f`` receives the *constrained* values and returns the log density and its
        gradient with respect to them; the model adds the log-Jacobians. A model with
        minibatch support (``n_data`` given) is called as ``f(X, batch=idx)`` with an int64
        index array, or as ``f(X)`` for the full data.
    dim : int
        Length of the parameter vector.
    names : None, str or list
        Variable names with shapes: ``"theta[8]"``, ``["mu", "tau", "theta[8]"]`` or
        ``[("W", (3, 4)), ...]``; sizes must add up to ``dim``. Default: one variable
        ``"x"`` of shape ``(dim,)``.
    hvp : callable, optional
        ``hvp(X, V) -> (n, d)``: row-wise Hessian-vector products of the log density (in the
        same space as ``f``; called with ``batch=`` for minibatch models). Without it,
        :meth:`hvp` uses central differences of gradients.
    name : str
        Used in error messages and in the sampling output.
    transforms : dict, optional
        Variable name -> transform (``"positive"``, ``("interval", a, b)``,
        ``("positive", lower)`` or a :class:`~mcmcadapt.models.transforms.Transform`).
    true_mean, true_std : array (dim,), optional
        Known posterior moments in the unconstrained coordinates, for benchmarks.
    n_data : int, optional
        Number of data points when ``f`` accepts ``batch=`` (minibatch support).
    sampler : callable, optional
        ``sampler(n, rng) -> (n, dim)`` exact independent draws in the unconstrained
        coordinates (``rng`` a numpy Generator), for targets where they are available.

    Conventions: the log density may be unnormalised; ``-inf`` marks points outside the
    support (their gradient rows are returned as zeros).
    """

    def __init__(self, logp_and_grad, dim, names=None, hvp=None, name="model", *,
                 transforms=None, true_mean=None, true_std=None, n_data=None, sampler=None):
        if not callable(logp_and_grad):
            raise InputError("logp_and_grad must be callable: f(X) -> (lp (n,), grad (n, d)).")
        if hvp is not None and not callable(hvp):
            raise InputError("hvp must be callable: hvp(X, V) -> (n, d), or None.")
        if not isinstance(dim, numbers.Integral) or isinstance(dim, bool) or dim < 1:
            raise InputError(f"dim must be a positive integer, got {dim!r}.")
        self.name = str(name)
        self.dim = int(dim)
        self._f = logp_and_grad
        self._hvp = hvp
        self._variables = parse_variables(names, self.dim)
        by_name = {v.name: v for v in self._variables}
        self.transforms = {}
        if transforms is not None and not isinstance(transforms, dict):
            raise InputError(
                f"transforms must be a dict variable name -> transform, got {transforms!r}.")
        for vname, spec in (transforms or {}).items():
            if vname not in by_name:
                raise InputError(
                    f"transform given for unknown variable {vname!r}; variables are "
                    f"{list(by_name)}."
                )
            self.transforms[vname] = as_transform(spec)
        self._transformed = [(by_name[k].slice, t) for k, t in self.transforms.items()]
        self.true_mean = self._moment(true_mean, "true_mean")
        self.true_std = self._moment(true_std, "true_std")
        if self.true_std is not None and not np.all(self.true_std > 0):
            raise InputError("true_std must be positive (posterior standard deviations).")
        if n_data is not None:
            if (not isinstance(n_data, numbers.Integral) or isinstance(n_data, bool)
                    or n_data < 1):
                raise InputError(f"n_data must be a positive integer or None, got {n_data!r}.")
            n_data = int(n_data)
            for label, fn in (("logp_and_grad", logp_and_grad),):
                if fn is not None and not _takes_batch(fn):
                    raise InputError(
                        f"n_data declares minibatch support, so {label} is called with "
                        f"batch=<indices>; give it a keyword argument `batch=None` (None: all "
                        "the data), or leave n_data out.")
        self.n_data = n_data
        if sampler is not None and not callable(sampler):
            raise InputError("sampler must be callable: sampler(n, rng) -> (n, dim), or None.")
        self.sampler = sampler

    def _moment(self, value, label):
        if value is None:
            return None
        value = np.asarray(value, dtype=np.float64)
        if value.shape != (self.dim,) or not np.all(np.isfinite(value)):
            raise InputError(f"{label} must be a finite array of shape ({self.dim},).")
        return value

    @classmethod
    def from_functions(cls, logp, grad, dim, hvp=None, **kwargs):
        """A model from per-point callables ``logp(x) -> float``, ``grad(x) -> (d,)`` and
        optionally ``hvp(x, v) -> (d,)``, looped over particles. Keyword arguments go to
        :class:`Model` (``names``, ``name``, ``transforms``, ``true_mean``, ...). ``grad`` is
        not called where ``logp`` is ``-inf``."""
        if not (callable(logp) and callable(grad)):
            raise InputError("from_functions needs callables logp(x) -> float and grad(x) -> (d,).")
        label = kwargs.get("name", "model")

        def batched(X):
            n, d = X.shape
            lp = np.empty(n)
            g = np.zeros((n, d))
            for i in range(n):
                value = logp(X[i])
                if (value is None or np.shape(value) != ()
                        or not np.issubdtype(np.asarray(value).dtype, np.number)):
                    raise ModelError(
                        f"model {label!r}: logp returned {type(value).__name__} of shape "
                        f"{np.shape(value)} at particle {i}; it must return a float.")
                lp[i] = float(value)
                if lp[i] == -np.inf:
                    continue
                gi = np.asarray(grad(X[i]), dtype=np.float64)
                if gi.shape != (d,):
                    raise ModelError(
                        f"model {label!r}: grad returned shape {gi.shape} at particle {i}; "
                        f"it must return a vector of shape ({d},)."
                    )
                g[i] = gi
            return lp, g

        batched_hvp = None
        if hvp is not None:
            def batched_hvp(X, V):
                out = np.empty_like(X)
                for i in range(X.shape[0]):
                    hv = np.asarray(hvp(X[i], V[i]), dtype=np.float64)
                    if hv.shape != (X.shape[1],):
                        raise ModelError(
                            f"model {label!r}: hvp returned shape {hv.shape} at particle {i}; "
                            f"it must return a vector of shape ({X.shape[1]},)."
                        )
                    out[i] = hv
                return out

        return cls(batched, dim, hvp=batched_hvp, **kwargs)

    def sample(self, n, seed=None):
        """``n`` exact independent draws (n, dim), unconstrained; only when ``sampler`` is set."""
        if self.sampler is None:
            raise ModelError(f"model {self.name!r} has no exact sampler.")
        if not isinstance(n, numbers.Integral) or n < 1:
            raise InputError(f"n must be a positive integer, got {n!r}.")
        draws = np.asarray(self.sampler(int(n), as_generator(seed)), dtype=np.float64)
        if draws.shape != (n, self.dim):
            raise ModelError(
                f"model {self.name!r}: sampler returned shape {draws.shape}, expected "
                f"({n}, {self.dim})."
            )
        return draws

    @property
    def variables(self):
        """List of :class:`~mcmcadapt.models.variables.Variable` ``(name, shape, slice)``."""
        return list(self._variables)

    def _batch(self, batch):
        if batch is None:
            return None
        if self.n_data is None:
            raise InputError(
                f"model {self.name!r} has no minibatch support (n_data is None); call "
                "logp_and_grad without batch=."
            )
        idx = np.asarray(batch)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise InputError("batch must be a non-empty 1-D array of integer data indices.")
        if idx.min() < 0 or idx.max() >= self.n_data:
            raise InputError(
                f"batch indices must lie in [0, {self.n_data}) for model {self.name!r}; "
                f"got range [{idx.min()}, {idx.max()}]."
            )
        return np.ascontiguousarray(idx, dtype=np.int64)

    def _call(self, fn, idx, *args):
        return fn(*args) if idx is None else fn(*args, batch=idx)

    def _constrain(self, U):
        """Constrained values and, per transformed slice, the transform's derivatives."""
        if not self._transformed:
            return U, np.zeros(U.shape[0]), []
        X = U.copy()
        logj = np.zeros(U.shape[0])
        parts = []
        for sl, t in self._transformed:
            u = U[:, sl]
            X[:, sl] = t.forward(u)
            logj += t.log_jacobian(u).sum(axis=1)
            parts.append((sl, t.derivatives(u)))
        return X, logj, parts

    def _raw(self, U, idx):
        with np.errstate(over="ignore"):
            X, logj, parts = self._constrain(U)
        if parts and not (all_finite(X) and all_finite(logj)):  # one compiled pass each
            bad = ~np.isfinite(X)
            if bad.any():
                i, j = np.argwhere(bad)[0]
                where = f"unconstrained coordinate {j} = {U[i, j]:.6g}"
            else:
                i, where = int(np.flatnonzero(~np.isfinite(logj))[0]), "its log-Jacobian"
            raise ModelError(
                f"model {self.name!r}: the constraining transform overflows float64 at "
                f"particle {i} ({where}); the chain has gone too far out in a transformed "
                "variable.")
        out = self._call(self._f, idx, X)
        lp, gx = check_output(self.name, out, *U.shape)
        return X, logj, parts, lp, gx

    def logp_and_grad(self, X, batch=None):
        """Log density (n,) and gradient (n, d) at the rows of ``X`` (n, d), unconstrained.

        With ``batch`` (an index array into the data; only for models with ``n_data``), the
        unbiased minibatch estimate: log prior + (n_data / len(batch)) · Σ_batch log-lik.
        """
        U = as_particles(X, name="X", min_rows=1, dim=self.dim)
        idx = self._batch(batch)
        _, logj, parts, lp, gx = self._raw(U, idx)
        if not parts:
            return lp, gx
        g = gx.copy()
        for sl, (dx, _, dlj, _) in parts:
            g[:, sl] = gx[:, sl] * dx + dlj
        return check_output(self.name, (lp + logj, g), *U.shape)

    @property
    def has_hvp(self):
        """True when Hessian-vector products are analytic (``hvp=`` given), False when they
        come from central differences of gradients (two gradient evaluations per product)."""
        return self._hvp is not None

    def hvp(self, X, V, batch=None):
        """Row-wise Hessian-vector products ``H(x_i) v_i`` of the log density, shape (n, d).

        Uses the model's ``hvp`` (chain rule through the transforms) when given, else central
        differences of gradients along each ``v_i`` (one batched call on 2n points).
        """
        U = as_particles(X, name="X", min_rows=1, dim=self.dim)
        V = as_particles(V, name="V", min_rows=1, dim=self.dim)
        if V.shape != U.shape:
            raise InputError(f"V must have the shape of X {U.shape}; got {V.shape}.")
        idx = self._batch(batch)
        if self._hvp is not None:
            return self._exact_hvp(U, V, idx)
        vmax = np.abs(V).max(axis=1)
        t = _HVP_STEP * np.maximum(1.0, np.abs(U).max(axis=1)) / np.where(vmax > 0, vmax, 1.0)
        P = np.concatenate([U + t[:, None] * V, U - t[:, None] * V])
        lp, g = self.logp_and_grad(P, batch=idx)
        n = U.shape[0]
        if not np.all(np.isfinite(lp)):
            i = int(np.flatnonzero(~np.isfinite(lp))[0]) % n
            raise ModelError(
                f"model {self.name!r}: the central-difference Hessian-vector product left the "
                f"support at particle {i}; supply hvp= to the model."
            )
        return (g[:n] - g[n:]) / (2.0 * t[:, None])

    def _exact_hvp(self, U, V, idx):
        X, _, parts, _, gx = self._raw(U, idx)
        W = V.copy()
        for sl, (dx, _, _, _) in parts:
            W[:, sl] = V[:, sl] * dx
        Hw = np.asarray(self._call(self._hvp, idx, X, W), dtype=np.float64)
        if Hw.shape != U.shape:
            raise ModelError(
                f"model {self.name!r}: hvp returned shape {Hw.shape}; expected {U.shape}."
            )
        out = Hw.copy()
        for sl, (dx, d2x, _, d2lj) in parts:
            out[:, sl] = dx * Hw[:, sl] + (gx[:, sl] * d2x + d2lj) * V[:, sl]
        if not np.all(np.isfinite(out)):
            i = int(np.flatnonzero(~np.all(np.isfinite(out), axis=1))[0])
            raise ModelError(f"model {self.name!r}: hvp is not finite at particle {i}.")
        return out

    def to_named(self, X):
        """Dict name -> array of shape ``X.shape[:-1] + shape``, in the constrained space.

        ``X`` has shape ``(..., dim)`` (e.g. ``(chain, draw, dim)``), unconstrained.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim < 1 or X.shape[-1] != self.dim:
            raise InputError(f"X must have last dimension {self.dim}; got shape {X.shape}.")
        lead = X.shape[:-1]
        out = {}
        for v in self._variables:
            block = X[..., v.slice]
            if v.name in self.transforms:
                block = self.transforms[v.name].forward(block)
            out[v.name] = np.array(block).reshape(lead + v.shape)
        return out

    def from_named(self, values):
        """Inverse of :meth:`to_named`: dict of constrained values -> unconstrained (..., dim)."""
        missing = [v.name for v in self._variables if v.name not in values]
        if missing:
            raise InputError(f"from_named: missing variables {missing}.")
        first = self._variables[0]
        a = np.asarray(values[first.name], dtype=np.float64)
        lead = a.shape[: a.ndim - len(first.shape)]
        X = np.empty(lead + (self.dim,))
        for v in self._variables:
            a = np.asarray(values[v.name], dtype=np.float64)
            if a.shape != lead + v.shape:
                raise InputError(
                    f"from_named: {v.name!r} has shape {a.shape}, expected {lead + v.shape}."
                )
            if v.name in self.transforms:
                with np.errstate(invalid="ignore", divide="ignore"):
                    a = self.transforms[v.name].inverse(a)
            if not np.all(np.isfinite(a)):
                what = ("are not finite or lie outside the support of its transform "
                        f"({self.transforms[v.name]!r})" if v.name in self.transforms
                        else "are not finite")
                raise InputError(f"from_named: values of {v.name!r} {what}.")
            X[..., v.slice] = a.reshape(lead + (v.size,))
        return X

    def __repr__(self):
        names = ", ".join(v.name + (str(list(v.shape)) if v.shape else "") for v in self._variables)
        return f"Model(name={self.name!r}, dim={self.dim}, variables=[{names}])"
