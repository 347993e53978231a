"""Natural per-coordinate scales of φ for the optimiser.

Adam moves every coordinate by about its learning rate per step. That suits log-scale
entries (log step size, log diagonal of a Cholesky factor, log trajectory length), but not
the raw strictly-lower entries L_ij of a dense factor, whose units are those of row i of L:
a fixed additive step is negligible for a row of norm 100 and violent for one of norm 0.01.
Moreover Adam moves even pure-noise coordinates by a fraction of the rate each step, and a
d×d perturbation with independent entries of size s has operator norm ≈ 2s√d: to keep the
relative change of L per step O(lr), entries must move by lr/√d. For the documented
layout of preconditioned kernels (φ = [log ε, log diag L (d), strict lower triangle of L
in ``numpy.tril_indices(d, -1)`` order, extras]) each L_ij therefore gets the scale
‖L_i·‖/√d = √(M_ii/d); everything else gets 1.
"""

import numpy as np


def param_scales(transition, phi):
    """(p,) multipliers of the learning rate at the current φ, or None when all are 1
    (every kernel without a dense preconditioner)."""
    if getattr(transition, "precond", None) != "dense":
        return None
    M = transition.describe(phi).get("inv_mass")
    if M is None:
        return None
    scales = np.ones(np.shape(phi))
    d = M.shape[0]
    rows, _ = np.tril_indices(d, -1)
    scales[1 + d: 1 + d + rows.size] = np.sqrt(np.diag(M) / d)[rows]
    return scales


def metric_block(transition, phi):
    """slice of φ holding the preconditioner (empty when the kernel has none), for the
    documented layout φ = [log ε, θ, extras] of preconditioned kernels."""
    described = transition.describe(phi)
    if "inv_mass" in described:
        d = described["inv_mass"].shape[0]
        return slice(1, 1 + d * (d + 1) // 2)
    if "inv_mass_diag" in described:
        return slice(1, 1 + np.size(described["inv_mass_diag"]))
    return slice(1, 1)


def log_det_factor(transition, phi):
    """(log det L, d) of the preconditioner factor, from ``describe(phi)``."""
    described = transition.describe(phi)
    if "inv_mass" in described:
        M = described["inv_mass"]
        return float(np.sum(np.log(np.diag(np.linalg.cholesky(M))))), M.shape[0]
    if "inv_mass_diag" in described:
        v = described["inv_mass_diag"]
        return 0.5 * float(np.sum(np.log(v))), np.size(v)
    raise NotImplementedError(f"{transition!r} has no preconditioner block in φ.")


def first_order_entropy(transition, phi):
    """Entropy (up to a constant) of the proposal with the forces held fixed, and its
    φ-gradient, for preconditioned kernels: then y is affine in the Gaussian noise with
    Jacobian ∝ s·L, where s is the length of the move — the step size ε (Gaussian proposals,
    HMC with a fixed number of steps), or the trajectory length T of HMC when φ holds it
    (last entry, log T; the step size then only splits T into steps) — so
    H = d·log s + log det L. For the Gaussian-proposal kernels this is their exact entropy;
    for HMC it is the small-trajectory (free-particle) limit, which cannot see a trajectory
    turning back (so it cannot stop a tuned trajectory length from growing past a U-turn)."""
    logdet_L, d = log_det_factor(transition, phi)
    grad = np.zeros(np.shape(phi))
    scale = -1 if "trajectory_length" in transition.describe(phi) else 0
    grad[scale] = d
    grad[1:1 + d] = 1.0
    return d * float(phi[scale]) + logdet_L, grad
