"""``sample``: run the tuned kernel and stream draws into preallocated arrays."""

import dataclasses
import warnings

import numpy as np

from .._validation import as_generator, positive_int
from ..adaptation.counting import CountingModel
from ..adaptation.progress import Progress
from ..errors import InputError, ModelError
from ..transitions.base import full_data_note
from .output import build_datatree


def take_rows(state, idx):
    """The sub-population ``idx`` of a State (dataclass or namedtuple of per-chain arrays):
    every array field whose leading length is the population size is indexed."""
    n = state.x.shape[0]

    def pick(v):
        return v[idx] if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n else v

    if dataclasses.is_dataclass(state):
        return dataclasses.replace(state, **{f.name: pick(getattr(state, f.name))
                                             for f in dataclasses.fields(state) if f.init})
    if hasattr(state, "_replace"):
        return state._replace(**{k: pick(v) for k, v in state._asdict().items()})
    raise InputError(f"cannot select chains from a state of type {type(state).__name__}.")


def starting_chains(result, chains, rng):
    """Indices of ``chains`` members of the tuned population (without replacement when the
    population is large enough, else with)."""
    n = result.state.x.shape[0]
    if chains > n:
        warnings.warn(
            f"sampling {chains} chains from a tuned population of {n}: some chains start at "
            "the same point (they separate at their first step, but R-hat's check of "
            f"dispersed starts is weaker); tune with chains >= {chains} to avoid it.",
            RuntimeWarning, stacklevel=3)
    return rng.choice(n, size=chains, replace=chains > n)


def sample(model, result, chains=4, draws=2000, seed=1, progress=None):
    """Draw ``draws`` iterations of ``chains`` chains with the tuned kernel.

    Parameters
    ----------
    model : Model (the one that was tuned)
    result : TuneResult from :func:`mcmcadapt.tune`
    chains, draws : int
    seed : int, None or numpy Generator
    progress : None (on a terminal), True or False

    Chains start from ``chains`` members of the tuned population ``result.state`` (no
    further burn-in). Returns an ArviZ DataTree (see :func:`~.output.build_datatree`).
    A KeyboardInterrupt keeps the draws completed so far (every chain truncated to the
    same length) and sets the root attribute ``interrupted = 1``; so does a model failure
    (a NaN log density, or any exception the model raises, as a
    :class:`~mcmcadapt.errors.ModelError`), which is also warned about and stored in the
    root attribute ``error``. :func:`~.resume.resume` continues the chains.
    """
    chains = positive_int(chains, "chains", error=InputError)
    draws = positive_int(draws, "draws", error=InputError)
    if not all(hasattr(result, k) for k in ("transition", "phi", "state")):
        raise InputError(f"result must be the TuneResult that mcmcadapt.tune returned, got "
                         f"{type(result).__name__}.")
    if result.state.x.shape[1] != model.dim:
        raise InputError(
            f"the tuning result has dimension {result.state.x.shape[1]} but the model has "
            f"{model.dim}; sample with the model that was tuned.")
    from ..score._threads import compute_threads

    with compute_threads():  # one BLAS thread by default, as in tune()
        return _sample(model, result, chains, draws, seed, progress)


def _sample(model, result, chains, draws, seed, progress):
    rng = as_generator(seed)
    counting = CountingModel(model)
    transition, phi = result.transition, result.phi
    note = full_data_note(transition, model)
    if note:
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    state = take_rows(result.state, starting_chains(result, chains, rng))
    run = run_chains(counting, transition, phi, state, draws, rng,
                     Progress(draws, f"sample {transition.name}", progress))
    return build_datatree(model, result, run, counting, seed=seed, rng=rng,
                          draws_requested=draws)


@dataclasses.dataclass
class ChainRun:
    """What :func:`run_chains` produced: positions ``x`` (chains, done, d), per-draw
    ``stats`` (name -> (chains, done); ``energy`` only for kernels that define one), the
    ``state`` after the last completed draw, whether the run stopped early
    (``interrupted``) and the model failure that stopped it (``error``, else None)."""

    x: np.ndarray
    stats: dict
    state: object
    interrupted: bool
    error: str | None


def run_chains(model, transition, phi, state, draws, rng, bar):
    """Move the chains of ``state`` ``draws`` times with the kernel at φ, streaming every
    draw into preallocated arrays, so that a KeyboardInterrupt or a model failure
    (:class:`~mcmcadapt.errors.ModelError`, warned about) keeps the draws completed so far
    (every chain truncated to the same length). The returned ``state`` and the generator
    are then as they were after the last kept draw. Returns a :class:`ChainRun`."""
    chains, d = state.x.shape
    transition = transition.without_vjp()
    x = np.empty((chains, draws, d))
    stats = {"acceptance_rate": np.empty((chains, draws)),
             "diverging": np.zeros((chains, draws), dtype=bool),
             "lp": np.empty((chains, draws)),
             "n_grad": np.zeros((chains, draws), dtype=np.int64),
             "energy": np.empty((chains, draws)),
             "step_size": np.full((chains, draws), transition.get_step_size(phi))}
    has_energy = False
    done = 0
    interrupted = False
    error = None
    before = None  # (t, generator state before step t)
    try:
        for t in range(draws):
            before = (t, rng.bit_generator.state)
            new_state, info = transition.step(model, state, phi, rng)
            x[:, t] = new_state.x
            stats["acceptance_rate"][:, t] = info.acceptance_rate
            stats["diverging"][:, t] = info.diverging
            stats["lp"][:, t] = new_state.logp
            stats["n_grad"][:, t] = info.n_grad
            if getattr(info, "energy", None) is not None:
                stats["energy"][:, t] = info.energy
                has_energy = True
            if getattr(info, "step_size", None) is not None:
                stats["step_size"][:, t] = info.step_size
            state, done = new_state, t + 1  # one statement: no interrupt between the two
            bar.update(done, acc=float(np.mean(info.acceptance_rate)))
    except KeyboardInterrupt:
        interrupted = True
    except ModelError as err:
        interrupted, error = True, f"draw {done}: {err}"
        warnings.warn(f"sampling stopped at {error}; the {done} completed draws are kept.",
                      RuntimeWarning, stacklevel=4)
    if interrupted and before is not None and before[0] == done:
        # step `done` stopped half-way and drew noise that no draw used: rewinding the
        # generator lets a resumed run continue exactly where the draws stop
        rng.bit_generator.state = before[1]
    bar.close("interrupted" if interrupted else "")
    if not has_energy:
        del stats["energy"]
    return ChainRun(x=x[:, :done], stats={k: v[:, :done] for k, v in stats.items()},
                    state=state, interrupted=interrupted, error=error)
