"""Numba kernels for one-hidden-layer networks, batched over particles (one thread per particle).

Parameter layout of one particle (row of ``theta``), row-major blocks:
``W1 (d_in, H) | b1 (H,) | W2 (H,) | b2 (1,)``; columns after these are ignored (the
caller owns them, e.g. a noise precision). Activation codes: 0 sigmoid, 1 tanh, 2 relu.

The loops are hand-blocked rather than calling BLAS: inside a parallel region OpenBLAS's
own spinning threads oversubscribe the two cores, and at these shapes (inner dimension
d_in ~ 10-60) the blocked loops are as fast. ``reassoc`` lets LLVM vectorise the sums.
"""

import numpy as np
from numba import njit, prange

from ._vexp import vexp

_FM = {"contract", "reassoc"}


@njit(cache=True, fastmath=_FM)
def _affine(t, X, H, A):
    """A (m, H) = X @ W1 + b1; four input columns per pass so each row of A is loaded once
    per four rows of W1."""
    m, d_in = X.shape
    ob1 = d_in * H
    k4 = d_in - d_in % 4
    for j in range(m):
        a = A[j]
        for h in range(H):
            a[h] = t[ob1 + h]
        for k in range(0, k4, 4):
            x0, x1, x2, x3 = X[j, k], X[j, k + 1], X[j, k + 2], X[j, k + 3]
            w0 = t[k * H:(k + 1) * H]
            w1 = t[(k + 1) * H:(k + 2) * H]
            w2 = t[(k + 2) * H:(k + 3) * H]
            w3 = t[(k + 3) * H:(k + 4) * H]
            for h in range(H):
                a[h] += (x0 * w0[h] + x1 * w1[h]) + (x2 * w2[h] + x3 * w3[h])
        for k in range(k4, d_in):
            xk = X[j, k]
            w = t[k * H:(k + 1) * H]
            for h in range(H):
                a[h] += xk * w[h]


@njit(cache=True, fastmath=_FM)
def _accumulate_xtd(X, D, g):
    """g[k*H + h] += sum_j X[j, k] D[j, h] (the W1 gradient); four data rows per pass."""
    m, d_in = X.shape
    H = D.shape[1]
    m4 = m - m % 4
    for j in range(0, m4, 4):
        d0, d1, d2, d3 = D[j], D[j + 1], D[j + 2], D[j + 3]
        for k in range(d_in):
            x0, x1, x2, x3 = X[j, k], X[j + 1, k], X[j + 2, k], X[j + 3, k]
            gk = g[k * H:(k + 1) * H]
            for h in range(H):
                gk[h] += (x0 * d0[h] + x1 * d1[h]) + (x2 * d2[h] + x3 * d3[h])
    for j in range(m4, m):
        dj = D[j]
        for k in range(d_in):
            xk = X[j, k]
            gk = g[k * H:(k + 1) * H]
            for h in range(H):
                gk[h] += xk * dj[h]


@njit(cache=True, fastmath=_FM)
def _hidden(t, X, H, activation, A, D):
    """Hidden activations into ``A`` (m, H) and their derivatives into ``D`` (m, H)."""
    _affine(t, X, H, A)
    a = A.ravel()
    z = D.ravel()
    kbuf = np.empty(a.size, dtype=np.int64)
    # vexp reads a and writes z: distinct arrays keep LLVM's overlap check on the fast path.
    if activation == 0:
        for q in range(a.size):
            a[q] = -a[q]
        vexp(a, z, kbuf)
        for q in range(a.size):
            s = 1.0 / (1.0 + z[q])
            a[q] = s
            z[q] = s * (1.0 - s)
    elif activation == 1:
        for q in range(a.size):
            a[q] = 2.0 * a[q]
        vexp(a, z, kbuf)
        for q in range(a.size):
            s = 1.0 - 2.0 / (1.0 + z[q])
            a[q] = s
            z[q] = 1.0 - s * s
    else:
        for q in range(a.size):
            pos = a[q] > 0.0
            a[q] = a[q] if pos else 0.0
            z[q] = 1.0 if pos else 0.0


@njit(cache=True, parallel=True, fastmath=_FM)
def bnn_loglik_grad(theta, X, y, H, activation, gaussian, lam, scale):
    """Scaled log-likelihood and its gradient for every particle.

    theta (n, p) with p >= d_in*H + 2H + 1; X (m, d_in), y (m,) the data (or a minibatch);
    lam (n,) noise precisions (read only when ``gaussian``). Bernoulli-logit likelihood for
    y in {0, 1}, else Gaussian N(y | f, 1/lam) with its normalising constant. Returns
    ``scale * loglik`` (n,), its gradient (n, p) (zero beyond the network block) and its
    derivative with respect to lam (n,).
    """
    n, p = theta.shape
    m, d_in = X.shape
    ob1 = d_in * H
    ow2 = ob1 + H
    ob2 = ow2 + H
    ll = np.zeros(n)
    g = np.zeros((n, p))
    dlam = np.zeros(n)
    half_log_2pi = 0.5 * np.log(2.0 * np.pi)
    for i in prange(n):
        t = theta[i]
        gi = g[i]
        A = np.empty((m, H))
        D = np.empty((m, H))
        _hidden(t, X, H, activation, A, D)
        w2 = t[ow2:ob2]
        gw2 = np.zeros(H)
        gb1 = np.zeros(H)
        acc = 0.0
        acc_lam = 0.0
        gb2 = 0.0
        for j in range(m):
            a = A[j]
            f = t[ob2]
            for h in range(H):
                f += w2[h] * a[h]
            if gaussian:
                res = y[j] - f
                acc += 0.5 * np.log(lam[i]) - half_log_2pi - 0.5 * lam[i] * res * res
                acc_lam += 0.5 / lam[i] - 0.5 * res * res
                r = lam[i] * res
            elif f >= 0.0:
                e = np.exp(-f)
                acc += (y[j] - 1.0) * f - np.log1p(e)
                r = y[j] - 1.0 / (1.0 + e)
            else:
                e = np.exp(f)
                acc += y[j] * f - np.log1p(e)
                r = y[j] - e / (1.0 + e)
            gb2 += r
            dj = D[j]
            for h in range(H):
                gw2[h] += r * a[h]
                dj[h] *= r * w2[h]
                gb1[h] += dj[h]
        _accumulate_xtd(X, D, gi)
        for h in range(H):
            gi[ob1 + h] = gb1[h]
            gi[ow2 + h] = gw2[h]
        gi[ob2] = gb2
        ll[i] = scale * acc
        dlam[i] = scale * acc_lam
        for q in range(ob2 + 1):
            gi[q] *= scale
    return ll, g, dlam


@njit(cache=True, parallel=True, fastmath=_FM)
def bnn_forward(theta, X, H, activation):
    """Network outputs f (n, m): logits for classification, means for regression."""
    n = theta.shape[0]
    m, d_in = X.shape
    ow2 = d_in * H + H
    ob2 = ow2 + H
    F = np.empty((n, m))
    for i in prange(n):
        t = theta[i]
        A = np.empty((m, H))
        D = np.empty((m, H))
        _hidden(t, X, H, activation, A, D)
        w2 = t[ow2:ob2]
        for j in range(m):
            a = A[j]
            f = t[ob2]
            for h in range(H):
                f += w2[h] * a[h]
            F[i, j] = f
    return F
