"""Input checks shared by the whole package."""

import inspect

import numba as nb
import numpy as np

from .errors import HyperparameterError, InputError


def as_particles(X, name="X", min_rows=2, dim=None, check_finite=True):
    """Return ``X`` as a C-contiguous float64 array of shape (n, d).

    Raises :class:`InputError` for non-2-D input, fewer than ``min_rows`` rows,
    a column count different from ``dim`` (when given), or (unless ``check_finite`` is
    false: the caller checks in a pass of its own) NaN/inf entries.
    """
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise InputError(f"{name} must be a numeric array, got dtype {X.dtype}.")
    if X.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D array of shape (n_particles, dim); got shape {X.shape}. "
            "Reshape a single point with x[None, :] or a 1-D sample with x[:, None]."
        )
    n, d = X.shape
    if n < min_rows:
        raise InputError(f"{name} needs at least {min_rows} rows (particles); got {n}.")
    if d < 1:
        raise InputError(f"{name} has no columns; each particle needs at least one coordinate.")
    if dim is not None and d != dim:
        raise InputError(
            f"{name} has {d} columns but {dim} were expected (the dimension the estimator "
            "or model was set up with)."
        )
    X = np.ascontiguousarray(X, dtype=np.float64)
    if check_finite and not all_finite(X):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise InputError(
            f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
            "remove or fix those particles."
        )
    return X


# x·0 is 0 for finite x and NaN for ±inf and NaN, so a sum of such products is 0 exactly when
# every entry is finite. Re-association lets that sum vectorise (a loop of isfinite tests
# with an early exit does not), and without the ``nnan``/``ninf`` flags LLVM is not allowed
# to fold x·0 to 0. One pass, no temporary: numpy's isfinite(...).all() writes a boolean
# array first (~15 µs for a 50 × 801 population after the model's gradient, several times
# per step; this pass: ~2 µs).
_FINITE_JIT = {"cache": True, "fastmath": {"reassoc"}, "error_model": "numpy"}


@nb.njit(**_FINITE_JIT)
def _finite_flat(a):
    acc = 0.0
    for i in range(a.size):
        acc += a[i] * 0.0
    return acc == 0.0


@nb.njit(**_FINITE_JIT)
def _finite_rows(A, out):
    for i in range(A.shape[0]):
        acc = 0.0
        for j in range(A.shape[1]):
            acc += A[i, j] * 0.0
        out[i] = acc == 0.0


def all_finite(a):
    """Whether every entry of the float64 array ``a`` (any shape and layout) is finite."""
    a = np.asarray(a, dtype=np.float64)
    return bool(_finite_flat(a.ravel()))  # a view unless ``a`` is not contiguous


def finite_rows(A):
    """(n,) bool: whether each row of the float64 (n, d) array ``A`` is finite throughout."""
    A = np.asarray(A, dtype=np.float64)
    out = np.empty(A.shape[0], dtype=np.bool_)
    _finite_rows(A, out)
    return out


def positive_float(value, name):
    """``value`` as a float > 0 and finite, else :class:`HyperparameterError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise HyperparameterError(f"{name} must be a positive number, got {value!r}.") from None
    if not np.isfinite(v) or v <= 0:
        raise HyperparameterError(f"{name} must be positive and finite, got {value!r}.")
    return v


def positive_int(value, name, minimum=1, error=HyperparameterError):
    """``value`` as an int ≥ ``minimum`` (an integral float such as 4.0 is accepted), else
    ``error`` naming it: a string, bool, NaN or 2.5 never reaches ``int()``."""
    ok = (isinstance(value, (int, np.integer, float, np.floating))
          and not isinstance(value, (bool, np.bool_)) and float(value).is_integer()
          and value >= minimum)
    if not ok:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise error(f"{name} must be {what}, got {value!r}.")
    return int(value)


def as_generator(seed):
    """A ``numpy.random.Generator`` from a seed, a Generator, or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise InputError(f"seed must be None, a non-negative integer or a numpy Generator; "
                         f"got {seed!r} ({exc}).") from None


def check_columns(columns, d):
    """``columns`` as a sorted int64 array of distinct coordinates in [0, d), or an
    InputError naming the problem."""
    cols = np.asarray(columns)
    if cols.ndim != 1 or cols.size == 0 or cols.dtype.kind not in "iu":
        raise InputError(f"columns must be a non-empty 1-D integer array; got {columns!r}.")
    if cols.dtype != np.int64:
        cols = cols.astype(np.int64)
    if not _increasing_below(cols, d):
        raise InputError(f"columns must be sorted, distinct coordinates in [0, {d}); "
                         f"got {columns!r}.")
    return cols


@nb.njit(cache=True)
def _increasing_below(cols, d):
    """0 ≤ cols[0] < cols[1] < … < d (one pass; the adaptation checks a subset per step)."""
    prev = -1
    for c in cols:
        if c <= prev:
            return False
        prev = c
    return prev < d


def check_options(cls, options, what):
    """Raise a HyperparameterError naming every key of ``options`` that ``cls``'s constructor
    does not take, with the ones it does (``what``: e.g. "the hmc kernel")."""
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise HyperparameterError(
            f"{what} has no option {', '.join(map(repr, unknown))}; its options are "
            f"{', '.join(accepted)}.")
