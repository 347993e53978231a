"""``tune``: adapt a transition kernel's parameters φ on a population of chains."""

import dataclasses
import json
import time
import warnings

import numpy as np

from .._validation import as_generator, check_options, positive_int
from ..errors import HyperparameterError, InputError, ModelError
from ..transitions.base import full_data_note
from .counting import CountingModel
from .kl import KLObjective
from .objective import Objective
from .optim import Adam
from .progress import Progress
from .scales import param_scales
from .speed import SpeedObjective
from .window import WindowAdaptation

OBJECTIVES = {"speed": SpeedObjective, "kl": KLObjective, "window": WindowAdaptation}
STATUS = {"ok": 0, "clipped": 1, "skipped": 2, "failed": 3}
MAX_CONSECUTIVE_FAILURES = 25
# Budget (floats) for the per-iteration parameter record; dense metrics get thinned.
PARAM_RECORD_FLOATS = 2_000_000
# At most this many floats of warm-up positions are kept (32 MB), whatever warmup_max_draws.
WARMUP_RECORD_FLOATS = 4_000_000


@dataclasses.dataclass
class TuneResult:
    """What :func:`tune` learnt.

    Attributes
    ----------
    params : dict
        ``transition.describe(phi)``: step size, preconditioner, ... (human readable).
    phi : ndarray (p,)
        The tuned unconstrained parameters.
    transition : Transition
    history : dict of arrays
        Per iteration (length = iterations run): ``objective``, ``acceptance_rate``,
        ``step_size``, ``grad_norm``, ``status`` (0 ok, 1 clipped, 2 skipped non-finite,
        3 model failure), ``beta`` (speed objective, else NaN), ``n_bad`` (chains with a
        non-finite or diverging proposal), ``n_grad`` (cumulative gradient evaluations);
        ``params``: dict name -> array (k, ...) of ``describe(phi)`` at iterations
        ``param_iteration`` (every iteration unless a dense metric forces thinning).
    state : State
        Final population (``state.x`` has shape (chains, d)).
    n_grad : int
        Gradient evaluations of the whole warm-up (heuristics and VJPs included).
    n_grad_full : float
        The same in full-data gradients: a minibatch gradient (SGLD) counts its share of the
        data; equal to ``n_grad`` for full-data kernels.
    warmup_draws : dict or None
        Positions and statistics of the first ``record_chains`` chains, every
        ``warmup_thin``-th iteration: ``x`` (k, T, d), ``lp``, ``acceptance_rate``,
        ``diverging``, ``n_grad``, ``energy`` (k, T) and ``iteration`` (T,).
    interrupted : bool
        True when tuning was stopped by KeyboardInterrupt (φ is what was tuned so far).
    messages : list of str
        Warnings issued during tuning (model failures, skipped updates).
    timing : dict
        Wall seconds: ``total`` (the whole call), ``model`` (inside the model's
        ``logp_and_grad`` / ``hvp``) and ``kernel`` (the population's moves outside the
        model: the kernel's own work, which sampling pays too; timed by
        :meth:`~.objective.Objective.move`, so 0 for a custom objective that moves the
        population without it). What remains, total − model − kernel, is the adaptation's
        overhead (score estimates, VJPs, probes, step-size searches, the optimiser, the
        record). ``cpu_total``, ``cpu_model`` and
        ``cpu_kernel``: the same in CPU seconds of the calling thread (robust to other
        processes; not counting work the model hands to other threads).
    """

    params: dict
    phi: np.ndarray
    transition: object
    history: dict
    state: object
    n_grad: int
    warmup_draws: dict = None
    n_grad_full: float | None = None
    interrupted: bool = False
    messages: list = dataclasses.field(default_factory=list)
    model_name: str = ""
    kernel: str = ""
    objective: str = ""
    estimator: str = ""
    seed: object = None
    settings: dict = dataclasses.field(default_factory=dict)
    timing: dict = dataclasses.field(default_factory=dict)


def make_transition(kernel, precond=None, options=None):
    """A transition from a name ("rwm", "mala", "ula", "hmc", "sgld", "learned") with
    constructor ``options``, or an instance (returned unchanged). ``precond`` ("diag",
    "dense"; None: the kernel's own default) applies to the kernels that have a
    preconditioner (RWM calls it ``scale``) unless ``options`` set it."""
    from .. import transitions

    if not isinstance(kernel, str):
        if precond is not None:
            raise HyperparameterError(
                f"precond={precond!r} applies to kernels given by name; build the "
                f"{type(kernel).__name__} instance with its preconditioner instead.")
        return transitions.make(kernel, **(options or {}))
    key = kernel.lower()
    opts = dict(options or {})
    if precond is not None:
        if key in ("mala", "ula", "hmc", "sgld"):
            opts.setdefault("precond", precond)
        elif key == "rwm":
            opts.setdefault("scale", precond)
        elif key in transitions.KERNELS:
            raise HyperparameterError(
                f"the {key} kernel has no preconditioner; precond={precond!r} does not apply "
                "(leave it None).")
    if key == "hmc" and "trajectory_length" not in opts:
        # a fixed integration time can be periodic on near-Gaussian targets (measured:
        # min ESS 7 of 4000 on German credit without jitter, ~2000 with it)
        opts.setdefault("jitter", True)
    return transitions.make(key, **opts)


def make_objective(objective, estimator="stein", estimator_options=None, target_accept=None,
                   options=None):
    """An objective from a name ("speed", "kl", "window") or an :class:`Objective` instance."""
    if isinstance(objective, Objective):
        given = {k: v for k, v in (("options", options), ("estimator_options", estimator_options),
                                   ("target_accept", target_accept)) if v}
        if given:
            raise HyperparameterError(
                f"{', '.join(given)} cannot be applied to an objective instance "
                f"({type(objective).__name__}); pass them to its constructor.")
        return objective
    if not isinstance(objective, str) or objective.lower() not in OBJECTIVES:
        raise HyperparameterError(
            f"unknown objective {objective!r}; choose one of {sorted(OBJECTIVES)}.")
    key = objective.lower()
    opts = dict(options or {})
    if key in ("speed", "kl"):
        opts.setdefault("estimator", estimator)
        opts.setdefault("estimator_options", estimator_options)
    if target_accept is not None:
        opts.setdefault("target_accept", target_accept)
    check_options(OBJECTIVES[key], opts, f"the {key} objective")
    return OBJECTIVES[key](**opts)


def initial_positions(model, chains, init, rng):
    """(chains, d) starting points: Stan's uniform(−2, 2) in unconstrained space by default;
    an array (d,) is jittered by uniform(−0.1, 0.1) per chain; (chains, d) is used as is."""
    d = model.dim
    if init is None:
        return rng.uniform(-2.0, 2.0, size=(chains, d))
    try:
        X0 = np.asarray(init, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"init must be an array of starting points, shape ({d},) or "
                         f"({chains}, {d}); got {init!r}.") from None
    if X0.shape == (d,):
        return X0 + rng.uniform(-0.1, 0.1, size=(chains, d))
    if X0.shape != (chains, d):
        raise InputError(
            f"init must have shape ({d},) or ({chains}, {d}) (one row per chain); got {X0.shape}.")
    if not np.all(np.isfinite(X0)):
        raise InputError("init contains NaN or inf; give finite starting points.")
    return X0.copy()


class _Recorder:
    """Per-iteration history and thinned warm-up draws, preallocated."""

    def __init__(self, transition, phi, steps, n, d, record_chains, warmup_max_draws):
        self.steps = steps
        scalars = ("objective", "acceptance_rate", "step_size", "grad_norm", "beta")
        self.h = {k: np.full(steps, np.nan) for k in scalars}
        self.h["status"] = np.zeros(steps, dtype=np.int8)
        self.h["n_bad"] = np.zeros(steps, dtype=np.int64)
        self.h["n_grad"] = np.zeros(steps, dtype=np.int64)
        described = transition.describe(phi)
        size = sum(np.size(v) for k, v in described.items() if k != "step_size")
        self.param_every = max(1, int(np.ceil(steps * max(size, 1) / PARAM_RECORD_FLOATS)))
        self.param_iters = list(range(0, steps, self.param_every))
        self.params = {k: np.full((len(self.param_iters),) + np.shape(v), np.nan)
                       for k, v in described.items()
                       if np.issubdtype(np.asarray(v).dtype, np.number)}
        self.k = min(record_chains, n)
        # the warm-up positions are k × T × d floats: thinned further for large models
        # (a 96 001-weight network kept 1000 × 4 positions, 3 GB, by default)
        max_draws = min(warmup_max_draws, WARMUP_RECORD_FLOATS // max(self.k * d, 1))
        self.thin = max(1, int(np.ceil(steps / max(max_draws, 1))))
        T = len(range(0, steps, self.thin)) if self.k else 0
        self.w = {"x": np.full((self.k, T, d), np.nan),
                  "lp": np.full((self.k, T), np.nan),
                  "acceptance_rate": np.full((self.k, T), np.nan),
                  "diverging": np.zeros((self.k, T), dtype=bool),
                  "n_grad": np.zeros((self.k, T), dtype=np.int64),
                  "energy": np.full((self.k, T), np.nan),
                  "step_size": np.full(T, np.nan),
                  "iteration": np.arange(0, steps, self.thin)[:T]}
        self.has_energy = False
        self.done = 0

    def add(self, t, transition, phi, state, rec, status, grad_norm, n_grad):
        h = self.h
        eps = transition.get_step_size(phi)
        h["objective"][t] = rec.get("objective", np.nan)
        h["acceptance_rate"][t] = rec.get("acceptance_rate", np.nan)
        h["step_size"][t] = eps
        h["grad_norm"][t] = grad_norm
        h["beta"][t] = rec.get("beta", np.nan)
        h["status"][t] = STATUS[status]
        h["n_bad"][t] = rec.get("n_bad", 0)
        h["n_grad"][t] = n_grad
        if t % self.param_every == 0:
            j = t // self.param_every
            described = transition.describe(phi)
            for k in self.params:
                self.params[k][j] = described[k]
        info = rec.get("info")
        if self.k and t % self.thin == 0 and info is not None:
            j = t // self.thin
            w, k = self.w, self.k
            w["x"][:, j] = state.x[:k]
            w["lp"][:, j] = state.logp[:k]
            w["acceptance_rate"][:, j] = info.acceptance_rate[:k]
            w["diverging"][:, j] = info.diverging[:k]
            w["n_grad"][:, j] = info.n_grad[:k]
            w["step_size"][j] = eps
            if getattr(info, "energy", None) is not None:
                w["energy"][:, j] = info.energy[:k]
                self.has_energy = True
        self.done = t + 1

    def history(self):
        out = {k: v[: self.done] for k, v in self.h.items()}
        m = len(range(0, self.done, self.param_every))
        out["params"] = {k: v[:m] for k, v in self.params.items()}
        out["param_iteration"] = np.asarray(self.param_iters[:m], dtype=np.int64)
        return out

    def warmup(self):
        if not self.k:
            return None
        T = len(range(0, self.done, self.thin))
        out = {k: (v[:T] if k in ("step_size", "iteration") else v[:, :T])
               for k, v in self.w.items()}
        if not self.has_energy:
            del out["energy"]
        return out


def _config(transition):
    """The kernel's constructor options, or None for a custom kernel without them."""
    try:
        return transition.config()
    except NotImplementedError:
        return None


def _gradient_message(model, X0):
    """A warning when the model's gradient disagrees with finite differences of its log
    density at two starting points: a hand-written gradient with a wrong sign or a missing
    term otherwise shows only as chains that mix badly. Its 10 evaluations are counted in
    the warm-up; its own generator leaves the tuning's stream untouched. Skipped for a model
    whose gradient is an estimate by design (``score_is_estimated``: the surrogate)."""
    from ..models.checks import GRADIENT_TOL, directional_gradient_error

    if getattr(model, "score_is_estimated", False):
        return []
    try:
        with np.errstate(all="ignore"):
            err = directional_gradient_error(model, X0[:2], np.random.default_rng(0))
    except Exception:      # noqa: BLE001 — the kernel's init evaluates the start next and
        return []          # names a failing model properly
    if err is None or err <= GRADIENT_TOL:
        return []
    return [f"the model's gradient disagrees with finite differences of its log density at "
            f"the starting points (relative error {err:.2g}; a correct gradient gives ~1e-8): "
            "a wrong sign or a missing term makes the chains mix badly, whatever the tuning. "
            "Check it with mcmcadapt.models.check_gradients(model, X), which shows the error "
            "per particle."]


def tune(model, kernel="mala", objective="speed", estimator="stein", chains=64, steps=2000,
         seed=0, *, precond=None, init=None, step_size=None, lr=0.02, clip_norm=10.0, average=0.2,
         target_accept=None, kernel_options=None, objective_options=None,
         estimator_options=None, record_chains=4, warmup_max_draws=1000, progress=None,
         phi0=None):
    """Adapt a transition kernel on ``chains`` parallel chains for ``steps`` iterations.

    Parameters
    ----------
    model : Model
    kernel : "rwm", "mala", "ula", "hmc", "sgld", "learned" or a transition instance
    objective : "speed", "kl", "window" or an Objective instance
    estimator : score-estimator name or instance (KL objective; implicit-entropy speed)
    chains, steps : population size and number of adaptation iterations (each moves
        every chain once, so warm-up costs about chains × steps × gradients-per-step)
    seed : int, None or numpy Generator
    precond : "diag", "dense" or None — preconditioner of the kernels given by name that
        have one (MALA, ULA, HMC, SGLD; RWM's ``scale``); None (default) keeps each
        kernel's own default (diagonal; SGLD: none). ``kernel_options`` take precedence;
        ``settings["kernel_options"]`` records what was built.
    init : None, (d,) or (chains, d) starting points (see :func:`initial_positions`)
    step_size : initial step size (None: the kernel's default; objectives that start with
        Stan's heuristic replace it, see their ``init_step_size``)
    lr, clip_norm : Adam learning rate (scalar or per-coordinate of φ) and gradient clip
    average : fraction of the final iterations over which φ is averaged (Polyak
        averaging, gradient objectives only; 0 keeps the last iterate)
    target_accept : acceptance target of Metropolis kernels (None: the objective's
        per-kernel default)
    kernel_options, objective_options, estimator_options : extra constructor arguments
    record_chains, warmup_max_draws : how many chains, and at most how many iterations
        (thinned evenly), of the warm-up to keep in ``warmup_draws``; large models keep
        fewer, at most ``WARMUP_RECORD_FLOATS`` (4·10⁶) position floats in all
    progress : None (show on a terminal), True or False
    phi0 : array (p,), optional
        Start from these parameters instead of ``transition.init_params`` (a saved
        sampler, see :func:`mcmcadapt.meta.load_sampler`, or an earlier ``result.phi``);
        with ``steps=0`` they are used as they are: the result only places the ``chains``
        at ``init`` for :func:`mcmcadapt.sample`. With ``steps > 0`` tuning starts from
        them except for the step size, which objectives that start with Stan's heuristic
        choose afresh, as they do for ``step_size`` (``objective_options=
        {"init_step_size": False}`` keeps it for "speed", and for "kl" with unadjusted
        kernels; HMC with a step spread always sets its step range from the population).

    Returns
    -------
    TuneResult

    Model failures (a :class:`~mcmcadapt.errors.ModelError`, e.g. NaN log density) skip
    the iteration: the population stays where it was, the step size shrinks
    (:meth:`~.objective.Objective.failed`), the failure is recorded (status 3) and warned
    about; 25 in a row re-raise. Non-finite gradients are skipped by
    the optimiser (status 2). KeyboardInterrupt stops tuning cleanly (``interrupted``).
    Numerics run under the package's thread policy (one BLAS thread by default, see
    :mod:`mcmcadapt.score._threads`): population-sized linear algebra is small, and on a
    shared 2-core machine multi-threaded BLAS was measured 100–1000× slower on it.
    """
    from ..score._threads import compute_threads

    with compute_threads():
        return _tune(model, kernel, objective, estimator, chains, steps, seed, precond, init,
                     step_size, lr, clip_norm, average, target_accept, kernel_options,
                     objective_options, estimator_options, record_chains, warmup_max_draws,
                     progress, phi0)


def _tune(model, kernel, objective, estimator, chains, steps, seed, precond, init, step_size,
          lr, clip_norm, average, target_accept, kernel_options, objective_options,
          estimator_options, record_chains, warmup_max_draws, progress, phi0=None):
    start, cpu_start = time.perf_counter(), time.thread_time()
    chains = int(chains)
    steps = int(steps)
    if chains < 2:
        raise InputError(f"chains must be at least 2 (a population), got {chains}.")
    if steps < 0 or (steps == 0 and phi0 is None):
        raise InputError(f"steps must be a positive integer (0 only with phi0, to sample with "
                         f"given parameters), got {steps}.")
    if not 0.0 <= float(average) < 1.0:
        raise HyperparameterError(f"average must lie in [0, 1), got {average!r}.")
    record_chains = positive_int(record_chains, "record_chains", minimum=0, error=InputError)
    warmup_max_draws = positive_int(warmup_max_draws, "warmup_max_draws", minimum=0,
                                    error=InputError)
    rng = as_generator(seed)
    counting = CountingModel(model)
    transition = make_transition(kernel, precond, kernel_options)
    obj = make_objective(objective, estimator, estimator_options, target_accept,
                         objective_options)
    note = full_data_note(transition, model)
    X0 = initial_positions(model, chains, init, rng)
    messages = [note] if note else []
    messages += _gradient_message(counting, X0)
    state = transition.init(counting, X0)
    if phi0 is None:
        phi = np.asarray(transition.init_params(counting, X0, step_size=step_size),
                         dtype=np.float64)
    else:
        phi = np.array(phi0, dtype=np.float64)
        transition._check_phi(phi, model.dim)  # names a φ of the wrong length or non-finite
    kernel_start = (obj.kernel_seconds, obj.kernel_cpu_seconds)  # an instance may be reused
    if steps:
        state, phi = obj.setup(counting, transition, state, phi, steps, rng)
    opt = Adam(lr=lr, clip_norm=clip_norm)
    rec = _Recorder(transition, phi, steps, chains, model.dim, record_chains, warmup_max_draws)
    avg_from = steps - int(round(average * steps)) if obj.uses_gradient else steps
    phi_sum, n_avg = np.zeros_like(phi), 0
    failures, consecutive = 0, 0
    interrupted = False
    bar = Progress(steps, f"tune {transition.name}/{obj.name}", progress)
    try:
        for t in range(steps):
            try:
                new_state, grad, record = obj.update(counting, transition, state, phi, rng)
            except ModelError as err:
                failures += 1
                consecutive += 1
                if failures == 1:
                    messages.append(f"the model failed at iteration {t}: {err}")
                if consecutive >= MAX_CONSECUTIVE_FAILURES:
                    raise ModelError(
                        f"tuning stopped: the model failed {consecutive} iterations in a row "
                        f"(last: {err}). Check the model where the chains are.") from err
                phi = obj.failed(transition, phi)
                rec.add(t, transition, phi, state, {}, "failed", np.nan, counting.n_grad)
                continue
            consecutive = 0
            state = new_state
            if grad is None:
                phi, status, gnorm = record["phi"], "ok", np.nan
                if record.get("reset"):  # φ jumped: stale moments and averages would mislead
                    opt.reset()
                    phi_sum[:], n_avg = 0.0, 0
            else:
                phi = record.get("phi", phi)  # coordinates the objective sets directly
                phi, status = opt.step(phi, grad, record.get("objective", 0.0),
                                       scale=param_scales(transition, phi))
                gnorm = opt.grad_norm
            rec.add(t, transition, phi, state, record, status, gnorm, counting.n_grad)
            if t >= avg_from:
                phi_sum += phi
                n_avg += 1
            bar.update(t + 1, acc=record.get("acceptance_rate", np.nan),
                       eps=rec.h["step_size"][t])
    except KeyboardInterrupt:
        interrupted = True
        messages.append(f"tuning interrupted after {rec.done} of {steps} iterations.")
    bar.close("interrupted" if interrupted else "")
    if n_avg:
        phi = phi_sum / n_avg
    if steps:
        phi = obj.finalize(transition, phi)
    if failures:
        messages.append(f"the model failed in {failures} of {rec.done} iterations; those "
                        "iterations were skipped (population and parameters unchanged).")
    last = rec.h["n_bad"][rec.done - max(1, rec.done // 10):rec.done]
    if last.size and last.sum() > 0.5 * chains * last.size:
        messages.append(
            f"{last.sum() / (chains * last.size):.0%} of the chains' steps in the last "
            f"{last.size} iterations diverged (non-finite density, or a blow-up: see "
            "mcmcadapt.transitions.base): the tuned kernel is unstable where the chains are, "
            "and sampling with it would mostly stand still. Start from a smaller step size, "
            "rescale the target, or use a Metropolis-corrected kernel.")
    if opt.n_skipped:
        messages.append(f"{opt.n_skipped} parameter updates were skipped because the "
                        "gradient or objective was not finite.")
    for msg in messages:
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
    est_name = estimator if isinstance(estimator, str) else type(estimator).__name__
    settings = {"chains": chains, "steps": steps, "precond": precond, "lr": np.ravel(lr).tolist(),
                "clip_norm": clip_norm, "average": average, "target_accept": target_accept,
                "objective": obj.settings(), "kernel_options": _config(transition),
                "estimator_options": estimator_options}
    return TuneResult(
        params=transition.describe(phi), phi=phi, transition=transition,
        history=rec.history(), state=state, n_grad=int(counting.n_grad),
        n_grad_full=float(counting.n_grad_full),
        warmup_draws=rec.warmup(), interrupted=interrupted, messages=messages,
        model_name=getattr(model, "name", "model"), kernel=transition.name, objective=obj.name,
        estimator=est_name, seed=seed if isinstance(seed, (int, type(None))) else "generator",
        settings=json.loads(json.dumps(settings, default=repr)),
        timing={"total": time.perf_counter() - start, "model": counting.seconds,
                "kernel": obj.kernel_seconds - kernel_start[0],
                "cpu_total": time.thread_time() - cpu_start, "cpu_model": counting.cpu_seconds,
                "cpu_kernel": obj.kernel_cpu_seconds - kernel_start[1]})
