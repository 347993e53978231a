"""Base class of the score estimators: configuration, validation, bandwidth resolution.

Every estimator is configured in ``__init__`` (scikit-learn style: the arguments are stored
unchanged as attributes), fitted with :meth:`ScoreEstimator.fit`, and queried with
:meth:`ScoreEstimator.gradients`. Fitted quantities end in an underscore.

Threads: ``fit`` and ``gradients`` run under :func:`._threads.compute_threads` (by default one
BLAS and one Numba thread; see that module for why and how to change it).

Sign convention: ``gradients`` returns an estimate of ∇_x log q(x) (the score itself, not its
negative). Bandwidth convention: the kernel length-scale h, see :mod:`mcmcadapt.score.kernels`.
"""

import inspect

import numpy as np

from .._validation import as_particles, check_columns, positive_float
from ..errors import DegenerateParticlesError, HyperparameterError, InputError, NotFittedError
from ._threads import compute_threads
from .bandwidth import RULES, bandwidth_from_sqdist
from .kernels import KERNELS, Kernel, centre, sqdist_centred

AUTO = "auto"
#: what "auto" hyper-parameters minimise (see :mod:`.selection`)
AUTO_CRITERIA = ("heldout", "insample", "combined")
#: largest squared distance of a particle from the population mean: squared distances reach
#: 4× that, and kernel curvatures need their square, which overflows float64 beyond ~1e308
MAX_SQUARED_RADIUS = 1e150


class ScoreEstimator:
    """Common machinery; subclasses implement ``_fit(X, D)`` and ``_gradients(Y)``.

    Parameters shared by all estimators
    -----------------------------------
    kernel : {"rbf", "imq"}
    bandwidth : float > 0, "median", "median_log" or "auto"
        Kernel length-scale h. "median": median off-diagonal pairwise distance of the fitted
        particles; "median_log": h² = ½·median(‖x_i − x_j‖²)/log(n + 1) (SVGD convention);
        "auto": chosen by an unbiased estimate of the score-matching loss (see
        :mod:`.selection` and ``auto_criterion``).
    bandwidth_scale : float > 0
        Multiplies the bandwidth that ``bandwidth`` yields.
    beta : float in (−1, 0)
        IMQ exponent.
    auto_criterion : {"heldout", "insample", "combined"}
        What "auto" hyper-parameters minimise (see :mod:`.selection`): the estimated error
        at new points (default: cross-validation, a few fits at half the sample size), at
        the fitted particles themselves (refits on perturbed particles: more expensive, and
        measured better only for some estimators; see docs/benchmarks/score_accuracy.md), or
        the mean of the two (the cost of both; SSGE's default).
    """

    #: names of hyper-parameters that accept "auto", with their search grids (set by subclasses)
    auto_grids = {}

    def __init__(self, kernel="rbf", bandwidth="median", bandwidth_scale=1.0, beta=-0.5,
                 auto_criterion="heldout"):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.bandwidth_scale = bandwidth_scale
        self.beta = beta
        self.auto_criterion = auto_criterion

    # -- scikit-learn style parameter handling (used by "auto" selection) --
    @classmethod
    def _param_names(cls):
        names = []
        for klass in cls.__mro__:
            if klass is object:
                continue
            sig = inspect.signature(klass.__init__)
            for p in sig.parameters.values():
                if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD and p.name not in names:
                    names.append(p.name)
        return names

    def get_params(self):
        """Constructor arguments as a dict."""
        return {k: getattr(self, k) for k in self._param_names()}

    def clone(self, **overrides):
        """An unfitted copy with some constructor arguments replaced."""
        params = self.get_params()
        params.update(overrides)
        return type(self)(**params)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- validation --
    def _check_config(self):
        if self.kernel not in KERNELS:
            raise HyperparameterError(
                f"kernel must be one of {KERNELS}, got {self.kernel!r}."
            )
        if isinstance(self.bandwidth, str):
            if self.bandwidth not in RULES + (AUTO,):
                raise HyperparameterError(
                    f"bandwidth must be a positive number or one of {RULES + (AUTO,)}, "
                    f"got {self.bandwidth!r}."
                )
            if self.bandwidth == AUTO and "bandwidth" not in self.auto_grids:
                raise HyperparameterError(
                    f"{type(self).__name__} cannot choose its bandwidth automatically; pass a "
                    f"number or one of {RULES}."
                )
        else:
            positive_float(self.bandwidth, "bandwidth")
        positive_float(self.bandwidth_scale, "bandwidth_scale")
        if self.auto_criterion not in AUTO_CRITERIA:
            raise HyperparameterError(
                f"auto_criterion must be one of {AUTO_CRITERIA}, got {self.auto_criterion!r}."
            )

    def search_grids(self):
        """The grids "auto" searches for this configuration (``auto_grids`` unless a
        setting changes their meaning, as Stein's U-statistic does for η)."""
        return self.auto_grids

    def subset_params(self, n):
        """Constructor arguments to override when a candidate is fitted on ``n`` of the
        particles (held-out folds): none, unless a setting counts particles (SSGE's
        ``n_eigen``)."""
        return {}

    def degenerate(self):
        """Why this fit carries no information (None if it does): a candidate that is
        degenerate is not eligible in "auto" selection, whose loss would otherwise favour
        an estimate of exactly zero."""
        return None

    def _auto_params(self):
        return [k for k in self.auto_grids if getattr(self, k, None) == AUTO]

    # -- fitting --
    def fit(self, X):
        """Fit to particles X of shape (n, d), n ≥ 2. Returns self.

        Sets ``X_`` (n, d: the array passed in, not copied; the estimates use a centred
        copy, so changing X afterwards changes none of them), ``n_``, ``dim_``,
        ``bandwidth_`` (the length-scale used),
        ``kernel_`` (:class:`~mcmcadapt.score.kernels.Kernel`) and, when any hyper-parameter
        was "auto", ``selection_`` (the chosen values and the loss of every candidate).
        """
        self._check_config()
        X = as_particles(X, "X", min_rows=2, check_finite=False)
        centred = centre(X)
        radius2 = centred[3]
        if radius2 < 0.0:
            as_particles(X, "X")  # raises the error that names the first NaN or inf
        if radius2 == 0.0:
            raise DegenerateParticlesError(
                f"all {X.shape[0]} particles are identical; a score cannot be estimated from "
                "a single point. Check that the chains are moving."
            )
        if not radius2 <= MAX_SQUARED_RADIUS:
            raise InputError(
                f"a particle lies {np.sqrt(radius2):.3g} from the population mean: squared "
                "distances and kernel derivatives would overflow float64. The population has "
                "probably diverged (check the sampler's step size), or rescale the problem."
            )
        auto = self._auto_params()
        with compute_threads():
            if auto:
                from .selection import select_hyperparameters

                chosen, record = select_hyperparameters(self, X, auto)
                fitted = self.clone(**chosen)._fit_checked(X, centred=centred)
                self.__dict__.update(
                    {k: v for k, v in fitted.__dict__.items() if k.endswith("_")}
                )
                self.selection_ = record
                return self
            return self._fit_checked(X, centred=centred)

    def _fit_checked(self, X, D=None, centred=None):
        """Fit on validated X; ``D`` = sqdist(X) when the caller has it already (the "auto"
        search reuses one per split; it is handed over and may be overwritten), ``centred`` =
        :func:`~.kernels.centre` (X) likewise.

        Sets ``center_`` (d,) and ``Xc_`` = X − center_ (n, d) for the subclass: kernel
        values do not change under a shift, but sums such as Σ_j W_ij (x_i − x_j) and Gram
        products cancel catastrophically for a population far from the origin unless
        computed from centred particles."""
        center, Xc, norms, _ = centre(X) if centred is None else centred
        if D is None:
            D = sqdist_centred(Xc, norms)
        if isinstance(self.bandwidth, str):
            h = bandwidth_from_sqdist(D, self.bandwidth)
        else:
            h = float(self.bandwidth)
        h *= float(self.bandwidth_scale)
        self.X_ = X
        self.center_, self.Xc_ = center, Xc
        self.n_, self.dim_ = X.shape
        self.bandwidth_ = h
        self.kernel_ = Kernel(self.kernel, h, self.beta)
        self._fit(X, D)
        return self

    def _fit(self, X, D):
        """Fit on validated particles X (n, d) (centred: ``self.Xc_``) with their squared
        distances D (n, n), which the subclass may overwrite."""
        raise NotImplementedError

    # -- querying --
    def _check_fitted(self):
        if not hasattr(self, "X_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X) before gradients()."
            )

    def gradients(self, Y=None, columns=None):
        """Estimate ∇log q.

        Y : None or (m, d) array. None: at the fitted particles, shape (n, d). Otherwise at
        the rows of Y, shape (m, d), where the estimator defines an out-of-sample extension.
        columns : None or a sorted 1-D integer array of distinct coordinates. Only those
        components of the estimate, shape (n or m, len(columns)); equal to
        ``gradients(Y)[:, columns]``, cheaper where the estimator can skip the others
        (Stein in-sample with n < d: one n × n × len(columns) product instead of n × n × d).
        The result is a new array that the caller may modify (the adaptation does, in place).
        """
        self._check_fitted()
        if Y is not None:
            Y = as_particles(Y, "Y", min_rows=1, dim=self.dim_)
            self._check_reach(Y)
        if columns is not None:
            columns = check_columns(columns, self.dim_)
        with compute_threads():
            if columns is None:
                return self._gradients(Y)
            return self._gradients_columns(Y, columns)

    def _check_reach(self, Y):
        """Queries obey the particles' bound (``MAX_SQUARED_RADIUS`` from their mean): beyond
        it squared distances overflow and the estimates would be NaN."""
        Yc = Y - self.center_
        r2 = np.einsum("ij,ij->i", Yc, Yc)
        far = np.flatnonzero(~(r2 <= MAX_SQUARED_RADIUS))
        if far.size:
            i = int(far[0])
            where = (f"{np.sqrt(r2[i]):.3g} from" if np.isfinite(r2[i])
                     else "too far (its squared distance overflows) from")
            raise InputError(
                f"query row {i} of Y lies {where} the particles' mean (limit "
                f"{np.sqrt(MAX_SQUARED_RADIUS):.0e}): squared distances would overflow float64. "
                "Query points near the particles, or rescale the problem.")

    def _gradients(self, Y):
        raise NotImplementedError

    def _gradients_columns(self, Y, columns):
        return self._gradients(Y)[:, columns]
