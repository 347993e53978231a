"""Vectorisable exp and log1p for the Numba kernels (BNN and logistic targets, the learned
sampler's network).

exp dominates the BNN and logistic kernels (one per hidden unit or datum, per data point).
Numba calls the scalar libm exp (~3 ns each), which blocks vectorisation. :func:`fexp` is
branch-free (Cody-Waite reduction to r in [-ln2/2, ln2/2], a degree-11 polynomial in r,
2^k assembled from its bits), so a loop calling it vectorises; it is within 1 ulp of numpy's
exp on [-708, 709]. Inputs are clamped to that range: callers only need exp(-|t|) and
sigmoid/tanh, which saturate long before. No ``reassoc`` here: it would undo the two-part
reduction. Callers compiled with ``reassoc`` keep this function's own flags, because LLVM's
inliner keeps each instruction's.

:func:`flog1p` does the same for log1p on [0, 1] (the softplus term log1p(exp(-|f|)) of the
logistic likelihood), within 2 ulp of numpy's log1p; libm's scalar log1p cost about as much
as the rest of the BNN likelihood.
"""

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_SQRT2 = 1.4142135623730951
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# The polynomial interpolating exp at the 12 Chebyshev nodes of [-ln2/2, ln2/2], solved in
# exact rational arithmetic from 60-digit exp values, coefficients then rounded to float64:
# relative error 1.7e-17 on the interval, far below the final rounding (Taylor needs degree
# 13 for the same, two more multiply-adds per call).
# Coefficients of r^0 and r^1 are 1.0 to double precision.
_C2, _C3, _C4 = 0.5000000000000019, 0.1666666666666668, 0.0416666666664881
_C5, _C6, _C7 = 0.008333333333319601, 0.0013888888952314775, 0.00019841269890047113
_C8, _C9 = 2.4801485482328494e-05, 2.755724091857897e-06
_C10, _C11 = 2.763263963904103e-07, 2.5110037605963777e-08


@intrinsic
def _as_float64(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 ``bits`` (a free bitcast)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@njit(cache=True, fastmath={"contract"})
def fexp(x):
    """exp(x) for a float64 scalar (see the module docstring); call it inside loops."""
    xi = min(max(x, -708.0), 709.0)
    k = np.floor(xi * _LOG2E + 0.5)
    r = (xi - k * _LN2_HI) - k * _LN2_LO
    p = _C11 * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _as_float64((np.int64(k) + 1023) << 52)


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def flog1p(e):
    """log1p(e) for a float64 scalar 0 <= e <= 1; call it inside loops.

    u = 1 + e rounded, with its rounding error c = e - (u - 1) (exact, as e <= 1), so
    log1p(e) = log(u) + c/u to first order. log(u) = k ln2 + log(m), u = 2^k m with
    m in [sqrt(1/2), sqrt(2)], and log(m) = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.1716,
    summed to s^23 (the next term is below 1e-18 relative). No ``reassoc``: it would fold c
    to zero.
    """
    u = 1.0 + e
    c = e - (u - 1.0)
    big = u > _SQRT2
    m = 0.5 * u if big else u
    k = 1.0 if big else 0.0
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = 2.0 / 23.0
    p = p * z + 2.0 / 21.0
    p = p * z + 2.0 / 19.0
    p = p * z + 2.0 / 17.0
    p = p * z + 2.0 / 15.0
    p = p * z + 2.0 / 13.0
    p = p * z + 2.0 / 11.0
    p = p * z + 2.0 / 9.0
    p = p * z + 2.0 / 7.0
    p = p * z + 2.0 / 5.0
    p = p * z + 2.0 / 3.0
    log_m = 2.0 * s + s * z * p
    return (k * _LN2_HI + (log_m + k * _LN2_LO)) + c / u
