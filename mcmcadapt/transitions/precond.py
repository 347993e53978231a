"""Unconstrained parameterisation of a preconditioner M = L Lᵀ (L lower triangular).

Layouts of the parameter block θ for dimension d:

- ``"identity"``: no parameters, L = I.
- ``"diag"``:     θ (d,) with L = diag(exp θ).
- ``"dense"``:    θ (d + d(d-1)/2,) = [log L_11, ..., log L_dd, strict lower triangle of L in
  ``numpy.tril_indices(d, -1)`` order (row by row)].

M is the inverse mass matrix of HMC and the covariance shape of Gaussian proposals. A *factor*
F is what the kernels multiply with: a (d,) vector holding diag(L) for "identity"/"diag", or the
(d, d) matrix L for "dense". All products act on particles stored as rows.
"""

import numpy as np

from ..errors import HyperparameterError, InputError, SingularMatrixError

PRECOND_KINDS = ("diag", "dense")


def L_rows(F, V):
    """Rows L vᵢ for V (n, d)."""
    return V * F if F.ndim == 1 else V @ F.T


def LT_rows(F, V):
    """Rows Lᵀ vᵢ for V (n, d)."""
    return V * F if F.ndim == 1 else V @ F


def M_rows(F, V):
    """Rows M vᵢ = L Lᵀ vᵢ for V (n, d)."""
    return L_rows(F, LT_rows(F, V))


class Preconditioner:
    """The θ ↔ L map for one kind and dimension, and the θ-gradient of bilinear forms in L."""

    def __init__(self, kind, dim):
        if kind not in ("identity",) + PRECOND_KINDS:
            raise HyperparameterError(
                f"precond must be one of {PRECOND_KINDS}, got {kind!r}."
            )
        self.kind = kind
        self.dim = int(dim)
        d = self.dim
        self.n_params = {"identity": 0, "diag": d, "dense": d + d * (d - 1) // 2}[kind]
        self._tril = np.tril_indices(d, -1) if kind == "dense" else None

    def factor(self, theta):
        """F from θ: (d,) diagonal of L, or the (d, d) matrix L for "dense"."""
        if self.kind == "identity":
            return np.ones(self.dim)
        diag = np.exp(theta[: self.dim])
        if self.kind == "diag":
            return diag
        L = np.zeros((self.dim, self.dim))
        L[np.diag_indices(self.dim)] = diag
        L[self._tril] = theta[self.dim :]
        return L

    def outer(self, A, B):
        """Σᵢ aᵢ bᵢᵀ restricted to what L can hold: the gradient of Σᵢ aᵢᵀ L bᵢ with respect
        to the free entries of L, as (d,) (diagonal kinds) or (d, d) (dense; upper part unused).
        Accumulate several of these, then map once with :meth:`grad`."""
        if self.kind == "dense":
            return A.T @ B
        return np.einsum("ij,ij->j", A, B)

    def outer_LT(self, F, A, B):
        """:meth:`outer` of A with the rows Lᵀbᵢ, in the cheaper order: for the diagonal
        kinds F ⊙ outer(A, B), which forms no population-sized product."""
        if self.kind == "dense":
            return self.outer(A, LT_rows(F, B))
        return F * self.outer(A, B)

    def grad(self, F, G):
        """θ-gradient from an accumulated :meth:`outer` G (chain rule through exp on the diagonal)."""
        if self.kind == "identity":
            return np.zeros(0)
        if self.kind == "diag":
            return G * F
        return np.concatenate([np.diag(G) * np.diag(F), G[self._tril]])

    def logdet_grad(self):
        """θ-gradient of log det L = Σ θ_diag (a constant vector)."""
        g = np.zeros(self.n_params)
        g[: min(self.dim, self.n_params)] = 1.0
        return g

    def logdet(self, theta):
        """log det L."""
        return float(np.sum(theta[: self.dim])) if self.kind != "identity" else 0.0

    def from_matrix(self, M):
        """θ such that L Lᵀ = M. Accepts (d,) (a diagonal) or (d, d); a "diag" preconditioner
        keeps only the diagonal of a (d, d) matrix."""
        if self.kind == "identity":
            raise HyperparameterError(
                "this kernel was built without a preconditioner (precond=None); construct it "
                "with precond='diag' or 'dense' to set an inverse mass matrix."
            )
        d = self.dim
        M = np.asarray(M, dtype=np.float64)
        if M.shape not in ((d,), (d, d)):
            raise InputError(
                f"the inverse mass matrix must have shape ({d},) or ({d}, {d}); got {M.shape}."
            )
        if not np.all(np.isfinite(M)):
            raise InputError("the inverse mass matrix contains NaN or inf; pass finite values.")
        diag = M if M.ndim == 1 else np.diag(M)
        if np.any(diag <= 0):
            raise InputError(
                "the inverse mass matrix must have a positive diagonal (it is a covariance "
                f"shape); smallest diagonal entry is {diag.min():.3g}."
            )
        if self.kind == "diag" or M.ndim == 1:
            theta = np.zeros(self.n_params)
            theta[:d] = 0.5 * np.log(diag)
            return theta
        if not np.allclose(M, M.T, rtol=1e-10, atol=1e-12 * np.abs(M).max()):
            raise InputError("the inverse mass matrix must be symmetric.")
        try:
            L = np.linalg.cholesky(0.5 * (M + M.T))
        except np.linalg.LinAlgError:
            raise SingularMatrixError(
                "the inverse mass matrix is not positive definite (Cholesky failed); add a "
                "small multiple of the identity or shrink it toward its diagonal."
            ) from None
        return np.concatenate([np.log(np.diag(L)), L[self._tril]])

    def to_dict(self, theta):
        """Human-readable M: {"inv_mass_diag": (d,)} or {"inv_mass": (d, d)} ({} for identity)."""
        if self.kind == "identity":
            return {}
        F = self.factor(theta)
        if self.kind == "diag":
            return {"inv_mass_diag": F**2}
        return {"inv_mass": F @ F.T}
