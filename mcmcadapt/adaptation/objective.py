"""The interface every adaptation objective implements.

``update(model, transition, state, phi, rng) -> (new_state, grad_phi, record)`` moves the
population once with the kernel at φ and returns

- ``grad_phi`` (p,): gradient of a loss to *minimise* (maximised objectives hand in the
  negated gradient), or ``None`` when the objective sets φ itself this iteration (the
  window baseline always does);
- ``record``: dict with at least ``"objective"`` (float; NaN where no value is defined),
  ``"acceptance_rate"`` (population mean) and ``"info"`` (the step's per-chain Info);
  optionally ``"n_grad"`` (gradient evaluations spent by the objective on top of the step itself,
  e.g. Hessian-vector products in VJPs; informational — the tuning loop counts
  evaluations at the model). ``record["phi"]``, when present, replaces φ (with a gradient:
  before the gradient step, for coordinates the objective sets itself such as a
  dual-averaged step size; without: as the new φ). ``record["reset"] = True`` marks a jump
  (a re-initialised preconditioner): the optimiser's moments and the iterate average
  restart there.

Optional hooks: ``setup(model, transition, state, phi, n_steps, rng)`` returns
``(state, phi)`` (e.g. an initial step size), ``finalize(transition, phi)`` returns the φ to
keep after the last iteration (e.g. Stan's averaged step size), and ``failed(transition,
phi)`` the φ after an iteration the model failed in (a smaller step).
"""

import time

import numpy as np

from .._validation import finite_rows


class Objective:
    """Base class: no-op hooks and the shared one-step move.

    ``kernel_seconds`` / ``kernel_cpu_seconds`` accumulate the wall / thread CPU time that
    :meth:`move` spends outside the model: the kernel's own work, which plain sampling pays
    too. The rest of an iteration outside the model is the adaptation's (score estimates,
    VJPs, probes, step-size searches, the optimiser); :func:`~.tune.tune` reports both."""

    name = "objective"
    uses_gradient = True
    kernel_seconds = 0.0
    kernel_cpu_seconds = 0.0

    def move(self, model, transition, state, phi, rng):
        """One step of the whole population with the kernel at φ, as ``transition.step``
        takes it, returning ``(noise, proposal, new_state, info)``. ``model`` is the
        tuning loop's counting proxy, whose clocks (``seconds``, ``cpu_seconds``) tell the
        model's share of the step; a plain model counts wholly as kernel time."""
        t0, c0 = time.perf_counter(), time.thread_time()
        m0, mc0 = getattr(model, "seconds", 0.0), getattr(model, "cpu_seconds", 0.0)
        n, d = state.x.shape
        noise = transition.draw_noise(n, d, rng)
        prop = transition.propose(model, state, phi, noise)
        new_state, info = transition.accept(state, prop, noise)
        self.kernel_seconds += (time.perf_counter() - t0) - (getattr(model, "seconds", 0.0) - m0)
        self.kernel_cpu_seconds += ((time.thread_time() - c0)
                                    - (getattr(model, "cpu_seconds", 0.0) - mc0))
        return noise, prop, new_state, info

    def setup(self, model, transition, state, phi, n_steps, rng):
        return state, phi

    def update(self, model, transition, state, phi, rng):
        raise NotImplementedError

    def finalize(self, transition, phi):
        return phi

    def failed(self, transition, phi):
        """φ after an iteration in which the model failed (NaN, an exception; the population
        stays where it was): a smaller step, as a rejection at this step size asks. A step
        size under dual averaging counts the iteration as acceptance 0; otherwise it is
        halved. Without this, a step size that reaches where the model breaks down would
        fail every iteration until tuning gives up."""
        dual = getattr(self, "dual", None)
        try:
            if dual is not None and getattr(self, "range", None) is None:
                return transition.set_step_size(phi, dual.update(0.0))
            return transition.set_step_size(phi, 0.5 * transition.get_step_size(phi))
        except NotImplementedError:  # a kernel without a step-size parameter
            return phi

    def settings(self):
        """JSON-serialisable description of the objective's options."""
        return {"name": self.name}


def nonfinite_chains(proposal):
    """Boolean (n,) mask of proposals whose position, log density or gradient is not finite."""
    bad = ~np.isfinite(proposal.logp_y) | ~finite_rows(proposal.grad_y)
    bad |= ~finite_rows(proposal.y)
    return bad
