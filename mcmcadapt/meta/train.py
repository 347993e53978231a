"""Meta-training of a sampler's parameters φ by the unrolled KL objective.

The protocol of Li & Turner (2018, Sec. 4.2, and their code): a population of
``particles`` chains starts from the prior; every iteration runs ``unroll`` steps, takes
one Adam step on ∇_φ Σ_t KL(q_t ‖ p) (:mod:`.unroll`), and carries the population on (the
gradient is truncated at unroll boundaries); every ``restart_every`` iterations the
population restarts from the prior, so the sampler is trained on the whole approach to the
posterior, not only at stationarity.
"""

from dataclasses import dataclass, field

import numpy as np

from .._validation import as_generator, positive_float, positive_int
from ..adaptation.counting import CountingModel
from ..adaptation.optim import Adam
from ..adaptation.progress import Progress
from ..errors import (DegenerateParticlesError, HyperparameterError, InputError,
                      SingularMatrixError)
from .estimators import make_entropy_estimator
from .fast import FastLearned
from .unroll import unrolled_kl_gradient

STATUS = {"ok": 0, "clipped": 1, "skipped": 2, "estimator_failed": 3}


@dataclass
class MetaResult:
    """What :func:`meta_train` learnt.

    ``phi`` (p,) final parameters; ``phi0`` the starting ones; ``transition`` the kernel;
    ``history``: per iteration ``fisher`` (mean over the unroll of the estimated Fisher
    divergence; without entropy term for MAP), ``logp`` (population mean log density after
    the unroll), ``score_ratio`` (mean over the unroll of RMS‖ĝ‖/RMS‖∇log p‖: the weight
    of the entropy term), ``grad_norm``, ``status`` (see ``STATUS``), ``n_diverging``;
    ``settings`` (JSON-serialisable); ``n_grad`` gradient evaluations (rows of
    logp_and_grad; a Hessian-vector product row counts 2 by central differences, 1 when
    the model's is analytic)."""

    phi: np.ndarray
    phi0: np.ndarray
    transition: object
    history: dict
    settings: dict = field(default_factory=dict)
    n_grad: int = 0


def prior_sampler(model):
    """``sample(n, rng) -> (n, dim)``: the model's ``sample_prior`` when it has one (BNN
    targets), else standard normal draws."""
    if hasattr(model, "sample_prior"):
        return lambda n, rng: model.sample_prior(n, seed=rng)
    return lambda n, rng: rng.standard_normal((n, model.dim))


def meta_train(model, estimator="stein", *, transition=None, phi0=None, particles=50,
               unroll=10, iterations=500, restart_every=10, lr=1e-3, clip_norm=10.0,
               init=None, estimator_options=None, seed=0, progress=None):
    """Train φ of an unadjusted kernel on ``model`` by the unrolled KL objective.

    Parameters
    ----------
    model : Model (e.g. a BNN posterior)
    estimator : "stein", "ssge", "kde", "ksm" (kernel score matching), "map"/None (no
        entropy term), or an estimator instance (see :mod:`.estimators`)
    transition : unadjusted kernel, or its name ("learned", "sgld", "ula"; minibatch
        kernels built with ``batch_size=32``); default ``FastLearned(hidden=20, zeta=1e-5, batch_size=32)``
        (the paper's sampler and minibatch)
    phi0 : starting φ; default ``transition.init_params(model)`` (for the learned kernel:
        the Langevin step y = x + ζ∇log p + √(2ζ)ξ)
    particles, unroll, iterations, restart_every : population size, steps per gradient,
        Adam steps, and iterations between restarts from ``init``
    lr, clip_norm : Adam learning rate and gradient-norm clip
    init : ``sample(n, rng) -> (n, dim)`` starting positions; default the prior
        (:func:`prior_sampler`)
    estimator_options : constructor overrides for an estimator given by name
    seed : int, None or Generator
    progress : None (on a terminal), True or False

    A non-finite gradient skips the update (φ unchanged, status recorded) and the population
    moves on; a score estimator that fails on a degenerate population skips the update and
    restarts the population from ``init``.
    """
    for name, v in (("particles", particles), ("unroll", unroll), ("iterations", iterations),
                    ("restart_every", restart_every)):
        positive_int(v, name, error=InputError)
    if particles < 2:
        raise InputError("particles must be at least 2: the entropy term needs a population.")
    positive_float(lr, "lr")
    rng = as_generator(seed)
    counting = CountingModel(model)
    if transition is None:
        kernel = FastLearned(batch_size=32)
    elif isinstance(transition, str):   # a name, as tune() takes: with the paper's minibatch
        import inspect

        from ..transitions import KERNELS, make

        cls = KERNELS.get(transition.lower())
        takes_batch = cls is not None and "batch_size" in inspect.signature(cls).parameters
        kernel = make(transition, **({"batch_size": 32} if takes_batch else {}))
    else:
        kernel = transition
    if kernel.metropolis:
        raise HyperparameterError(
            f"meta-training differentiates through every step; {kernel.name!r} has an "
            "accept/reject step. Use an unadjusted kernel (learned, sgld, ula).")
    est, est_name = make_entropy_estimator(estimator, estimator_options)
    sample = prior_sampler(model) if init is None else init
    phi = np.asarray(kernel.init_params(model) if phi0 is None else phi0, dtype=np.float64).copy()
    phi_start = phi.copy()
    opt = Adam(lr=lr, clip_norm=clip_norm)
    h = {k: np.full(int(iterations), np.nan)
         for k in ("fisher", "logp", "score_ratio", "grad_norm")}
    h["status"] = np.zeros(int(iterations), dtype=np.int64)
    h["n_diverging"] = np.zeros(int(iterations), dtype=np.int64)
    bar = Progress(iterations, f"meta-train {est_name}", progress)
    state = None
    for it in range(int(iterations)):
        if it % int(restart_every) == 0:
            state = kernel.init(counting, sample(int(particles), rng))
        try:
            grad, state, rec = unrolled_kl_gradient(counting, kernel, phi, state, int(unroll),
                                                    rng, est)
        except (DegenerateParticlesError, SingularMatrixError):
            h["status"][it] = STATUS["estimator_failed"]
            state = kernel.init(counting, sample(int(particles), rng))
            continue
        phi, status = opt.step(phi, grad, float(np.sum(rec["fisher"])))
        h["status"][it] = STATUS[status]
        h["fisher"][it] = float(np.mean(rec["fisher"]))
        h["logp"][it] = float(rec["logp"][-1])
        h["score_ratio"][it] = float(np.mean(rec["score_ratio"]))
        h["grad_norm"][it] = float(np.linalg.norm(grad))
        h["n_diverging"][it] = rec["n_diverging"]
        bar.update(it + 1, logp=h["logp"][it])
    bar.close()
    settings = {"estimator": est_name, "estimator_options": _jsonable(estimator_options),
                "estimator_repr": repr(est),
                "particles": int(particles), "unroll": int(unroll),
                "iterations": int(iterations), "restart_every": int(restart_every),
                "lr": float(lr), "clip_norm": clip_norm, "model": getattr(model, "name", ""),
                "kernel": repr(kernel), "seed": seed if isinstance(seed, (int, type(None)))
                else "generator"}
    return MetaResult(phi=phi, phi0=phi_start, transition=kernel, history=h,
                      settings=settings, n_grad=int(counting.n_grad))


def _jsonable(options):
    return None if options is None else {k: (v if isinstance(v, (int, float, str, bool))
                                             or v is None else repr(v))
                                         for k, v in options.items()}
