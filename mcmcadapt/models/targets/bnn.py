"""Bayesian neural networks with one hidden layer: binary classifier and regressor.

Parameter vector of one particle (row-major blocks, also exposed as named variables):

    W1 (d_in, H) | b1 (H,) | W2 (H, 1) | b2 (1,) [| noise_precision (scalar)]

network output f(x) = b2 + Σ_h W2[h] act(b1[h] + Σ_k x_k W1[k, h]), act in {sigmoid, tanh,
relu}. Prior N(0, I) on all weights. Classifier: y ∈ {0, 1} ~ Bernoulli(sigmoid(f(x))).
Regressor: y ~ N(f(x), 1/λ), with λ fixed, or with a Gamma(shape a, rate b) prior and
sampled as log λ (the ``noise_precision`` variable, Jacobian included). The log density is
the normalised log joint; log-likelihood and gradient come from hand-written backpropagation
in Numba (``_bnn_kernels``), batched over particles. Minibatches: ``batch=idx`` gives
log prior + (N/|idx|)·Σ_idx log-lik, unbiased for uniformly drawn indices.
"""

import numpy as np
from scipy.special import expit, gammaln, logsumexp

from ..._validation import as_generator, as_particles, positive_float
from ...datasets import load as load_dataset
from ...errors import HyperparameterError, InputError
from ..model import Model
from ._bnn_kernels import bnn_forward, bnn_loglik_grad
from ._threads import run_kernel

ACTIVATIONS = {"sigmoid": 0, "tanh": 1, "relu": 2}
LIKELIHOODS = ("bernoulli", "gaussian")


class BNN(Model):
    """One-hidden-layer Bayesian neural network posterior (see the module docstring).

    Parameters
    ----------
    X, y : training inputs (N, d_in) and targets (N,) (0/1 for ``"bernoulli"``).
    hidden : number of hidden units H.
    activation : ``"sigmoid"``, ``"tanh"`` or ``"relu"``.
    likelihood : ``"bernoulli"`` (classifier) or ``"gaussian"`` (regressor).
    noise_precision : fixed λ of the Gaussian likelihood (ignored with ``noise_prior``).
    noise_prior : ``(a, b)``: Gamma(shape a, rate b) prior on λ, which becomes a parameter.
    X_test, y_test : optional held-out data, the default for :meth:`evaluate`.
    """

    def __init__(self, X, y, hidden=50, activation="sigmoid", likelihood="bernoulli",
                 noise_precision=1.0, noise_prior=None, X_test=None, y_test=None, name="bnn"):
        self.X = as_particles(X, name="X", min_rows=1)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        N, d_in = self.X.shape
        if self.y.shape != (N,) or not np.all(np.isfinite(self.y)):
            raise InputError(f"y must be a finite array of shape ({N},); got {self.y.shape}.")
        if activation not in ACTIVATIONS:
            raise HyperparameterError(
                f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}.")
        if likelihood not in LIKELIHOODS:
            raise HyperparameterError(
                f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.")
        if likelihood == "bernoulli" and not np.all((self.y == 0) | (self.y == 1)):
            raise InputError("classifier targets y must be 0 or 1.")
        if isinstance(hidden, bool) or not isinstance(hidden, (int, np.integer)) or hidden < 1:
            raise HyperparameterError(f"hidden must be a positive integer, got {hidden!r}.")
        self.hidden = int(hidden)
        self.activation = activation
        self.likelihood = likelihood
        self.n_weights = d_in * self.hidden + 2 * self.hidden + 1
        self.learn_noise = likelihood == "gaussian" and noise_prior is not None
        self.noise_prior = None
        self.noise_precision = None
        if likelihood == "bernoulli" and noise_prior is not None:
            raise HyperparameterError("noise_prior applies to the gaussian likelihood only.")
        if likelihood == "gaussian":
            if self.learn_noise:
                if np.shape(noise_prior) != (2,):
                    raise HyperparameterError(
                        f"noise_prior must be (shape, rate) of a Gamma prior, got {noise_prior!r}.")
                a, b = noise_prior
                self.noise_prior = (positive_float(a, "noise_prior shape"),
                                    positive_float(b, "noise_prior rate"))
            else:
                self.noise_precision = positive_float(noise_precision, "noise_precision")
        self.X_test = (None if X_test is None
                       else as_particles(X_test, name="X_test", min_rows=1, dim=d_in))
        self.y_test = None if y_test is None else np.asarray(y_test, dtype=np.float64)
        if (self.X_test is None) != (self.y_test is None) or (
                self.y_test is not None and self.y_test.shape != (self.X_test.shape[0],)):
            raise InputError("give X_test (m, d_in) and y_test (m,) together, or neither.")
        if self.y_test is not None and (
                not np.all(np.isfinite(self.y_test))
                or (likelihood == "bernoulli" and not np.all((self.y_test == 0) | (self.y_test == 1)))):
            raise InputError("y_test must be finite, and 0 or 1 for a classifier (as y).")
        self.dataset = None
        names = [("W1", (d_in, self.hidden)), ("b1", (self.hidden,)), ("W2", (self.hidden, 1)),
                 ("b2", (1,))]
        transforms = None
        if self.learn_noise:
            names.append(("noise_precision", ()))
            transforms = {"noise_precision": "positive"}
        super().__init__(self._logp_and_grad, self.n_weights + int(self.learn_noise), names=names,
                         name=name, transforms=transforms, n_data=N)

    @classmethod
    def from_dataset(cls, ds, **kwargs):
        """A BNN on a :class:`~mcmcadapt.datasets.Dataset` (train part; test part for
        :meth:`evaluate`); the likelihood follows ``ds.task``."""
        kwargs.setdefault("likelihood", "bernoulli" if ds.task == "classification" else "gaussian")
        kwargs.setdefault("name", f"bnn-{ds.name}")
        m = cls(ds.X_train, ds.y_train, X_test=ds.X_test if len(ds.X_test) else None,
                y_test=ds.y_test if len(ds.y_test) else None, **kwargs)
        m.dataset = ds
        return m

    def _lam(self, T):
        if self.learn_noise:
            return np.ascontiguousarray(T[:, -1])
        # the kernel ignores lam for the classifier
        return np.full(T.shape[0], self.noise_precision or 1.0)

    def _logp_and_grad(self, T, batch=None):
        if batch is None:
            Xb, yb, scale = self.X, self.y, 1.0
        else:
            Xb, yb, scale = self.X[batch], self.y[batch], self.X.shape[0] / batch.size
        lam = self._lam(T)
        ll, g, dlam = run_kernel(bnn_loglik_grad, 2 * T.shape[0] * Xb.shape[0] * self.n_weights,
                                 T, Xb, yb, self.hidden, ACTIVATIONS[self.activation],
                                 self.likelihood == "gaussian", lam, scale)
        w = T[:, : self.n_weights]
        lp = ll - 0.5 * np.einsum("ij,ij->i", w, w) - 0.5 * self.n_weights * np.log(2 * np.pi)
        g[:, : self.n_weights] -= w
        if self.learn_noise:
            a, b = self.noise_prior
            with np.errstate(divide="ignore"):  # λ underflowing to 0: log p = -inf, rejected
                lp += a * np.log(b) - gammaln(a) + (a - 1.0) * np.log(lam) - b * lam
            g[:, -1] = dlam + (a - 1.0) / lam - b
        return lp, g

    def _constrained(self, theta):
        U = as_particles(theta, name="theta", min_rows=1, dim=self.dim)
        return self._constrain(U)[0]

    def outputs(self, theta, X):
        """Network outputs f (n_particles, m) at inputs X (m, d_in); theta unconstrained."""
        T = self._constrained(theta)
        X = as_particles(X, name="X", min_rows=1, dim=self.X.shape[1])
        return run_kernel(bnn_forward, T.shape[0] * X.shape[0] * self.n_weights,
                          T, X, self.hidden, ACTIVATIONS[self.activation])

    def predict(self, theta, X):
        """Posterior-predictive mean over the particles (m,): P(y = 1 | x) for the classifier,
        E[y | x] for the regressor."""
        F = self.outputs(theta, X)
        if self.likelihood == "bernoulli":
            return expit(F).mean(axis=0)
        return F.mean(axis=0)

    def evaluate(self, theta, X=None, y=None):
        """Test metrics of the Monte-Carlo predictive of the particles ``theta`` (n, dim).

        ``nll``: -mean_j log( mean_i p(y_j | x_j, θ_i) ); classifier adds ``error`` (the rate
        at which mean probability > 0.5 disagrees with y), regressor adds ``rmse`` of the
        predictive mean. Units are those of ``y`` (standardised for data-set models: multiply
        rmse by ``dataset.y_scale``, add log(y_scale) to nll). Defaults to the stored test set.
        """
        if X is None and y is None:
            X, y = self.X_test, self.y_test
            if X is None:
                raise InputError(f"model {self.name!r} has no test set; pass X and y.")
        elif X is None or y is None:
            raise InputError("give both X and y (a test set), or neither for the stored one.")
        y = np.asarray(y, dtype=np.float64)
        F = self.outputs(theta, X)
        if y.shape != (F.shape[1],):
            raise InputError(f"y must have shape ({F.shape[1]},); got {y.shape}.")
        if not np.all(np.isfinite(y)):
            raise InputError("y has NaN or infinite values.")
        if self.likelihood == "bernoulli" and not np.all((y == 0) | (y == 1)):
            raise InputError("classifier targets y must be 0 or 1 (as in training); got "
                             f"values {np.unique(y)[:5].tolist()}.")
        n = F.shape[0]
        if self.likelihood == "bernoulli":
            logp = y * F - np.logaddexp(0.0, F)
            p_mean = expit(F).mean(axis=0)
            extra = {"error": float(np.mean((p_mean > 0.5) != (y == 1)))}
        else:
            lam = self._lam(self._constrained(theta))[:, None]
            logp = 0.5 * np.log(lam / (2 * np.pi)) - 0.5 * lam * (y - F) ** 2
            extra = {"rmse": float(np.sqrt(np.mean((F.mean(axis=0) - y) ** 2)))}
        nll = -np.mean(logsumexp(logp, axis=0) - np.log(n))
        return {"nll": float(nll), **extra}

    predictive_reason = (
        "the network's weights are not identifiable (hidden units can be permuted and, for "
        "odd activations, sign-flipped), so convergence is judged on predictive quantities"
    )

    def predictive_quantities(self, theta, n_points=5):
        """Per-draw quantities for diagnostics (see :mod:`mcmcadapt.diagnostics.predictive`):
        ``test_loglik`` (n,), the mean log-likelihood per held-out point (training points if
        there is no test set), and ``heldout`` (n, k), P(y = 1 | x) (classifier) or the
        network mean (regressor) at the first ``n_points`` of those points."""
        X, y = (self.X_test, self.y_test) if self.X_test is not None else (self.X, self.y)
        F = self.outputs(theta, X)
        if self.likelihood == "bernoulli":
            loglik = y * F - np.logaddexp(0.0, F)
            heldout = expit(F[:, :n_points])
        else:
            lam = self._lam(self._constrained(theta))[:, None]
            loglik = 0.5 * np.log(lam / (2 * np.pi)) - 0.5 * lam * (y - F) ** 2
            heldout = F[:, :n_points]
        return {"test_loglik": loglik.mean(axis=1), "heldout": heldout}

    def sample_prior(self, n, seed=None):
        """``n`` draws (n, dim) from the prior, unconstrained (log λ for a learned noise)."""
        rng = as_generator(seed)
        out = rng.standard_normal((n, self.dim))
        if self.learn_noise:
            a, b = self.noise_prior
            out[:, -1] = np.log(rng.gamma(a, 1.0 / b, n))
        return out


def bnn_dataset(dataset, root=None, seed=0, test_fraction=0.6, hidden=50, activation="sigmoid",
                **kwargs):
    """A :class:`BNN` on a named data set (see :func:`mcmcadapt.datasets.available`).

    Defaults follow Li & Turner (2018): 40% of a seeded permutation to train, 60% to test,
    50 sigmoid hidden units. Other keyword arguments go to :class:`BNN`.
    """
    ds = load_dataset(dataset, root=root, seed=seed, test_fraction=test_fraction)
    return BNN.from_dataset(ds, hidden=hidden, activation=activation, **kwargs)
