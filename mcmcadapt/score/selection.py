"""Hyper-parameter selection ("auto") by a held-out score-matching loss.

For an estimate ŝ fitted without the point y, the score-matching loss (Hyvärinen 2005)

    J(ŝ) = mean_y [ ½‖ŝ(y)‖² + ∇·ŝ(y) ]

differs from ½·E_q‖ŝ − ∇log q‖² by a constant that does not depend on ŝ, so the candidate
with the smallest J is the most accurate one, and no knowledge of q is needed.

One mechanism serves every estimator: the candidates are fitted on training folds, queried
out of sample (``gradients(Y)``), and the divergence comes from central differences of those
queries along probe directions v with ‖v‖² = d,

    vᵀ ∇ŝ(y) v ≈ vᵀ (ŝ(y + εv) − ŝ(y − εv)) / (2ε),      ∇·ŝ(y) ≈ mean_p v_pᵀ ∇ŝ(y) v_p.

* d ≤ ``exact_dim``: exact trace, v_l = √d·e_l for every coordinate l (2d queries a point).
* d > ``exact_dim``: Hutchinson's estimator with ``n_probes`` Rademacher vectors per validation
  point (entries ±1, fixed by the seed), unbiased for the trace. One probe per point is the
  default: the spread it adds is small next to that of the points themselves, and spending
  queries on more points reduces both.

ŝ(y) in ½‖ŝ(y)‖² is the mean of ŝ(y ± εv) over all probes (error O(ε²)), so it costs no
extra query. The step length ε‖v‖ is ``fd_step`` times the median pairwise distance of the
training fold, identical for all candidates so that they are compared on the same queries.

The loss of a candidate is the mean over all validation points of all folds. Its noise is
the limit of the method: by the Stein identity the per-point loss carries a zero-mean term
δ·∇log q + ∇·δ (δ the candidate's error) whose spread is largest for rough, under-regularised
candidates, which can then win by chance (at d = 2, n = 2048 the error differences between
the better grid points are below this noise). The winner therefore minimises the upper
confidence value loss + ``penalty`` × (standard error of the loss), which needs no ordering
of the grids by smoothness.

Candidates are the Cartesian product of the grids of the "auto" hyper-parameters
(``estimator.auto_grids``). The ``"bandwidth"`` grid holds multiples of the median heuristic
(the candidate uses ``bandwidth="median"`` with ``bandwidth_scale`` multiplied by the grid
value, so the final fit takes the median of all particles); every other grid holds absolute
values. The folds are a fixed permutation (seed 0), so "auto" is deterministic. To save time,
candidates that are clearly worse than the leader after the first fold (by ``screen``
standard errors of the paired per-point difference) are not evaluated on the later folds.
"""

import itertools

import numpy as np

from .._validation import as_generator
from ..errors import HyperparameterError, InputError, SingularMatrixError
from ._threads import compute_threads
from .bandwidth import median_sqdist
from .kernels import sqdist

#: defaults of :func:`select_hyperparameters`
FOLDS = 2
MAX_VALIDATION = 1024
N_PROBES = 1
EXACT_DIM = 2
FD_STEP = 1e-3
PENALTY = 1.0
SCREEN = 4.0


def _candidates(estimator, auto_names):
    grids = estimator.auto_grids
    unknown = [k for k in auto_names if k not in grids]
    if unknown:
        raise HyperparameterError(
            f"{type(estimator).__name__} cannot choose {unknown} automatically; "
            f"'auto' is supported for {sorted(grids)}."
        )
    names = list(auto_names)
    out = []
    for values in itertools.product(*(grids[k] for k in names)):
        grid_point = dict(zip(names, values))
        params = dict(grid_point)
        if "bandwidth" in params:
            params["bandwidth"] = "median"
            params["bandwidth_scale"] = float(estimator.bandwidth_scale) * grid_point["bandwidth"]
        out.append((grid_point, params))
    return out


def _probes(d, m, n_probes, exact_dim, rng):
    """Probe directions (m, P, d) with ‖v‖² = d, and whether the trace is exact."""
    if d <= exact_dim:
        V = np.sqrt(d) * np.eye(d)
        return np.broadcast_to(V, (m, d, d)), True
    return rng.choice(np.array([-1.0, 1.0]), size=(m, n_probes, d)), False


def _pointwise_loss(S, V, eps):
    """Held-out loss (m,) per validation point from the gradients S (m, P, 2, d) at y + εv
    (index 0) and y − εv (index 1)."""
    s = S.mean(axis=(1, 2))
    directional = np.einsum("mpd,mpd->mp", V, S[:, :, 0] - S[:, :, 1]) / (2.0 * eps)
    return 0.5 * np.einsum("md,md->m", s, s) + directional.mean(axis=1)


def select_hyperparameters(
    estimator,
    X,
    auto_names,
    folds=FOLDS,
    max_validation=MAX_VALIDATION,
    n_probes=N_PROBES,
    exact_dim=EXACT_DIM,
    fd_step=FD_STEP,
    penalty=PENALTY,
    screen=SCREEN,
    seed=0,
):
    """Choose the "auto" hyper-parameters of ``estimator`` for particles X (n, d).

    Parameters
    ----------
    estimator : ScoreEstimator
        Supplies ``clone``, ``auto_grids`` and ``bandwidth_scale``; it is not modified.
    X : (n, d) validated particles, n ≥ 4.
    auto_names : list of hyper-parameter names set to "auto".
    folds : number of folds; each fold is held out once, the others train.
    max_validation : validation points used in total (spread evenly over the folds).
    n_probes : Rademacher probes per validation point when d > ``exact_dim``.
    exact_dim : up to this dimension the divergence is the exact trace (d probes a point).
    fd_step : finite-difference step, relative to the median pairwise distance.
    penalty : the winner minimises loss + penalty × (standard error of the loss).
    screen : after the first fold, a candidate whose loss exceeds the leader's by more than
        ``screen`` standard errors of the paired difference is not evaluated further.
    seed : seed of the fold permutation and of the Rademacher probes.

    Returns
    -------
    chosen : dict of constructor arguments for ``estimator.clone`` (for "bandwidth":
        ``bandwidth="median"`` and the scaled ``bandwidth_scale``).
    record : dict with ``chosen`` (grid values), ``candidates`` (list of dicts: the grid
        values, ``loss`` (mean over the validation points it was evaluated on; inf when the
        candidate failed), ``stderr``, ``score`` = loss + penalty × stderr (inf unless
        evaluated on every fold), ``screened`` (dropped after the first fold), ``error``),
        and the settings ``folds``, ``n_train``, ``n_validation``, ``divergence`` ("exact" or
        "hutchinson"), ``n_probes`` (per point), ``exact_dim``, ``fd_step``, ``penalty``,
        ``screen``, ``seed``.
    """
    n = X.shape[0]
    if n < 4:
        raise InputError(
            f"'auto' hyper-parameters need at least 4 particles to split into training and "
            f"validation folds; got {n}. Set the hyper-parameters explicitly."
        )
    with compute_threads():
        return _select(estimator, X, auto_names, folds, max_validation, n_probes, exact_dim,
                       fd_step, penalty, screen, seed)


def _select(estimator, X, auto_names, folds, max_validation, n_probes, exact_dim, fd_step,
            penalty, screen, seed):
    n, d = X.shape
    folds = int(min(max(folds, 2), n // 2))
    rng = as_generator(seed)
    parts = np.array_split(rng.permutation(n), folds)
    per_fold = max(1, max_validation // folds)
    candidates = _candidates(estimator, auto_names)
    pointwise = [[] for _ in candidates]
    errors = [None] * len(candidates)
    screened = [False] * len(candidates)
    exact = True
    for f, held in enumerate(parts):
        Xtr = X[np.sort(np.concatenate([p for g, p in enumerate(parts) if g != f]))]
        Y = X[held[:per_fold]]
        m = Y.shape[0]
        D = sqdist(Xtr)
        V, exact = _probes(d, m, n_probes, exact_dim, rng)
        P = V.shape[1]
        eps = fd_step * median_sqdist(D)[1] / np.sqrt(d)  # step length ε‖v‖ = ε√d
        Q = (Y[:, None, None, :] + eps * np.stack([V, -V], axis=2)).reshape(m * P * 2, d)
        for c, (_, params) in enumerate(candidates):
            if errors[c] is not None or screened[c]:
                continue
            try:
                est = estimator.clone(**params)._fit_checked(Xtr, D.copy())
                S = est.gradients(Q).reshape(m, P, 2, d)
            except (SingularMatrixError, np.linalg.LinAlgError) as exc:
                errors[c] = str(exc)
                continue
            pointwise[c].append(_pointwise_loss(S, V, eps))
        if f == 0 and folds > 1:
            _screen(pointwise, errors, screened, penalty, screen)
    loss, stderr = _summaries(pointwise, errors)
    complete = np.array([e is None and not s for e, s in zip(errors, screened)])
    score = np.where(complete, loss + penalty * stderr, np.inf)
    if not np.any(np.isfinite(score)):
        first = next((e for e in errors if e), "non-finite losses")
        raise SingularMatrixError(
            f"every 'auto' candidate of {type(estimator).__name__} failed on these particles "
            f"({first}); set the hyper-parameters explicitly."
        )
    best = int(np.argmin(score))
    record = {
        "chosen": dict(candidates[best][0]),
        "candidates": [
            {**grid_point, "loss": float(loss[c]), "stderr": float(stderr[c]),
             "score": float(score[c]), "screened": screened[c], "error": errors[c]}
            for c, (grid_point, _) in enumerate(candidates)
        ],
        "folds": folds,
        "n_train": int(n - len(parts[0])),
        "n_validation": int(sum(min(per_fold, len(p)) for p in parts)),
        "divergence": "exact" if exact else "hutchinson",
        "n_probes": int(d if exact else n_probes),
        "exact_dim": exact_dim,
        "fd_step": fd_step,
        "penalty": penalty,
        "screen": screen,
        "seed": seed,
    }
    return dict(candidates[best][1]), record


def _summaries(pointwise, errors):
    """Mean and standard error of each candidate's per-point losses (inf when failed)."""
    loss = np.full(len(pointwise), np.inf)
    stderr = np.full(len(pointwise), np.inf)
    for c, chunks in enumerate(pointwise):
        if errors[c] is None and chunks:
            values = np.concatenate(chunks)
            if np.all(np.isfinite(values)):
                loss[c] = values.mean()
                stderr[c] = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else 0.0
    return loss, stderr


def _screen(pointwise, errors, screened, penalty, screen):
    """Mark candidates clearly worse than the leader on the points seen so far."""
    loss, stderr = _summaries(pointwise, errors)
    if not np.any(np.isfinite(loss)):
        return
    lead = int(np.argmin(loss + penalty * stderr))
    ref = np.concatenate(pointwise[lead])
    for c, chunks in enumerate(pointwise):
        if c == lead or not np.isfinite(loss[c]):
            continue
        diff = np.concatenate(chunks) - ref
        if diff.mean() > screen * diff.std(ddof=1) / np.sqrt(diff.size):
            screened[c] = True
