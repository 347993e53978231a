"""Small local target models for the transition tests (no dependence on mcmcadapt.models),
and finite-difference helpers. Imported by the other test_transitions_* files."""

import numpy as np


class CountingModel:
    """Counts the rows at which the gradient was evaluated."""

    n_data = None

    def __init__(self):
        self.rows_evaluated = 0
        self.calls = []

    def logp_and_grad(self, X, batch=None):
        X = np.asarray(X, dtype=float)
        assert X.ndim == 2 and X.shape[1] == self.dim and np.isfinite(X).all()
        self.rows_evaluated += X.shape[0]
        self.calls.append((X.shape[0], None if batch is None else np.array(batch)))
        return self._lg(X, batch)


class Gaussian(CountingModel):
    """N(mean, cov); Hessian -cov⁻¹, applied with a solve."""

    def __init__(self, mean, cov):
        super().__init__()
        self.mean = np.asarray(mean, float)
        self.cov = np.asarray(cov, float)
        self.dim = self.mean.size
        self.prec = np.linalg.solve(self.cov, np.eye(self.dim))

    def _lg(self, X, batch):
        g = -(X - self.mean) @ self.prec
        return 0.5 * np.einsum("ij,ij->i", X - self.mean, g), g

    def hvp(self, X, V):
        return -V @ self.prec


class Quartic(CountingModel):
    """log p(x) = -½ xᵀAx - (λ/4) Σ_k (Bx)_k⁴ + bᵀx: non-Gaussian, position-dependent dense Hessian."""

    def __init__(self, d=3, m=4, lam=0.3, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        Q = rng.standard_normal((d, d))
        self.A = Q @ Q.T / d + 0.5 * np.eye(d)
        self.B = rng.standard_normal((m, d))
        self.b = rng.standard_normal(d) * 0.5
        self.lam = lam
        self.dim = d

    def _lg(self, X, batch):
        Z = X @ self.B.T
        lp = -0.5 * np.einsum("ij,jk,ik->i", X, self.A, X) - 0.25 * self.lam * (Z**4).sum(1) + X @ self.b
        g = -X @ self.A - self.lam * (Z**3) @ self.B + self.b
        return lp, g

    def hvp(self, X, V):
        Z = X @ self.B.T
        return -V @ self.A - 3.0 * self.lam * ((Z**2) * (V @ self.B.T)) @ self.B


class NaNRegion(Gaussian):
    """Standard Gaussian whose log density (or gradient) is NaN where x₀ > cut."""

    def __init__(self, d=2, cut=1.0, what="logp"):
        super().__init__(np.zeros(d), np.eye(d))
        self.cut, self.what = cut, what

    def _lg(self, X, batch):
        lp, g = super()._lg(X, batch)
        bad = X[:, 0] > self.cut
        if self.what == "logp":
            lp[bad] = np.nan
        else:
            g[bad] = np.inf
        return lp, g


class MeanPosterior(CountingModel):
    """θ ~ N(0, τ²I), data y_k ~ N(θ, I), k < N; minibatch estimates scale the likelihood by N/b."""

    def __init__(self, d=2, N=50, tau=3.0, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.data = rng.standard_normal((N, d)) + 1.0
        self.tau, self.dim, self.n_data = tau, d, N

    def _lg(self, X, batch):
        Y = self.data if batch is None else self.data[batch]
        scale = self.n_data / Y.shape[0]
        lp = -0.5 * (X**2).sum(1) / self.tau**2
        g = -X / self.tau**2
        lp = lp - 0.5 * scale * ((X[:, None, :] - Y[None]) ** 2).sum((1, 2))
        g = g + scale * (Y.sum(0)[None] - Y.shape[0] * X)
        return lp, g

    def hvp(self, X, V):
        return -(1.0 / self.tau**2 + self.n_data) * V

    def posterior(self):
        prec = 1.0 / self.tau**2 + self.n_data
        return self.data.sum(0) / prec, 1.0 / prec


def central_fd(f, z0, h):
    """Central finite-difference gradient of scalar f at z0 (flat array), step h."""
    z0 = np.asarray(z0, float)
    out = np.empty(z0.size)
    for k in range(z0.size):
        e = np.zeros(z0.size)
        e.flat[k] = h
        out[k] = (f(z0 + e.reshape(z0.shape)) - f(z0 - e.reshape(z0.shape))) / (2 * h)
    return out


def correlated_gaussian(d=3):
    """A correlated Gaussian with unequal scales (condition number ~ 10)."""
    rng = np.random.default_rng(42)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s = np.linspace(0.5, 1.6, d)
    cov = Q @ np.diag(s**2) @ Q.T
    return Gaussian(np.linspace(-1.0, 1.0, d), cov)
