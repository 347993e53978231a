"""Population state, proposal and step-info records, and the Transition base class.

Every kernel moves a population of n chains (rows of X, shape (n, d)) once per ``step``:
``draw_noise`` draws all randomness, ``propose`` is a deterministic function of (state, φ,
noise), and ``accept`` applies the Metropolis test (or accepts unconditionally for unadjusted
kernels). Keeping the noise explicit is what makes ``proposal_vjp`` / ``log_ratio_vjp``
reparameterisation gradients, checkable against finite differences with the noise held fixed.

States, noises and proposals are values: nothing writes into their arrays once they are made,
so a new state may share arrays with its proposal or with the old state (``accept`` does when
every chain comes from the same side). Copy an array before modifying it in place.

Non-finite handling (one rule for every kernel): a chain whose proposal is non-finite, whose
log density or gradient there is NaN/±inf, whose energy error exceeds the divergence
threshold (HMC), or whose log density falls by more than ``MAX_LOGP_DROP`` in one step
(unadjusted kernels on full data) is *diverging*. Its proposal is replaced by its current
position (y = x, with x's log density and gradient), its log acceptance ratio is -inf, and it
is never accepted. The proposal map of a diverging chain is therefore the identity: it
contributes nothing to φ-gradients and passes its cotangent straight through to x.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np

from .._random import standard_normal
from .._validation import (all_finite, as_generator, as_particles, check_columns, finite_rows,
                           positive_int)
from ._diag_numba import select_rows
from ..errors import InputError, ModelError


@dataclass
class State:
    """Population state: positions ``x`` (n, d), ``logp`` (n,) and ``grad`` (n, d) of log p there.

    For minibatch kernels (SGLD, Learned with ``batch_size``) ``logp``/``grad`` after a step are
    the model's unbiased minibatch estimates; ``init`` always uses the full data."""

    x: np.ndarray
    logp: np.ndarray
    grad: np.ndarray


@dataclass
class Noise:
    """All randomness of one step.

    ``xi`` (n, d) standard normal (proposal noise / HMC momentum); ``log_u`` (n,) log-uniforms
    for the accept test (Metropolis kernels, else None); ``jitter`` (n,) uniforms on (0, 1]
    (jittered HMC, else None); ``batch_seed`` int seeding the minibatch draw (minibatch
    kernels, else None); ``spread`` (n,) uniforms on [0, 1) placing each chain's step in
    its range (HMC with a step spread, else None)."""

    xi: np.ndarray
    log_u: np.ndarray | None = None
    jitter: np.ndarray | None = None
    batch_seed: int | None = None
    spread: np.ndarray | None = None


@dataclass
class Proposal:
    """One proposal per chain. ``log_accept_ratio`` is 0 for unadjusted kernels and -inf for
    diverging chains; ``energy``/``energy_x`` are the Hamiltonians at the proposal / current
    point (HMC only, else None); ``step_size`` (n,) each chain's step when they differ (HMC
    with a step spread, else None); ``cache`` holds the intermediates the VJPs need."""

    y: np.ndarray
    logp_y: np.ndarray
    grad_y: np.ndarray
    log_accept_ratio: np.ndarray
    n_grad: np.ndarray
    diverging: np.ndarray
    energy: np.ndarray | None = None
    energy_x: np.ndarray | None = None
    step_size: np.ndarray | None = None
    cache: dict = field(default_factory=dict)


@dataclass
class Info:
    """Per-chain statistics of one step (all (n,) arrays; ``energy`` None unless HMC,
    ``step_size`` None unless the chains' steps differ)."""

    acceptance_rate: np.ndarray
    accepted: np.ndarray
    diverging: np.ndarray
    energy: np.ndarray | None
    n_grad: np.ndarray
    log_accept_ratio: np.ndarray
    step_size: np.ndarray | None = None


#: An unadjusted step (ULA, SGLD, Learned) that lowers log p by more than this has blown up,
#: as an HMC trajectory whose energy error exceeds ``max_energy_error`` (default the same
#: 1000) has: it is diverging. A stable step in the typical set changes log p by O(√d).
MAX_LOGP_DROP = 1000.0


def collapsed(lp_y, lp_x, batch):
    """(n,) bool: chains whose unadjusted step lowered log p by more than ``MAX_LOGP_DROP``.
    Full-data evaluations only (``batch`` None): minibatch estimates at x and y come from
    different batches and are not comparable."""
    if batch is not None:
        return np.zeros(lp_y.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return lp_y - lp_x < -MAX_LOGP_DROP


def _plain(value):
    """numpy scalars as the Python numbers they hold (JSON-serialisable options)."""
    return value.item() if isinstance(value, np.generic) else value


def model_dim(model):
    d = getattr(model, "dim", None)
    if not isinstance(d, (int, np.integer)) or d < 1:
        raise InputError(f"model.dim must be a positive integer; got {d!r}.")
    return int(d)


def evaluate(model, Y, active=None, batch=None):
    """log p and its gradient at the rows of Y that are finite (and ``active``, if given).

    Returns ``lp`` (n,), ``g`` (n, d), ``ok`` (n,) bool and ``evaluated`` (n,) bool. Rows not
    evaluated or with non-finite output get lp = -inf, g = 0 and ok = False, so nothing
    non-finite leaves this function. The model is never called with non-finite positions."""
    n, d = Y.shape
    todo = finite_rows(Y)
    if active is not None:
        todo &= active
    lp = np.full(n, -np.inf)
    ok = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(todo)
    if not idx.size:
        return lp, np.zeros((n, d)), ok, todo
    sub = Y if idx.size == n else Y[idx]
    if batch is None:
        lp_s, g_s = model.logp_and_grad(sub)
    else:
        lp_s, g_s = model.logp_and_grad(sub, batch=batch)
    lp_s = np.asarray(lp_s, dtype=np.float64)
    g_s = np.asarray(g_s, dtype=np.float64)
    if lp_s.shape != (idx.size,) or g_s.shape != (idx.size, d):
        raise ModelError(
            f"model.logp_and_grad returned shapes {lp_s.shape} and {g_s.shape} for "
            f"{idx.size} points in {d} dimensions; expected ({idx.size},) and ({idx.size}, {d})."
        )
    good = np.isfinite(lp_s) & finite_rows(g_s)
    if idx.size == n and good.all():
        # the common case: one copy (callers write into the result, and the model may
        # reuse its output buffers) instead of a zeroed array and an indexed scatter
        return lp_s.copy(), g_s.copy(), good, todo
    g = np.zeros((n, d))
    sel = idx[good]
    lp[sel] = lp_s[good]
    g[sel] = g_s[good]
    ok[sel] = True
    return lp, g, ok, todo


def _select_rows(keep, a, b):
    """Rows of a where ``keep``, of b elsewhere. States and proposals are never written to
    once made (see the module docstring), so when every row comes from one side that array
    itself is the result: an unadjusted kernel accepts every chain, and copying a BNN
    population twice per step cost ~4% of its gradient time."""
    if keep.all():
        return a
    if not keep.any():
        return b
    out = np.empty_like(a)
    select_rows(keep, a, b, out)
    return out


def zero_hessian(model):
    """Whether ``model`` declares its Hessian-vector products identically zero (attribute
    ``zero_hessian``, set by the adaptation's first-order proxy): VJPs then skip the products
    and the arithmetic that feeds them."""
    return bool(getattr(model, "zero_hessian", False))


def hvp_rows(model, X, V, rows):
    """Row-wise Hessian-vector products H(xᵢ) vᵢ for the rows where ``rows`` is True, 0 elsewhere."""
    out = np.zeros_like(V)
    idx = np.flatnonzero(rows)
    if idx.size == X.shape[0]:
        out[:] = model.hvp(X, V)
    elif idx.size:
        out[idx] = model.hvp(X[idx], V[idx])
    return out


def full_data_note(transition, model):
    """Why ``transition``'s ``batch_size`` gives full-data steps on ``model``, or None: the
    model has no minibatch support (no ``n_data``) or the batch covers all its data."""
    size = getattr(transition, "batch_size", None)
    if size is None:
        return None
    n_data = getattr(model, "n_data", None)
    if n_data is None:
        return (f"the {transition.name} kernel's batch_size={size} is not used: the model has "
                "no minibatch support (no n_data), so every step uses the full data.")
    if size >= n_data:
        return (f"the {transition.name} kernel's batch_size={size} covers all {n_data} data "
                "points: every step uses the full data (no minibatch noise).")
    return None


def minibatch(model, batch_size, batch_seed):
    """Sorted minibatch indices drawn without replacement, or None for the full gradient
    (no ``batch_size``, a model without ``n_data``, or a batch covering all the data)."""
    n_data = getattr(model, "n_data", None)
    if batch_size is None or n_data is None or batch_size >= n_data:
        return None
    rng = np.random.default_rng(batch_seed)
    return np.sort(rng.choice(int(n_data), size=batch_size, replace=False))


class Transition:
    """Base class. Subclasses set ``name`` and ``metropolis`` and implement ``n_params``,
    ``init_params``, ``describe``, ``propose`` and ``proposal_vjp`` (see docs/architecture.md).

    Kernels are stateless: φ is passed to every call as a flat float64 vector."""

    name = "transition"
    metropolis = False
    batch_size = None
    _jittered = False
    _spread = False

    # ---- parameters ---------------------------------------------------------------------
    def n_params(self, dim):
        """Length p of φ for a model of dimension ``dim``."""
        raise NotImplementedError

    def init_params(self, model, X=None, step_size=None):
        raise NotImplementedError

    def describe(self, phi):
        raise NotImplementedError

    def get_step_size(self, phi):
        """The step size that ``describe(phi)`` reports, as a float (cheaper where a kernel
        can read it off φ directly: the tuning loop records it every iteration)."""
        return float(self.describe(phi)["step_size"])

    def set_step_size(self, phi, eps):
        raise NotImplementedError(f"the {self.name} kernel has no step-size parameter.")

    def set_inv_mass(self, phi, M):
        raise NotImplementedError(f"the {self.name} kernel has no preconditioner.")

    def proposal_entropy(self, phi, dim=None):
        raise NotImplementedError(
            f"the {self.name} proposal has no closed-form entropy; estimate its φ-gradient "
            "with a score estimator on the (x, y) pairs instead."
        )

    def config(self):
        """The constructor options that rebuild this kernel, as plain Python values:
        ``transitions.make(self.name, **self.config())`` is an equal kernel. A saved run
        records them so that it can be resumed (:func:`mcmcadapt.resume`). Read from the
        attributes named like ``__init__``'s parameters; a kernel that stores an option
        under another name overrides this."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        missing = [p for p in names if not hasattr(self, p)]
        if missing:
            raise NotImplementedError(
                f"{type(self).__name__} keeps no attribute for its option(s) {missing}; "
                "override config() to return the options that rebuild it.")
        return {p: _plain(getattr(self, p)) for p in names}

    def metropolis_twin(self, phi, dim):
        """``(twin, φ_twin)``: a Metropolis-adjusted kernel whose proposal at φ_twin is this
        kernel's proposal at φ (with full-data gradients), or None. An unadjusted kernel has
        no acceptance rate; its twin's measures how far the proposal is from reversible,
        which the adaptation uses to start from a stable step size (mapped back by
        :meth:`step_size_from_twin`)."""
        return None

    def step_size_from_twin(self, phi, eps):
        """Copy of φ whose proposal is the twin's at step size ``eps``."""
        return self.set_step_size(phi, eps)

    def without_vjp(self):
        """A kernel making the same moves, bit for bit, whose proposals need not support the
        VJPs, so it may keep less: what sampling and window adaptation use (HMC keeps two
        positions instead of its trajectory). The kernel itself where nothing is saved."""
        return self

    # ---- moving -------------------------------------------------------------------------
    def init(self, model, X):
        """State at positions X (n, d), with the full-data log density and gradient."""
        d = model_dim(model)
        X = as_particles(X, name="X", min_rows=1, dim=d)
        lp, g, ok, _ = evaluate(model, X)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            raise ModelError(
                f"the log density or its gradient is not finite at {bad.size} starting "
                f"position(s) (first: row {bad[0]}); start the chains inside the support."
            )
        return State(x=X, logp=lp, grad=g)

    def draw_noise(self, n, d, rng):
        """All randomness of one step for n chains in d dimensions (see :class:`Noise`)."""
        n, d = positive_int(n, "n", error=InputError), positive_int(d, "d", error=InputError)
        rng = as_generator(rng)
        xi = standard_normal(rng, n, d)
        log_u = np.log(rng.random(n)) if self.metropolis else None
        jitter = 1.0 - rng.random(n) if self._jittered else None
        batch_seed = int(rng.integers(2**63 - 1)) if self.batch_size is not None else None
        spread = rng.random(n) if self._spread else None
        return Noise(xi=xi, log_u=log_u, jitter=jitter, batch_seed=batch_seed, spread=spread)

    def accept(self, state, proposal, noise):
        """Metropolis test with the noise's uniforms (unadjusted: accept unless diverging)."""
        logr = proposal.log_accept_ratio
        live = ~proposal.diverging
        if self.metropolis:
            accepted = live & (noise.log_u < logr)
        else:
            accepted = live
        with np.errstate(over="ignore"):
            acc_rate = np.where(live, np.exp(np.minimum(logr, 0.0)), 0.0)
        new = State(
            x=_select_rows(accepted, proposal.y, state.x),
            logp=np.where(accepted, proposal.logp_y, state.logp),
            grad=_select_rows(accepted, proposal.grad_y, state.grad),
        )
        energy = None
        if proposal.energy is not None:
            energy = np.where(accepted, proposal.energy, proposal.energy_x)
        info = Info(
            acceptance_rate=acc_rate,
            accepted=accepted,
            diverging=proposal.diverging.copy(),
            energy=energy,
            n_grad=proposal.n_grad.copy(),
            log_accept_ratio=logr.copy(),
            step_size=proposal.step_size,
        )
        return new, info

    def step(self, model, state, phi, rng):
        """One move of the whole population: ``draw_noise``, ``propose``, ``accept``."""
        n, d = state.x.shape
        noise = self.draw_noise(n, d, rng)
        return self.accept(state, self.propose(model, state, phi, noise), noise)

    def propose(self, model, state, phi, noise):
        raise NotImplementedError

    def proposal_vjp(self, model, state, phi, noise, proposal, cot_y, need_x=True):
        """(∂/∂φ (p,), ∂/∂x (n, d)) of Σᵢ cot_yᵢ · yᵢ with the noise held fixed; with
        ``need_x=False`` the x-part is not computed and None is returned in its place."""
        raise NotImplementedError

    def column_vjp(self, model, state, phi, noise, proposal, cot, columns):
        """∂/∂φ (p,) of Σᵢ Σₖ cot[i, k] · y[i, columns[k]], noise fixed: the φ-part of
        :meth:`proposal_vjp` for a cotangent that vanishes outside ``columns`` (a sorted
        integer array of m distinct coordinates; ``cot`` (n, m)). Lets an objective estimate
        ∂/∂φ from a subset of the coordinates (see :class:`~mcmcadapt.adaptation.kl.KLObjective`'s
        ``coordinates``). This default scatters the cotangent and runs the full VJP; kernels
        whose φ-derivative is a sum of per-coordinate terms (diagonal preconditioners, the
        learned coordinate-wise update) touch only the m columns."""
        n, d = self._check_state(model, state)
        columns = check_columns(columns, d)
        full = np.zeros((n, d))
        full[:, columns] = self._check_cot(cot, (n, columns.size), "cot")
        return self.proposal_vjp(model, state, phi, noise, proposal, full, need_x=False)[0]

    def log_ratio_vjp(self, model, state, phi, noise, proposal, cot_r):
        raise NotImplementedError(
            f"the {self.name} kernel is unadjusted (no accept/reject step), so it has no "
            "log acceptance ratio to differentiate."
        )

    # ---- checks -------------------------------------------------------------------------
    def _check_phi(self, phi, dim):
        phi = np.asarray(phi, dtype=np.float64)
        if dim is not None and dim < 0:  # no dimension has a φ of this shape
            raise InputError(
                f"phi has shape {phi.shape}, which is no parameter vector of {self!r} (a 1-D "
                "array whose length fits the kernel's layout). Build it with init_params(model)."
            )
        p = self.n_params(dim)
        if phi.shape != (p,):
            raise InputError(
                f"phi must be a 1-D array of length {p} for {self!r} in {dim} dimensions; got "
                f"shape {phi.shape}. Build it with init_params(model)."
            )
        if not all_finite(phi):
            raise InputError("phi contains NaN or inf; pass finite kernel parameters.")
        return phi

    def _check_state(self, model, state):
        d = model_dim(model)
        x = state.x
        if x.ndim != 2 or x.shape[1] != d:
            raise InputError(
                f"state.x must have shape (n_chains, {d}); got {x.shape}. Build the state with "
                "init(model, X)."
            )
        n = x.shape[0]
        if state.logp.shape != (n,) or state.grad.shape != (n, d):
            raise InputError(
                f"state.logp / state.grad have shapes {state.logp.shape} / {state.grad.shape}; "
                f"expected ({n},) and ({n}, {d}). Build the state with init(model, X)."
            )
        return n, d

    def _check_noise(self, noise, n, d):
        if noise.xi.shape != (n, d):
            raise InputError(
                f"noise.xi has shape {noise.xi.shape} but the state has {n} chains in {d} "
                "dimensions; draw it with draw_noise(n, d, rng)."
            )
        needs = {
            "log_u": self.metropolis,
            "jitter": self._jittered,
            "spread": self._spread,
        }
        for key, needed in needs.items():
            val = getattr(noise, key)
            if needed and (val is None or np.shape(val) != (n,)):
                raise InputError(
                    f"noise.{key} must be an array of shape ({n},) for {self!r}; draw the noise "
                    "with this kernel's draw_noise."
                )
        if self.batch_size is not None and noise.batch_seed is None:
            raise InputError(
                f"noise.batch_seed is missing for minibatch kernel {self!r}; draw the noise "
                "with this kernel's draw_noise."
            )

    @staticmethod
    def _check_cot(cot, shape, name):
        cot = np.asarray(cot, dtype=np.float64)
        if cot.shape != shape:
            raise InputError(f"{name} must have shape {shape}; got {cot.shape}.")
        if not all_finite(cot):
            raise InputError(f"{name} contains NaN or inf; pass a finite cotangent.")
        return cot
