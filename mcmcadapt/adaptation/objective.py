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

Two optional hooks frame a run: ``setup(model, transition, state, phi, n_steps, rng)``
returns ``(state, phi)`` (e.g. an initial step size), and ``finalize(transition, phi)``
returns the φ to keep after the last iteration (e.g. Stan's averaged step size).
"""

import numpy as np

from .._validation import finite_rows


class Objective:
    """Base class: no-op hooks and the shared one-step move."""

    name = "objective"
    uses_gradient = True

    def setup(self, model, transition, state, phi, n_steps, rng):
        return state, phi

    def update(self, model, transition, state, phi, rng):
        raise NotImplementedError

    def finalize(self, transition, phi):
        return phi

    def settings(self):
        """JSON-serialisable description of the objective's options."""
        return {"name": self.name}


def nonfinite_chains(proposal):
    """Boolean (n,) mask of proposals whose position, log density or gradient is not finite."""
    bad = ~np.isfinite(proposal.logp_y) | ~finite_rows(proposal.grad_y)
    bad |= ~finite_rows(proposal.y)
    return bad
