"""Fused passes for diagonal preconditioners: the forward updates of the Gaussian proposals
and of HMC's leapfrog (compiled without fast-math, so they round exactly as the numpy
expressions they replace and the trajectories are the same to the last bit), and the
reverse-mode accumulations of their VJPs.

With a diagonal (or identity) preconditioner every L-gradient the kernels accumulate is a
column sum of row-weighted elementwise products, Σᵢ rᵢ aᵢⱼ bᵢⱼ. Written with numpy, each
term is a separate pass over the population's (n, d) arrays, and during adaptation those
arrays have just been pushed out of cache by the model's gradient: on an 801-dimensional
BNN with 50 chains the first-order HMC backward pass cost a third of the gradient
evaluations it differentiated. Here every array is read once, and chains whose cotangent is
zero are skipped (the speed objective's cotangent vanishes for every chain with log r ≥ 0,
typically half the population or more).
"""

import numpy as np
from numba import njit

_JIT = {"cache": True, "fastmath": {"contract"}, "error_model": "numpy"}


@njit(**_JIT)
def row_weighted_colsums(r, A, B, C):
    """(2, d): Σᵢ rᵢ Aᵢⱼ Bᵢⱼ and Σᵢ rᵢ Aᵢⱼ Cᵢⱼ for r (n,) and A, B, C (n, d); rows with
    rᵢ = 0 are skipped."""
    n, d = A.shape
    out = np.zeros((2, d))
    for i in range(n):
        ri = r[i]
        if ri == 0.0:
            continue
        for j in range(d):
            a = ri * A[i, j]
            out[0, j] += a * B[i, j]
            out[1, j] += a * C[i, j]
    return out


# IEEE arithmetic, no contraction: the same roundings as the numpy expressions these replace,
# so that a proposal is the same to the last bit whichever path computes it
_EXACT = {"cache": True, "error_model": "numpy"}


@njit(**_EXACT)
def gaussian_move(x, xi, g, F, eps, c):
    """x + ε(ξ ⊙ F) + c((g ⊙ F) ⊙ F) for a diagonal factor F (d,): the Gaussian kernels'
    proposal (c = δε²/2) in one pass instead of five population-sized temporaries."""
    n, d = x.shape
    y = np.empty((n, d))
    for i in range(n):
        for j in range(d):
            y[i, j] = x[i, j] + eps * (xi[i, j] * F[j])
    if c != 0.0:
        for i in range(n):
            for j in range(d):
                y[i, j] = y[i, j] + c * ((g[i, j] * F[j]) * F[j])
    return y


@njit(**_EXACT)
def gaussian_reverse_noise(xi, gx, gy, F, k):
    """(s, w) with s = gx + gy and w = ξ + k(s ⊙ F): the Metropolis ratio's reverse-move
    noise for a diagonal factor F (k = δε/2), in one pass."""
    n, d = xi.shape
    s = np.empty((n, d))
    w = np.empty((n, d))
    for i in range(n):
        for j in range(d):
            sij = gx[i, j] + gy[i, j]
            s[i, j] = sij
            w[i, j] = xi[i, j] + k * (sij * F[j])
    return s, w


@njit(**_EXACT)
def row_scaled_step(a, c, b, F, out):
    """out = a + c[:, None] ⊙ (b ⊙ F) for a diagonal factor F (d,) and per-row c (n,): a
    leapfrog drift (x + h Lv) or kick (v + c Lᵀg) in one pass, the numpy expression's
    roundings. ``out`` may be ``a``."""
    n, d = a.shape
    for i in range(n):
        ci = c[i]
        for j in range(d):
            out[i, j] = a[i, j] + ci * (b[i, j] * F[j])


@njit(**_EXACT)
def row_scaled_step_sqnorm(a, c, b, F):
    """Row norms ‖aᵢ + cᵢ (bᵢ ⊙ F)‖² without forming the rows (the leapfrog energy check)."""
    n, d = a.shape
    out = np.zeros(n)
    for i in range(n):
        ci = c[i]
        acc = 0.0
        for j in range(d):
            t = a[i, j] + ci * (b[i, j] * F[j])
            acc += t * t
        out[i] = acc
    return out


@njit(**_EXACT)
def select_rows(keep, a, b, out):
    """out[i] = a[i] if keep[i] else b[i] (rows), in one pass."""
    n, d = a.shape
    for i in range(n):
        if keep[i]:
            for j in range(d):
                out[i, j] = a[i, j]
        else:
            for j in range(d):
                out[i, j] = b[i, j]


@njit(**_JIT)
def leapfrog_backward_first_order(rows, hs, gs, vhs, F, xbar, vbar, glog_rows):
    """L-gradient (d,) of the reverse pass through stored leapfrog trajectories with a
    diagonal factor F (d,) and the forces held fixed (so the position adjoint xbar stays
    constant), for the chains ``rows`` (int array) only; see ``HMC._backward``.

    hs (K, n): step of leapfrog k per chain (0 once a chain has stopped); gs (K+1, n, d):
    gradients at x_0..x_K; vhs (K, n, d): half-step momenta; xbar, vbar (n, d): adjoints of
    the final position and momentum. glog_rows (n,) receives each listed chain's share
    ⟨Gᵢ, F⟩ of ⟨G, F⟩, its derivative with respect to the log of its own step size."""
    K = hs.shape[0]
    d = F.shape[0]
    G = np.zeros(d)
    vb = np.empty(d)
    for i in rows:
        for j in range(d):
            vb[j] = vbar[i, j]
        gl = 0.0
        for k in range(K, 0, -1):
            hk = hs[k - 1, i]
            coef = 0.5 * (hk + (hs[k, i] if k < K else 0.0))  # kick at x_k
            if coef > 0.0:
                for j in range(d):
                    t = coef * gs[k, i, j] * vb[j]
                    G[j] += t
                    gl += t * F[j]
            if hk != 0.0:  # drift x_k = x_{k-1} + h L v_{k-1/2}
                for j in range(d):
                    xb = hk * xbar[i, j]
                    vb[j] += xb * F[j]
                    t = xb * vhs[k - 1, i, j]
                    G[j] += t
                    gl += t * F[j]
        coef = 0.5 * hs[0, i]
        for j in range(d):
            t = coef * gs[0, i, j] * vb[j]
            G[j] += t
            gl += t * F[j]
        glog_rows[i] = gl
    return G
