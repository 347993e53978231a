"""The learned sampler with a compiled forward pass, for long sampling runs."""

import numpy as np

from ..transitions.base import Proposal, evaluate, minibatch
from ..transitions.learned import Learned
from ._numba import learned_update


class FastLearned(Learned):
    """:class:`~mcmcadapt.transitions.Learned` whose ``propose`` runs the per-coordinate
    network in one fused Numba kernel (:func:`._numba.learned_update`) instead of numpy.

    Same constructor, parameters φ, noise, divergence rule and VJPs (inherited: they need
    the network's intermediates, which the numpy path keeps). Proposals agree with
    ``Learned.propose`` to rounding, so φ trained with either runs on either."""

    name = "learned"

    def __repr__(self):
        return "Fast" + super().__repr__()

    def propose(self, model, state, phi, noise):
        """One update per chain; one gradient evaluation per chain (at y)."""
        n, d = self._check_state(model, state)
        phi = self._check_phi(phi, d)
        self._check_noise(noise, n, d)
        w_x, w_g, b, w_d, b_d, w_v, b_v = self._unpack(phi)
        y = np.empty(n * d)
        learned_update(state.x.ravel(), state.grad.ravel(), noise.xi.ravel(), w_x, w_g, b,
                       w_d, float(b_d), w_v, float(b_v), self.zeta, y)
        y = y.reshape(n, d)
        with np.errstate(over="ignore", invalid="ignore"):
            batch = minibatch(model, self.batch_size, noise.batch_seed)
            lp_y, g_y, ok, evaluated = evaluate(model, y, batch=batch)
        div = ~ok
        logr = np.zeros(n)
        if div.any():
            y[div], lp_y[div], g_y[div] = state.x[div], state.logp[div], state.grad[div]
            logr[div] = -np.inf
        return Proposal(y=y, logp_y=lp_y, grad_y=g_y, log_accept_ratio=logr,
                        n_grad=evaluated.astype(np.int64), diverging=div)
