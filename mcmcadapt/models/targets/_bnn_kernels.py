"""Numba kernels for one-hidden-layer networks, batched over particles.

Parameter layout of one particle (row of ``theta``), row-major blocks:
``W1 (d_in, H) | b1 (H,) | W2 (H,) | b2 (1,)``; columns after these are ignored (the
caller owns them, e.g. a noise precision). Activation codes: 0 sigmoid, 1 tanh, 2 relu.

Layout: data rows run along the contiguous axis. ``X`` is transposed once per call into
``XT`` (dp, m), dp = d_in rounded up to even; each particle's weights are copied into ``W``
(dp, H4), H4 = H rounded up to a multiple of 4, the padding being zero. The two matrix
products (X W1 forward, X^T D backward) run over tiles of 4 hidden units x 4 inputs (plus
one tile of 4 x 2 when dp is not a multiple of 4): a tile reuses each loaded input row for
four hidden units and each hidden row for up to four inputs. Per block of up to
``_MAX_BLOCK_ROWS`` data rows the forward pass, the likelihood and the backward pass run
back to back on the block's hidden activations ``Z`` (H4, B), and within a block each tile
of hidden units goes from pre-activation to activation to output sum while its rows are in
L1. Every inner loop runs over the block's rows: long, unit-stride and vectorised, with
:func:`mcmcadapt._fastmath.fexp` for sigmoid, tanh and the logistic likelihood (and
:func:`mcmcadapt._fastmath.flog1p` for the latter).

Padded hidden units have zero weights, so they add nothing to the output and get zero
gradient; padded inputs are zero rows of ``XT``. BLAS is not used: the per-particle products
are small (d_in ~ 10-60) and fusing them with the elementwise passes avoids writing the
(m, H) intermediates out, and inside a parallel region OpenBLAS's own threads oversubscribe.

``error_model="numpy"``: Numba's default error model checks every float division for zero,
which keeps LLVM from vectorising the sigmoid/tanh loops. ``reassoc`` lets it vectorise sums.
Row offsets are ``uint64`` so that indexing skips the negative-index wraparound, which would
otherwise block vectorisation of the blocked loops.
"""

import numba
import numpy as np
from numba import njit, prange

from ..._fastmath import fexp, flog1p

_FM = {"contract", "reassoc"}
# Blocks bound the scratch for large data sets; large blocks amortise each backward tile's
# horizontal reductions (16 per tile and block): 690 rows in one block ran ~10% faster than
# in three. At H = 50 a block of 1024 rows keeps its activations in 0.4 MB.
_MAX_BLOCK_ROWS = 1024


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _layout(X, H):
    """XT (dp, m), the transpose of X padded with a zero row to an even count dp; padded
    hidden count H4; block length B (a multiple of 8, blocks of nearly equal size)."""
    m, d_in = X.shape
    XT = np.zeros((d_in + d_in % 2, m))
    for j in range(m):
        for k in range(d_in):
            XT[k, j] = X[j, k]
    nblocks = (m + _MAX_BLOCK_ROWS - 1) // _MAX_BLOCK_ROWS
    B = ((m + nblocks - 1) // nblocks + 7) // 8 * 8
    return XT, (H + 3) // 4 * 4, B


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _unpack(t, d_in, H, W, b1, w2):
    """Copy one particle's W1, b1, W2 into the padded W (dp, H4), b1 (H4,), w2 (H4,); the
    padding is zero from allocation and never written."""
    for k in range(d_in):
        for h in range(H):
            W[k, h] = t[k * H + h]
    ob1 = d_in * H
    for h in range(H):
        b1[h] = t[ob1 + h]
        w2[h] = t[ob1 + H + h]


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _activate_rows(Z, h0, h1, nb, activation):
    """Apply the activation to Z[h0:h1, :nb] in place. One loop per activation: a branch
    inside the loop would keep LLVM from vectorising it."""
    if activation == 0:
        for c in range(h0, h1):
            for q in range(nb):
                Z[c, q] = 1.0 / (1.0 + fexp(-Z[c, q]))
    elif activation == 1:
        for c in range(h0, h1):
            for q in range(nb):
                Z[c, q] = 1.0 - 2.0 / (1.0 + fexp(2.0 * Z[c, q]))
    else:
        for c in range(h0, h1):
            for q in range(nb):
                Z[c, q] = max(Z[c, q], 0.0)


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _dact(s, activation):
    """Derivative of the activation, from its value s = act(a)."""
    if activation == 0:
        return s * (1.0 - s)
    if activation == 1:
        return 1.0 - s * s
    return 1.0 if s > 0.0 else 0.0


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _forward_block(XT, j0, nb, W, b1, w2, b2, H, activation, Z, f):
    """Rows j0 .. j0+nb-1: activations into Z[:, :nb] (H4, B) and outputs into f[:nb]."""
    dp = XT.shape[0]
    o = np.uint64(j0)
    for q in range(nb):
        f[q] = b2
    for h in range(0, Z.shape[0], 4):
        # one tile of four hidden units at a time, so its rows stay in L1 from the bias
        # through the activation and the output sum
        for c in range(h, h + 4):
            bc = b1[c]
            for q in range(nb):
                Z[c, q] = bc
        if dp % 4:
            w00, w01, w02, w03 = W[0, h], W[0, h + 1], W[0, h + 2], W[0, h + 3]
            w10, w11, w12, w13 = W[1, h], W[1, h + 1], W[1, h + 2], W[1, h + 3]
            for q in range(nb):
                j = o + np.uint64(q)
                x0, x1 = XT[0, j], XT[1, j]
                Z[h, q] += w00 * x0 + w10 * x1
                Z[h + 1, q] += w01 * x0 + w11 * x1
                Z[h + 2, q] += w02 * x0 + w12 * x1
                Z[h + 3, q] += w03 * x0 + w13 * x1
        for k in range(dp % 4, dp, 4):
            w00, w01, w02, w03 = W[k, h], W[k, h + 1], W[k, h + 2], W[k, h + 3]
            w10, w11, w12, w13 = W[k + 1, h], W[k + 1, h + 1], W[k + 1, h + 2], W[k + 1, h + 3]
            w20, w21, w22, w23 = W[k + 2, h], W[k + 2, h + 1], W[k + 2, h + 2], W[k + 2, h + 3]
            w30, w31, w32, w33 = W[k + 3, h], W[k + 3, h + 1], W[k + 3, h + 2], W[k + 3, h + 3]
            for q in range(nb):
                j = o + np.uint64(q)
                x0, x1, x2, x3 = XT[k, j], XT[k + 1, j], XT[k + 2, j], XT[k + 3, j]
                Z[h, q] += (w00 * x0 + w10 * x1) + (w20 * x2 + w30 * x3)
                Z[h + 1, q] += (w01 * x0 + w11 * x1) + (w21 * x2 + w31 * x3)
                Z[h + 2, q] += (w02 * x0 + w12 * x1) + (w22 * x2 + w32 * x3)
                Z[h + 3, q] += (w03 * x0 + w13 * x1) + (w23 * x2 + w33 * x3)
        # padded units (w2 = 0) need no activation: they reach neither f nor a gradient
        _activate_rows(Z, h, min(h + 4, H), nb, activation)
        v0, v1, v2, v3 = w2[h], w2[h + 1], w2[h + 2], w2[h + 3]
        for q in range(nb):
            f[q] += (v0 * Z[h, q] + v1 * Z[h + 1, q]) + (v2 * Z[h + 2, q] + v3 * Z[h + 3, q])


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _backward_block(XT, j0, nb, w2, activation, Z, r, G, gb1, gw2):
    """Given r[q] = d loglik / d f for the block's rows, add the block's contributions to
    G (dp, H4) (the W1 gradient), gb1 and gw2 (H4,). Overwrites Z with the hidden
    pre-activation gradients D[h, q] = r[q] w2[h] act'(.)."""
    dp = XT.shape[0]
    o = np.uint64(j0)
    for h in range(0, Z.shape[0], 4):
        v0, v1, v2, v3 = w2[h], w2[h + 1], w2[h + 2], w2[h + 3]
        sw0 = sw1 = sw2 = sw3 = sb0 = sb1 = sb2 = sb3 = 0.0
        for q in range(nb):
            rq = r[q]
            s0, s1, s2, s3 = Z[h, q], Z[h + 1, q], Z[h + 2, q], Z[h + 3, q]
            sw0 += rq * s0
            sw1 += rq * s1
            sw2 += rq * s2
            sw3 += rq * s3
            e0 = rq * v0 * _dact(s0, activation)
            e1 = rq * v1 * _dact(s1, activation)
            e2 = rq * v2 * _dact(s2, activation)
            e3 = rq * v3 * _dact(s3, activation)
            sb0 += e0
            sb1 += e1
            sb2 += e2
            sb3 += e3
            Z[h, q] = e0
            Z[h + 1, q] = e1
            Z[h + 2, q] = e2
            Z[h + 3, q] = e3
        gw2[h] += sw0
        gw2[h + 1] += sw1
        gw2[h + 2] += sw2
        gw2[h + 3] += sw3
        gb1[h] += sb0
        gb1[h + 1] += sb1
        gb1[h + 2] += sb2
        gb1[h + 3] += sb3
        if dp % 4:
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0.0
            for q in range(nb):
                j = o + np.uint64(q)
                x0, x1 = XT[0, j], XT[1, j]
                e0, e1, e2, e3 = Z[h, q], Z[h + 1, q], Z[h + 2, q], Z[h + 3, q]
                a00 += x0 * e0
                a01 += x0 * e1
                a02 += x0 * e2
                a03 += x0 * e3
                a10 += x1 * e0
                a11 += x1 * e1
                a12 += x1 * e2
                a13 += x1 * e3
            G[0, h] += a00
            G[0, h + 1] += a01
            G[0, h + 2] += a02
            G[0, h + 3] += a03
            G[1, h] += a10
            G[1, h + 1] += a11
            G[1, h + 2] += a12
            G[1, h + 3] += a13
        for k in range(dp % 4, dp, 4):
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0.0
            a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = 0.0
            for q in range(nb):
                j = o + np.uint64(q)
                x0, x1, x2, x3 = XT[k, j], XT[k + 1, j], XT[k + 2, j], XT[k + 3, j]
                e0, e1, e2, e3 = Z[h, q], Z[h + 1, q], Z[h + 2, q], Z[h + 3, q]
                a00 += x0 * e0
                a01 += x0 * e1
                a02 += x0 * e2
                a03 += x0 * e3
                a10 += x1 * e0
                a11 += x1 * e1
                a12 += x1 * e2
                a13 += x1 * e3
                a20 += x2 * e0
                a21 += x2 * e1
                a22 += x2 * e2
                a23 += x2 * e3
                a30 += x3 * e0
                a31 += x3 * e1
                a32 += x3 * e2
                a33 += x3 * e3
            G[k, h] += a00
            G[k, h + 1] += a01
            G[k, h + 2] += a02
            G[k, h + 3] += a03
            G[k + 1, h] += a10
            G[k + 1, h + 1] += a11
            G[k + 1, h + 2] += a12
            G[k + 1, h + 3] += a13
            G[k + 2, h] += a20
            G[k + 2, h + 1] += a21
            G[k + 2, h + 2] += a22
            G[k + 2, h + 3] += a23
            G[k + 3, h] += a30
            G[k + 3, h + 1] += a31
            G[k + 3, h + 2] += a32
            G[k + 3, h + 3] += a33


def bnn_loglik_grad(theta, X, y, H, activation, gaussian, lam, scale):
    """Scaled log-likelihood and its gradient for every particle.

    theta (n, p) with p >= d_in*H + 2H + 1; X (m, d_in), y (m,) the data (or a minibatch);
    lam (n,) noise precisions (read only when ``gaussian``). Bernoulli-logit likelihood for
    y in {0, 1}, else Gaussian N(y | f, 1/lam) with its normalising constant. Returns
    ``scale * loglik`` (n,), its gradient (n, p) (zero beyond the network block) and its
    derivative with respect to lam (n,). Runs on the current number of Numba threads.
    """
    return _loglik_grad(theta, X, y, H, activation, gaussian, lam, scale, _chunks(theta))


def bnn_forward(theta, X, H, activation):
    """Network outputs f (n, m): logits for classification, means for regression."""
    return _forward(theta, X, H, activation, _chunks(theta))


def _chunks(theta):
    # One chunk of particles per thread, so each thread allocates its scratch once. Read
    # here, not inside the kernels: calling numba.get_num_threads() in njit code makes the
    # function uncacheable.
    return max(1, min(theta.shape[0], numba.get_num_threads()))


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _loglik_grad(theta, X, y, H, activation, gaussian, lam, scale, chunks):
    n, p = theta.shape
    m, d_in = X.shape
    ob1 = d_in * H
    ow2 = ob1 + H
    ob2 = ow2 + H
    XT, H4, B = _layout(X, H)
    dp = XT.shape[0]
    ll = np.zeros(n)
    g = np.zeros((n, p))
    dlam = np.zeros(n)
    half_log_2pi = 0.5 * np.log(2.0 * np.pi)
    for c in prange(chunks):
        W = np.zeros((dp, H4))
        b1 = np.zeros(H4)
        w2 = np.zeros(H4)
        G = np.empty((dp, H4))
        gb1 = np.empty(H4)
        gw2 = np.empty(H4)
        Z = np.empty((H4, B))
        f = np.empty(B)
        r = np.empty(B)
        for i in range(c, n, chunks):
            t = theta[i]
            _unpack(t, d_in, H, W, b1, w2)
            G[:] = 0.0
            gb1[:] = 0.0
            gw2[:] = 0.0
            acc = 0.0
            sq_res = 0.0
            gb2 = 0.0
            for j0 in range(0, m, B):
                nb = min(B, m - j0)
                _forward_block(XT, j0, nb, W, b1, w2, t[ob2], H, activation, Z, f)
                if gaussian:
                    for q in range(nb):
                        res = y[j0 + q] - f[q]
                        sq_res += res * res
                        r[q] = lam[i] * res
                else:
                    # log sigmoid(f) = f - max(f, 0) - log1p(exp(-|f|)), stable for any f
                    for q in range(nb):
                        fq = f[q]
                        yq = y[j0 + q]
                        eq = fexp(-abs(fq))
                        r[q] = yq - (1.0 if fq >= 0.0 else eq) / (1.0 + eq)
                        acc += yq * fq - max(fq, 0.0) - flog1p(eq)
                for q in range(nb):
                    gb2 += r[q]
                _backward_block(XT, j0, nb, w2, activation, Z, r, G, gb1, gw2)
            gi = g[i]
            for k in range(d_in):
                for h in range(H):
                    gi[k * H + h] = scale * G[k, h]
            for h in range(H):
                gi[ob1 + h] = scale * gb1[h]
                gi[ow2 + h] = scale * gw2[h]
            gi[ob2] = scale * gb2
            if gaussian:
                acc = m * (0.5 * np.log(lam[i]) - half_log_2pi) - 0.5 * lam[i] * sq_res
                dlam[i] = scale * (0.5 * m / lam[i] - 0.5 * sq_res)
            ll[i] = scale * acc
    return ll, g, dlam


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _forward(theta, X, H, activation, chunks):
    n = theta.shape[0]
    m, d_in = X.shape
    ob2 = d_in * H + 2 * H
    XT, H4, B = _layout(X, H)
    dp = XT.shape[0]
    F = np.empty((n, m))
    for c in prange(chunks):
        W = np.zeros((dp, H4))
        b1 = np.zeros(H4)
        w2 = np.zeros(H4)
        Z = np.empty((H4, B))
        f = np.empty(B)
        for i in range(c, n, chunks):
            t = theta[i]
            _unpack(t, d_in, H, W, b1, w2)
            for j0 in range(0, m, B):
                nb = min(B, m - j0)
                _forward_block(XT, j0, nb, W, b1, w2, t[ob2], H, activation, Z, f)
                for q in range(nb):
                    F[i, j0 + q] = f[q]
    return F
