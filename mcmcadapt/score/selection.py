"""Hyper-parameter selection ("auto") by an unbiased estimate of the score-matching loss.

For an estimate ŝ of s = ∇log q, the score-matching loss (Hyvärinen 2005)

    J(ŝ) = E_q[ ½‖ŝ(x)‖² + ∇·ŝ(x) ]

differs from ½·E_q‖ŝ − s‖² by a constant that does not depend on ŝ (Stein's identity), so
the candidate with the smallest J is the most accurate one, and no knowledge of q is needed.
Three estimates of J are available (``criterion``):

* ``"insample"``: the error at the fitted particles themselves, which is what the
  entropy gradients of the adaptation use. At a particle x_i the estimate ŝ_i = ŝ(x_i; X)
  depends on x_i also through the fit, and Stein's identity then holds with the *total*
  derivative (the score-matching analogue of Stein's unbiased risk estimate):

      E[ŝ_i·s(x_i)] = −E[∇_{x_i}·ŝ(x_i; X)],   so   mean_i [½‖ŝ_i‖² + ∇_{x_i}·ŝ_i]

  estimates ½·mean_i‖ŝ_i − s(x_i)‖² up to the constant. The total divergence comes from a
  refit on perturbed particles X + εV: vᵢ·(ŝ_i(X + εV) − ŝ_i(X))/ε. With independent random
  signs between particles, the cross terms vᵢᵀ(∂ŝ_i/∂x_j)v_j (i ≠ j) have mean zero, and as
  each particle moves every other estimate by O(1/n) their spread is negligible. For
  d ≤ max(``exact_dim``, number of probes) the trace is exact within a particle: probe l
  perturbs coordinate l only (with a random sign per particle); otherwise Hutchinson's
  Rademacher probes (entries ±1). The candidates are fitted on all n particles, so no
  hyper-parameter is chosen for a smaller sample than the one it is used on.
* ``"heldout"`` (default): the error at new points.
  Candidates are fitted on training folds and queried out of sample (``gradients(Y)``); the
  divergence comes from central differences of those queries along probe directions
  v with ‖v‖² = d, vᵀ∇ŝ(y)v ≈ vᵀ(ŝ(y + εv) − ŝ(y − εv))/(2ε); exact trace for
  d ≤ ``exact_dim`` (v_l = √d·e_l), Hutchinson otherwise; ŝ(y) in ½‖ŝ(y)‖² is the mean over
  the ± queries (error O(ε²)).
* ``"combined"``: the mean of the two, for an estimate that is used both at its particles and
  at new points. Both estimate ½·E‖ŝ − s‖² minus the same constant ½·E_q‖s‖², so their mean
  estimates the mean of the in-sample and held-out errors up to that constant. It guards
  against what each one cannot see: the held-out loss misses a candidate whose fitted values
  over-fit the particles (SSGE's Nyström eigenfunctions with a small bandwidth are spiky at
  them), the in-sample loss one that fails between them. Per particle the two losses are
  averaged (each validated particle x_i contributes ½(ℓ_in(x_i) + ℓ_out(x_i)), its in-sample
  loss with the candidate fitted on all particles and its held-out loss from the folds that
  validated it), so the standard error counts their correlation. The in-sample losses come
  first, for every candidate; the held-out rounds then screen on the per-particle mean.
  Above ``insample_max_n`` particles the in-sample half is left out and "combined" is
  "heldout": in-sample over-fitting shrinks as n grows, while the in-sample half's cost grows
  and its probes get fewer, so its noise grows (see the cross terms above). Measured for SSGE
  (benchmarks/score_accuracy.py cells, one BLAS thread): at n = 256 the mean removed every
  miss of held-out selection (6 of 6 cells within 1.5× for seeds 0 and 1, against 3 missed
  cells each) for 0.4–1.5 s instead of 0.1–0.3 s; at n = 1024 it chose as held-out did, for
  5–10 s instead of 1–2 s; at n = 2048 it misranked the 2-D grid mixture's candidates for
  3 of 5 selection seeds (2.1× the best error) where held-out did not, at 5× the cost.

The finite-difference step ε‖v‖ is ``fd_step`` times a length: the candidate's bandwidth
(in-sample; forward differences) or the median pairwise distance of the training fold
(held-out; central differences), so that every candidate is compared on the same queries.

Noise is the limit of the method: by the Stein identity the per-point loss carries a zero-mean
term δ·s + ∇·δ (δ the candidate's error) whose spread is largest for rough, under-regularised
candidates. The winner minimises loss + ``penalty`` × (standard error of the loss).

Candidates are the Cartesian product of the grids of the "auto" hyper-parameters
(``estimator.auto_grids``). The ``"bandwidth"`` grid holds multiples of the median heuristic
(the candidate uses ``bandwidth="median"`` with ``bandwidth_scale`` multiplied by the grid
value); every other grid holds absolute values. Everything random (folds, probes) is fixed by
``seed``, so "auto" is deterministic. Evaluation runs in rounds (held-out: the folds of
``repeats`` random partitions, a point's loss averaged over them; in-sample: probes); after
the first round, candidates clearly worse than the leader (by ``screen`` standard errors of
the paired per-point difference) are dropped.
"""

import itertools
import warnings

import numpy as np

from .._validation import as_generator
from .base import AUTO_CRITERIA
from ..errors import DegenerateParticlesError, HyperparameterError, InputError, SingularMatrixError
from ._threads import compute_threads
from .bandwidth import RULES, bandwidth_from_sqdist, median_sqdist
from .kernels import sqdist

#: defaults of :func:`select_hyperparameters`
FOLDS = 2
MAX_VALIDATION = 1024
EXACT_DIM = 2
FD_STEP = {"insample": 1e-4, "heldout": 1e-3}
PENALTY = 1.0
SCREEN = 4.0
INSAMPLE_MAX_N = 512
#: "auto" probes (in-sample) and partitions (held-out): about this many evaluated particles
#: per candidate in total, with between 1 and MAX_PROBES probes or partitions
PROBE_BUDGET = 2048
REPEAT_BUDGET = 4096
MAX_PROBES = 8


def _candidates(estimator, auto_names):
    grids = estimator.search_grids()
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


def _auto_count(value, name, budget, n):
    """``value`` as a positive int; "auto": ceil(budget / n) clipped to [1, MAX_PROBES]."""
    if value == "auto":
        return int(np.clip(-(-budget // n), 1, MAX_PROBES))
    if int(value) < 1:
        raise HyperparameterError(f"{name} must be a positive integer or 'auto', got {value!r}.")
    return int(value)


def select_hyperparameters(
    estimator,
    X,
    auto_names,
    criterion=None,
    folds=FOLDS,
    repeats="auto",
    max_validation=MAX_VALIDATION,
    n_probes="auto",
    exact_dim=EXACT_DIM,
    fd_step=None,
    penalty=PENALTY,
    screen=SCREEN,
    insample_max_n=INSAMPLE_MAX_N,
    seed=0,
):
    """Choose the "auto" hyper-parameters of ``estimator`` for particles X (n, d).

    Parameters
    ----------
    estimator : ScoreEstimator
        Supplies ``clone``, ``auto_grids`` and ``bandwidth_scale``; it is not modified.
    X : (n, d) validated particles, n ≥ 4.
    auto_names : list of hyper-parameter names set to "auto".
    criterion : "heldout" (error at new points), "insample" (error at the fitted particles) or
        "combined" (their mean); None: the estimator's ``auto_criterion``.
    folds : held-out only: number of folds; each fold is held out once, the others train.
    repeats : held-out only: number of random partitions into folds; a point's loss is
        averaged over them. "auto": ceil(4096 / n) clipped to [1, 8] (small samples, whose
        cross-validation is noisiest, are also the cheapest to repeat).
    max_validation : held-out only: validation points used in total (spread over the folds).
    n_probes : Rademacher probes (in-sample: perturbed refits; held-out: per validation point)
        when the trace is not exact; "auto": ceil(2048 / n) clipped to [1, 8] in-sample, 1
        held-out.
    exact_dim : up to this dimension the divergence is the exact trace (in-sample: also up to
        the number of probes, which then cost no more than Hutchinson's).
    fd_step : finite-difference step relative to the candidate's bandwidth (in-sample,
        default 1e-4) or to the median pairwise distance (held-out, default 1e-3); "combined"
        uses the defaults of both when None, else this value for both.
    penalty : the winner minimises loss + penalty × (standard error of the loss).
    screen : after the first round, a candidate whose loss exceeds the leader's by more than
        ``screen`` standard errors of the paired difference is not evaluated further.
    insample_max_n : "combined" only: above this many particles the in-sample half is left out.
    seed : seed of the fold permutation and of the probes.

    Returns
    -------
    chosen : dict of constructor arguments for ``estimator.clone`` (for "bandwidth":
        ``bandwidth="median"`` and the scaled ``bandwidth_scale``).
    record : dict with ``chosen`` (grid values), ``params`` (the constructor arguments
        returned as ``chosen``, e.g. ``bandwidth="median"`` with its scale), ``candidates`` (list of dicts: the grid
        values, ``loss`` (mean per-point loss; inf when the candidate failed), ``stderr``,
        ``score`` = loss + penalty × stderr (inf unless evaluated in every round),
        ``screened`` (dropped after the first round), ``error``), ``warnings`` (the distinct
        messages the candidate fits warned, kept from the user), and the settings
        ``criterion``, ``folds`` and ``repeats`` (held-out), ``n_train``, ``n_validation``,
        ``divergence`` ("exact" or "hutchinson"), ``n_probes``, ``exact_dim``, ``fd_step``,
        ``penalty``, ``screen``, ``seed``. "combined" records the held-out settings (its
        ``fd_step`` is the held-out one) and the in-sample ones under ``insample``
        (``divergence``, ``n_probes``, ``fd_step``; None when left out for n >
        ``insample_max_n``).
    """
    n = X.shape[0]
    if criterion is None:
        criterion = getattr(estimator, "auto_criterion", "heldout")
    if criterion not in AUTO_CRITERIA:
        raise HyperparameterError(
            f"criterion must be one of {AUTO_CRITERIA}, got {criterion!r}.")
    if n < 4:
        raise InputError(
            f"'auto' hyper-parameters need at least 4 particles to split into training and "
            f"validation folds; got {n}. Set the hyper-parameters explicitly."
        )
    steps = {k: FD_STEP[k] if fd_step is None else fd_step for k in FD_STEP}
    fd_step = steps["heldout" if criterion == "combined" else criterion]
    rng = as_generator(seed)
    options = dict(folds=folds, repeats=repeats, max_validation=max_validation,
                   n_probes=n_probes, exact_dim=exact_dim, penalty=penalty, screen=screen,
                   rng=rng)
    # Warnings of candidate fits (e.g. an SSGE η above every eigenvalue) concern values the
    # user did not choose; they are recorded, and only the chosen fit's reach the user.
    with compute_threads(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        candidates = _candidates(estimator, auto_names)
        if criterion == "insample":
            pointwise, errors, screened, settings = _insample(
                estimator, X, candidates, fd_step=fd_step, **options)
        elif criterion == "heldout" or n > insample_max_n:
            pointwise, errors, screened, settings = _heldout(
                estimator, X, candidates, fd_step=fd_step, **options)
            if criterion == "combined":
                settings["insample"] = None
        else:
            # every candidate in-sample first (no screening: a candidate poor at the
            # particles may be good between them, and the mean decides)
            inner, errors, _, inner_settings = _insample(
                estimator, X, candidates, fd_step=steps["insample"], **{**options,
                                                                         "screen": np.inf})
            insample = np.array([chunks[0] if chunks else np.full(X.shape[0], np.nan)
                                 for chunks in inner])
            pointwise, errors, screened, settings = _heldout(
                estimator, X, candidates, fd_step=fd_step, insample=insample,
                failed=errors, **options)
            settings["insample"] = {"divergence": inner_settings["divergence"],
                                    "n_probes": inner_settings["n_probes"],
                                    "fd_step": steps["insample"]}
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
        "params": dict(candidates[best][1]),
        "candidates": [
            {**grid_point, "loss": float(loss[c]), "stderr": float(stderr[c]),
             "score": float(score[c]), "screened": screened[c], "error": errors[c]}
            for c, (grid_point, _) in enumerate(candidates)
        ],
        "criterion": criterion,
        "warnings": sorted({str(w.message) for w in caught}),
        **settings,
        "exact_dim": exact_dim,
        "fd_step": fd_step,
        "penalty": penalty,
        "screen": screen,
        "seed": seed,
    }
    return dict(candidates[best][1]), record


_FAILURES = (SingularMatrixError, np.linalg.LinAlgError, DegenerateParticlesError)


class _Degenerate(Exception):
    """A candidate fit that carries no information (``ScoreEstimator.degenerate``)."""


def _fit_candidate(estimator, params, X, D=None):
    """``estimator`` with ``params`` fitted on X, or _Degenerate."""
    est = estimator.clone(**params)._fit_checked(X, D)
    why = est.degenerate()
    if why is not None:
        raise _Degenerate(why)
    return est


def _fold_params(estimator, params, n_train, D_all):
    """A candidate's arguments for a fold of ``n_train`` particles: the estimator's own
    subset overrides and, when the fold is mostly duplicates (``D_all``, all particles'
    squared distances, is then given), its bandwidth rule evaluated on all particles."""
    params = {**params, **estimator.subset_params(n_train)}
    rule = params.get("bandwidth", estimator.bandwidth)
    if D_all is not None and isinstance(rule, str) and rule in RULES:
        scale = params.get("bandwidth_scale", estimator.bandwidth_scale)
        params = {**params, "bandwidth": scale * bandwidth_from_sqdist(D_all, rule),
                  "bandwidth_scale": 1.0}
    return params


def _insample(estimator, X, candidates, *, n_probes, exact_dim, fd_step, penalty, screen, rng,
              **_):
    """Rounds are probes; the per-point loss is ½‖ŝ_i‖² plus the divergence estimated from
    the probes so far (their sum for coordinate probes, their mean for Hutchinson's)."""
    n, d = X.shape
    probes = _auto_count(n_probes, "n_probes", PROBE_BUDGET, n)
    exact = d <= max(exact_dim, probes)
    if exact:
        # probe l moves coordinate l of every particle, with independent signs; a single
        # round, as the trace needs every coordinate
        signs = rng.choice(np.array([-1.0, 1.0]), size=(n, d))
        rounds = [[(l, signs[:, l]) for l in range(d)]]
    else:
        rounds = [[("all", rng.choice(np.array([-1.0, 1.0]), size=(n, d)))]
                  for _ in range(probes)]
    D = sqdist(X)
    half = [None] * len(candidates)
    base = [None] * len(candidates)
    divs = [[] for _ in candidates]
    errors = [None] * len(candidates)
    screened = [False] * len(candidates)
    for r, round_probes in enumerate(rounds):
        for c, (_, params) in enumerate(candidates):
            if errors[c] is not None or screened[c]:
                continue
            try:
                if base[c] is None:
                    est = _fit_candidate(estimator, params, X, D.copy())
                    S0 = est._gradients(None)
                    half[c] = 0.5 * np.einsum("nd,nd->n", S0, S0)
                    base[c] = (S0, est.bandwidth_)
                S0, h = base[c]
                fixed = estimator.clone(**{**params, "bandwidth": h, "bandwidth_scale": 1.0})
                div = np.zeros(n)
                for which, v in round_probes:
                    if which == "all":
                        eps = fd_step * h / np.sqrt(d)
                        Xp = X + eps * v
                        Sp = fixed._fit_checked(Xp)._gradients(None)
                        div += np.einsum("nd,nd->n", v, Sp - S0) / eps
                    else:
                        eps = fd_step * h
                        Xp = X.copy()
                        Xp[:, which] += eps * v
                        Sp = fixed._fit_checked(Xp)._gradients(None)
                        div += v * (Sp[:, which] - S0[:, which]) / eps
            except (*_FAILURES, _Degenerate) as exc:
                errors[c] = str(exc)
                continue
            divs[c].append(div)
        if r == 0 and len(rounds) > 1:
            _screen(_pointwise_insample(half, divs), errors, screened, penalty, screen)
    settings = {"n_train": n, "n_validation": n,
                "divergence": "exact" if exact else "hutchinson",
                "n_probes": d if exact else probes}
    return _pointwise_insample(half, divs), errors, screened, settings


def _pointwise_insample(half, divs):
    return [[h + np.mean(dv, axis=0)] if dv else [] for h, dv in zip(half, divs)]


def _heldout_probes(d, m, n_probes, exact_dim, rng):
    """Probe directions (m, P, d) with ‖v‖² = d, and whether the trace is exact."""
    if d <= exact_dim:
        V = np.sqrt(d) * np.eye(d)
        return np.broadcast_to(V, (m, d, d)), True
    return rng.choice(np.array([-1.0, 1.0]), size=(m, n_probes, d)), False


def _heldout_pointwise(S, V, eps):
    """Held-out loss (m,) per validation point from the gradients S (m, P, 2, d) at y + εv
    (index 0) and y − εv (index 1)."""
    s = S.mean(axis=(1, 2))
    directional = np.einsum("mpd,mpd->mp", V, S[:, :, 0] - S[:, :, 1]) / (2.0 * eps)
    return 0.5 * np.einsum("md,md->m", s, s) + directional.mean(axis=1)


def _heldout(estimator, X, candidates, *, folds, repeats, max_validation, n_probes, exact_dim,
             fd_step, penalty, screen, rng, insample=None, failed=None, **_):
    """Rounds are folds, over ``repeats`` random partitions; a point's loss is its mean over
    the partitions that validated it (so the standard error still counts points, not
    partitions), and the losses of all validated points are the candidate's sample.

    ``insample`` (candidates, n): per-particle in-sample losses ("combined"); a validated
    particle's loss is then the mean of its held-out and in-sample losses, in the screening
    as in the result. ``failed``: errors of candidates already failed (not evaluated)."""
    n, d = X.shape
    n_probes = 1 if n_probes == "auto" else _auto_count(n_probes, "n_probes", PROBE_BUDGET, n)
    repeats = _auto_count(repeats, "repeats", REPEAT_BUDGET, n)
    folds = int(min(max(folds, 2), n // 2))
    per_fold = max(1, max_validation // folds)
    total = np.zeros((len(candidates), n))
    count = np.zeros(n)
    first = [[] for _ in candidates]
    errors = list(failed) if failed is not None else [None] * len(candidates)
    screened = [False] * len(candidates)
    exact = True
    for r in range(repeats):
        parts = np.array_split(rng.permutation(n), folds)
        for f, held in enumerate(parts):
            Xtr = X[np.sort(np.concatenate([p for g, p in enumerate(parts) if g != f]))]
            rows = held[:per_fold]
            Y = X[rows]
            m = Y.shape[0]
            D = sqdist(Xtr)
            V, exact = _heldout_probes(d, m, n_probes, exact_dim, rng)
            P = V.shape[1]
            # step length ε‖v‖ = ε√d, on a fold's length scale, or all particles' when the
            # fold's median distance is 0 (a population made mostly of duplicates)
            length, D_all = median_sqdist(D)[1], None
            if not length > 0:
                D_all = sqdist(X)
                length = median_sqdist(D_all)[1] or np.sqrt(np.mean(D_all))
            eps = fd_step * length / np.sqrt(d)
            Q = (Y[:, None, None, :] + eps * np.stack([V, -V], axis=2)).reshape(m * P * 2, d)
            for c, (_, params) in enumerate(candidates):
                if errors[c] is not None or screened[c]:
                    continue
                try:
                    est = _fit_candidate(
                        estimator, _fold_params(estimator, params, Xtr.shape[0], D_all), Xtr,
                        D.copy())
                    S = est.gradients(Q).reshape(m, P, 2, d)
                except (*_FAILURES, _Degenerate) as exc:
                    errors[c] = str(exc)
                    continue
                loss = _heldout_pointwise(S, V, eps)
                total[c, rows] += loss
                if r == 0 and f == 0:
                    first[c].append(loss if insample is None
                                    else 0.5 * (loss + insample[c, rows]))
            count[rows] += 1
            if r == 0 and f == 0:
                _screen(first, errors, screened, penalty, screen)
    seen = count > 0
    pointwise = [[total[c, seen] / count[seen]] for c in range(len(candidates))]
    if insample is not None:
        pointwise = [[0.5 * (p[0] + insample[c, seen])] for c, p in enumerate(pointwise)]
    settings = {"folds": folds, "repeats": repeats, "n_train": int(n - -(-n // folds)),
                "n_validation": int(seen.sum()),
                "divergence": "exact" if exact else "hutchinson",
                "n_probes": int(d if exact else n_probes)}
    return pointwise, errors, screened, settings


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
