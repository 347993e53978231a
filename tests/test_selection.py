""""auto" hyper-parameters: the in-sample and held-out score-matching losses, their records,
and their choices."""

import itertools

import numpy as np
import pytest

from mcmcadapt.errors import HyperparameterError, InputError, SingularMatrixError
from mcmcadapt.score.base import ScoreEstimator
from mcmcadapt.score.bandwidth import bandwidth_from_sqdist
from mcmcadapt.score.kernels import sqdist
from mcmcadapt.score.selection import select_hyperparameters
from mcmcadapt.score.spectral import SSGE
from mcmcadapt.score.stein import Stein


class LinearScore(ScoreEstimator):
    """ŝ(y) = −precision · A y with A = I + coupling·(J − I): a known field, so the selection
    loss can be computed by hand. A negative precision fails like a singular kernel system."""

    auto_grids = {"precision": (0.25, 1.0, 4.0, -1.0)}

    def __init__(self, precision=1.0, coupling=0.0, bandwidth=1.0, kernel="rbf",
                 bandwidth_scale=1.0, beta=-0.5, auto_criterion="heldout"):
        super().__init__(kernel=kernel, bandwidth=bandwidth, bandwidth_scale=bandwidth_scale,
                         beta=beta, auto_criterion=auto_criterion)
        self.precision = precision
        self.coupling = coupling

    def matrix(self, d):
        return self.precision * ((1 - self.coupling) * np.eye(d) + self.coupling * np.ones((d, d)))

    def _fit(self, X, D):
        if self.precision < 0:
            raise SingularMatrixError("toy system is singular for a negative precision")

    def _gradients(self, Y):
        Y = self.X_ if Y is None else Y
        return -Y @ self.matrix(Y.shape[1])


def hand_loss(X, est):
    """J = mean[½‖ŝ(x)‖² + ∇·ŝ(x)] over all points, with ∇·ŝ = −tr(precision·A)."""
    A = est.matrix(X.shape[1])
    S = -X @ A
    return np.mean(0.5 * np.sum(S**2, axis=1)) - np.trace(A)


def test_loss_is_exact_for_a_known_field_with_exact_divergence():
    X = np.random.default_rng(0).normal(size=(60, 2)) * 0.8
    est = LinearScore(precision="auto", coupling=0.3)
    chosen, record = select_hyperparameters(est, X, ["precision"], criterion="heldout",
                                            max_validation=1000, screen=np.inf)
    assert record["divergence"] == "exact" and record["n_validation"] == 60
    by_value = {c["precision"]: c for c in record["candidates"]}
    for p in (0.25, 1.0, 4.0):
        expected = hand_loss(X, LinearScore(precision=p, coupling=0.3))
        assert by_value[p]["loss"] == pytest.approx(expected, rel=1e-7)
        assert by_value[p]["error"] is None
    # the failing candidate is recorded, not chosen
    assert by_value[-1.0]["loss"] == np.inf and "singular" in by_value[-1.0]["error"]
    # N(0, 0.64 I): J(p) is minimal at p = tr A / E‖A x‖² ≈ 1.4; of the grid, 1 is closest in J
    assert chosen == {"precision": 1.0}
    assert record["chosen"] == {"precision": 1.0}


def test_hutchinson_divergence_is_unbiased_within_its_noise():
    d, n = 6, 3000
    X = np.random.default_rng(1).normal(size=(n, d))
    est = LinearScore(precision="auto", coupling=0.2)
    _, record = select_hyperparameters(est, X, ["precision"], criterion="heldout",
                                       max_validation=n, n_probes=2, exact_dim=2, screen=np.inf)
    assert record["divergence"] == "hutchinson" and record["n_probes"] == 2
    for c in record["candidates"][:3]:
        fixed = LinearScore(precision=c["precision"], coupling=0.2)
        A = fixed.matrix(d)
        # Rademacher: Var(vᵀAv) = 2 Σ_{i≠j} A_ij², averaged over 2 probes and n points
        sd = np.sqrt(2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2)) / (2 * n))
        assert abs(c["loss"] - hand_loss(X, fixed)) < 4 * sd
    # Rademacher probes are exact for a diagonal Jacobian
    _, record = select_hyperparameters(LinearScore(precision="auto"), X[:200], ["precision"],
                                       criterion="heldout", max_validation=200, screen=np.inf)
    assert record["n_probes"] == 1
    for c in record["candidates"][:3]:
        expected = hand_loss(X[:200], LinearScore(precision=c["precision"]))
        assert c["loss"] == pytest.approx(expected, rel=1e-7)


def test_repeated_partitions_average_per_point():
    """A field that ignores its training fold gives every point the same loss in every
    partition: the loss and its standard error (over points, not partitions) must not change
    with the number of partitions, while the fold assignment does."""
    X = np.random.default_rng(9).normal(size=(120, 2))
    est = LinearScore(precision="auto", coupling=0.1)
    _, one = select_hyperparameters(est, X, ["precision"], repeats=1, screen=np.inf)
    _, six = select_hyperparameters(est, X, ["precision"], repeats=6, screen=np.inf)
    assert (one["repeats"], six["repeats"]) == (1, 6)
    assert one["n_validation"] == six["n_validation"] == 120
    for a, b in zip(one["candidates"][:3], six["candidates"][:3]):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-10)
        assert b["stderr"] == pytest.approx(a["stderr"], rel=1e-8)
    # "auto" repeats small samples most
    assert select_hyperparameters(est, X, ["precision"])[1]["repeats"] == 8
    assert select_hyperparameters(est, np.vstack([X] * 20), ["precision"])[1]["repeats"] == 2


def test_screening_drops_only_clearly_worse_candidates():
    X = np.random.default_rng(7).normal(size=(400, 4))
    est = Stein(bandwidth="auto", eta="auto")
    chosen, record = select_hyperparameters(est, X, ["bandwidth", "eta"], criterion="heldout")
    full_chosen, full = select_hyperparameters(est, X, ["bandwidth", "eta"],
                                               criterion="heldout", screen=np.inf)
    assert chosen == full_chosen
    dropped = [c for c in record["candidates"] if c["screened"]]
    assert dropped and not any(c["screened"] for c in full["candidates"])
    kept_best = min(c["score"] for c in full["candidates"])
    for c in dropped:
        # recorded with its first-fold loss, never chosen, and worse than the winner overall
        assert np.isfinite(c["loss"]) and c["score"] == np.inf
        twin = next(f for f in full["candidates"]
                    if (f["bandwidth"], f["eta"]) == (c["bandwidth"], c["eta"]))
        assert twin["score"] > kept_best


def test_too_few_particles_for_auto():
    with pytest.raises(InputError, match="at least 4 particles"):
        Stein(bandwidth="auto").fit(np.random.default_rng(8).normal(size=(3, 2)))


def test_all_candidates_failing_is_an_error():
    class AlwaysSingular(LinearScore):
        auto_grids = {"precision": (-1.0, -2.0)}

    with pytest.raises(SingularMatrixError, match="every 'auto' candidate"):
        AlwaysSingular(precision="auto").fit(np.random.default_rng(2).normal(size=(20, 2)))


def test_unsupported_auto_bandwidth_is_rejected():
    with pytest.raises(HyperparameterError, match="bandwidth automatically"):
        LinearScore(bandwidth="auto").fit(np.random.default_rng(3).normal(size=(20, 2)))


def rel_mse(G, S):
    return np.mean(np.sum((G - S) ** 2, 1)) / np.mean(np.sum(S**2, 1))


def test_stein_auto_records_and_uses_its_choice():
    X = np.random.default_rng(4).normal(size=(400, 4))
    est = Stein(bandwidth="auto", eta="auto").fit(X)
    rec = est.selection_
    assert len(rec["candidates"]) == 16
    grid = set(itertools.product(Stein.auto_grids["bandwidth"], Stein.auto_grids["eta"]))
    assert {(c["bandwidth"], c["eta"]) for c in rec["candidates"]} == grid
    assert all(np.isfinite(c["loss"]) and c["stderr"] > 0 for c in rec["candidates"])
    complete = [c for c in rec["candidates"] if not c["screened"]]
    best = min(complete, key=lambda c: c["loss"] + rec["penalty"] * c["stderr"])
    assert rec["chosen"] == {"bandwidth": best["bandwidth"], "eta": best["eta"]}
    # the final fit uses the chosen multiple of the median of all particles, and the chosen eta
    h_med = bandwidth_from_sqdist(sqdist(X))
    assert est.bandwidth_ == pytest.approx(rec["chosen"]["bandwidth"] * h_med, rel=1e-12)
    assert est.eta_ == rec["chosen"]["eta"]
    fixed = Stein(bandwidth_scale=rec["chosen"]["bandwidth"], eta=rec["chosen"]["eta"]).fit(X)
    np.testing.assert_array_equal(est.gradients(), fixed.gradients())
    # the constructor arguments are unchanged, and a refit repeats the choice exactly
    assert est.bandwidth == "auto" and est.eta == "auto"
    again = Stein(bandwidth="auto", eta="auto").fit(X)
    assert again.selection_ == rec


def test_stein_auto_beats_bad_and_default_settings():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 4)) @ np.diag([1.0, 2.0, 0.5, 1.0])
    S = -X / np.array([1.0, 4.0, 0.25, 1.0])
    auto = rel_mse(Stein(bandwidth="auto", eta="auto").fit(X).gradients(), S)
    bad = rel_mse(Stein(bandwidth_scale=0.2, eta=0.1).fit(X).gradients(), S)
    default = rel_mse(Stein().fit(X).gradients(), S)
    grid = [rel_mse(Stein(bandwidth_scale=g, eta=e).fit(X).gradients(), S)
            for g, e in itertools.product(Stein.auto_grids["bandwidth"], Stein.auto_grids["eta"])]
    assert auto < 0.2 * bad
    assert auto < default
    assert auto <= 1.5 * min(grid)


def test_auto_eta_only_keeps_the_bandwidth():
    X = np.random.default_rng(6).normal(size=(200, 3))
    est = Stein(bandwidth=1.7, eta="auto").fit(X)
    assert [c["eta"] for c in est.selection_["candidates"]] == list(Stein.auto_grids["eta"])
    assert "bandwidth" not in est.selection_["chosen"]
    assert est.bandwidth_ == 1.7 and est.eta_ in Stein.auto_grids["eta"]


class SelfWeightedLinearScore(LinearScore):
    """A :class:`LinearScore` whose fitted values use B = precision·A + c·I
    (c = ``self_weight``) instead of its query function's matrix, as KDE's self-term does."""

    def __init__(self, precision=1.0, coupling=0.0, self_weight=-0.5, bandwidth=1.0,
                 kernel="rbf", bandwidth_scale=1.0, beta=-0.5, auto_criterion="insample"):
        super().__init__(precision=precision, coupling=coupling, bandwidth=bandwidth,
                         kernel=kernel, bandwidth_scale=bandwidth_scale, beta=beta,
                         auto_criterion=auto_criterion)
        self.self_weight = self_weight

    def insample_matrix(self, d):
        return self.matrix(d) + self.self_weight * np.eye(d)


class CentredLinearScore(SelfWeightedLinearScore):
    """Out of sample ŝ(y) = −precision · A (y − x̄), x̄ the mean of the fitted particles; in
    sample ŝ_i = −B (x_i − x̄). The in-sample estimate depends on every particle and its
    total divergence at x_i is known: ∇_{x_i}·ŝ(x_i; X) = −tr(B)·(1 − 1/n)."""

    def _gradients(self, Y):
        if Y is None:
            return -(self.X_ - self.X_.mean(axis=0)) @ self.insample_matrix(self.dim_)
        return -(Y - self.X_.mean(axis=0)) @ self.matrix(Y.shape[1])


def insample_hand_loss(X, est):
    n, d = X.shape
    B = est.insample_matrix(d)
    S = -(X - X.mean(axis=0)) @ B
    return np.mean(0.5 * np.sum(S**2, axis=1)) - np.trace(B) * (1 - 1 / n)


@pytest.mark.parametrize("d, n_probes, divergence", [(2, "auto", "exact"), (6, 3, "hutchinson")])
def test_insample_loss_uses_the_total_divergence(d, n_probes, divergence):
    n = 2000
    X = np.random.default_rng(11).normal(size=(n, d))
    est = CentredLinearScore(precision="auto", coupling=0.2)
    _, record = select_hyperparameters(est, X, ["precision"], n_probes=n_probes, screen=np.inf)
    assert record["criterion"] == "insample" and record["divergence"] == divergence
    assert record["n_train"] == record["n_validation"] == n
    for c in record["candidates"][:3]:
        fixed = CentredLinearScore(precision=c["precision"], coupling=0.2)
        B = fixed.insample_matrix(d)
        # Within a particle, Rademacher probes add Var(vᵀBv) = 2 Σ_{i≠j} B_ij² per probe
        # (none for coordinate probes); across particles the sign products r_i·r̄ add a
        # spread of order tr(B)/n.
        within = 0.0 if divergence == "exact" else 2 * (np.sum(B**2) - np.sum(np.diag(B)**2))
        sd = np.sqrt(within / (record["n_probes"] * n)) + 2 * np.trace(np.abs(B)) / n
        expected = insample_hand_loss(X, fixed)
        assert abs(c["loss"] - expected) < 4 * sd
        # differentiating the query function instead (−tr(precision·A)) would be far off
        wrong = expected - fixed.self_weight * d * (1 - 1 / n)
        assert abs(c["loss"] - wrong) > 8 * sd


def assert_screened_only_worse(record, full):
    """Screening dropped some candidates, and each of them scores worse without screening
    (``full``) than the best candidate."""
    dropped = [c for c in record["candidates"] if c["screened"]]
    assert dropped and not any(c["screened"] for c in full["candidates"])
    kept_best = min(c["score"] for c in full["candidates"])
    for c in dropped:
        twin = next(f for f in full["candidates"]
                    if (f["bandwidth"], f["eta"]) == (c["bandwidth"], c["eta"]))
        assert c["score"] == np.inf and twin["score"] > kept_best


def test_insample_screening_drops_only_clearly_worse_candidates():
    X = np.random.default_rng(12).normal(size=(400, 12))
    est = Stein(bandwidth="auto", eta="auto", auto_criterion="insample")
    chosen, record = select_hyperparameters(est, X, ["bandwidth", "eta"])
    assert record["divergence"] == "hutchinson" and record["n_probes"] == 6
    full_chosen, full = select_hyperparameters(est, X, ["bandwidth", "eta"], screen=np.inf)
    assert chosen == full_chosen
    assert_screened_only_worse(record, full)


@pytest.mark.parametrize("criterion", ["insample", "heldout"])
def test_loss_tracks_the_true_error(criterion):
    """Up to a constant, each candidate's loss estimates ½·mean‖ŝ − s‖²/… at the particles
    (in-sample) or at new points (held-out); the differences between candidates must agree
    with those of the true errors within a few standard errors."""
    rng = np.random.default_rng(13)
    n, d = 600, 3
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(5000, d))
    est = Stein(bandwidth="auto", eta="auto", auto_criterion=criterion)
    _, record = select_hyperparameters(est, X, ["bandwidth", "eta"], criterion=criterion,
                                       screen=np.inf)
    losses, truths = [], []
    for c in record["candidates"]:
        fitted = Stein(bandwidth_scale=c["bandwidth"], eta=c["eta"])
        if criterion == "insample":
            G = fitted.fit(X).gradients()
            truth = 0.5 * np.mean(np.sum((G + X) ** 2, axis=1)) - 0.5 * np.mean(np.sum(X**2, 1))
        else:
            G = fitted.fit(X).gradients(Y)
            truth = 0.5 * np.mean(np.sum((G + Y) ** 2, axis=1)) - 0.5 * d
        losses.append(c["loss"])
        truths.append(truth)
    losses, truths = np.array(losses), np.array(truths)
    assert np.corrcoef(losses, truths)[0, 1] > 0.95
    # the chosen candidate is close to the best in truth
    chosen = [i for i, c in enumerate(record["candidates"])
              if (c["bandwidth"], c["eta"]) == (record["chosen"]["bandwidth"],
                                                record["chosen"]["eta"])][0]
    span = truths.max() - truths.min()
    assert truths[chosen] - truths.min() < 0.05 * span


def test_estimator_carries_its_criterion():
    X = np.random.default_rng(14).normal(size=(60, 3))
    assert Stein(eta="auto").fit(X).selection_["criterion"] == "heldout"
    est = Stein(eta="auto", auto_criterion="insample").fit(X)
    assert est.selection_["criterion"] == "insample" and est.selection_["n_train"] == 60
    with pytest.raises(HyperparameterError, match="auto_criterion"):
        Stein(bandwidth="auto", auto_criterion="loo").fit(X)


class SplitLinearScore(SelfWeightedLinearScore):
    """In sample ŝ_i = −B x_i, out of sample ŝ(y) = −precision·A y: a field whose fitted
    values differ from its query function, and where each particle's fitted value depends on
    that particle only, so both losses are known exactly: in-sample mean ½‖B x‖² − tr B,
    held-out mean ½‖precision·A x‖² − tr(precision·A)."""

    def _gradients(self, Y):
        if Y is None:
            return -self.X_ @ self.insample_matrix(self.dim_)
        return -Y @ self.matrix(Y.shape[1])


def split_pointwise(X, est):
    """Per-particle in-sample and held-out losses of :class:`SplitLinearScore`, by hand."""
    B, A = est.insample_matrix(X.shape[1]), est.matrix(X.shape[1])
    inner = 0.5 * np.sum((X @ B) ** 2, axis=1) - np.trace(B)
    outer = 0.5 * np.sum((X @ A) ** 2, axis=1) - np.trace(A)
    return inner, outer


def test_combined_loss_is_the_per_particle_mean_of_both_losses():
    n = 80
    X = np.random.default_rng(15).normal(size=(n, 2))
    est = SplitLinearScore(precision="auto", coupling=0.3, self_weight=-0.6,
                           auto_criterion="combined")
    chosen, record = select_hyperparameters(est, X, ["precision"], screen=np.inf)
    assert record["criterion"] == "combined" and record["n_validation"] == n
    assert record["divergence"] == "exact" and record["insample"]["divergence"] == "exact"
    scores = {}
    for c in record["candidates"][:3]:
        inner, outer = split_pointwise(X, SplitLinearScore(precision=c["precision"],
                                                           coupling=0.3, self_weight=-0.6))
        both = 0.5 * (inner + outer)
        assert c["loss"] == pytest.approx(both.mean(), rel=1e-7)
        # the standard error is that of the per-particle means (their correlation counted),
        # not the two halves' errors combined as if independent
        assert c["stderr"] == pytest.approx(both.std(ddof=1) / np.sqrt(n), rel=1e-6)
        independent = 0.5 * np.hypot(inner.std(ddof=1), outer.std(ddof=1)) / np.sqrt(n)
        assert abs(c["stderr"] - independent) > 1e-3 * independent
        scores[c["precision"]] = c["loss"] + record["penalty"] * c["stderr"]
    assert chosen == {"precision": min(scores, key=scores.get)}
    # a candidate that fails in the in-sample refits is recorded as failed, never chosen
    failed = record["candidates"][3]
    assert failed["loss"] == np.inf and "singular" in failed["error"]


def test_combined_sees_what_each_half_misses():
    """On N(0, I) the query function −p·y is exact at p = 1 and the fitted values −(p − 1)x
    at p = 2: held-out picks 1, in-sample 2, and only the mean of the two picks p = 1.5,
    which has the smallest mean of the true in-sample and held-out errors."""

    class Shifted(SplitLinearScore):
        auto_grids = {"precision": (1.0, 1.5, 2.0)}

    X = np.random.default_rng(16).normal(size=(500, 2))
    est = Shifted(precision="auto", self_weight=-1.0)
    picks = {crit: select_hyperparameters(est, X, ["precision"], criterion=crit,
                                          screen=np.inf)[0]["precision"]
             for crit in ("heldout", "insample", "combined")}
    true_in, true_out = {}, {}
    for p in Shifted.auto_grids["precision"]:
        fitted = Shifted(precision=p, self_weight=-1.0)
        true_in[p] = np.mean(np.sum((X @ fitted.insample_matrix(2) - X) ** 2, 1))
        true_out[p] = np.mean(np.sum((X @ fitted.matrix(2) - X) ** 2, 1))
    mean = {p: true_in[p] + true_out[p] for p in true_in}
    assert picks["heldout"] == min(true_out, key=true_out.get) == 1.0
    assert picks["insample"] == min(true_in, key=true_in.get) == 2.0
    assert picks["combined"] == min(mean, key=mean.get) == 1.5


def test_combined_is_heldout_above_insample_max_n():
    X = np.random.default_rng(17).normal(size=(60, 3))
    est = Stein(bandwidth="auto", eta="auto")
    chosen, record = select_hyperparameters(est, X, ["bandwidth", "eta"], criterion="combined",
                                            insample_max_n=59)
    ref_chosen, ref = select_hyperparameters(est, X, ["bandwidth", "eta"], criterion="heldout")
    assert chosen == ref_chosen and record["insample"] is None
    assert record["candidates"] == ref["candidates"]
    # at or below the limit the in-sample half changes the losses
    _, small = select_hyperparameters(est, X, ["bandwidth", "eta"], criterion="combined",
                                      insample_max_n=60)
    assert small["insample"] is not None
    assert any(a["loss"] != b["loss"] for a, b in zip(small["candidates"], ref["candidates"]))


def test_combined_screening_drops_only_clearly_worse_candidates():
    X = np.random.default_rng(18).normal(size=(300, 4))
    est = SSGE(bandwidth="auto", eta="auto")
    chosen, record = select_hyperparameters(est, X, ["bandwidth", "eta"])
    full_chosen, full = select_hyperparameters(est, X, ["bandwidth", "eta"], screen=np.inf)
    assert record["criterion"] == "combined" and chosen == full_chosen
    assert_screened_only_worse(record, full)


def test_ssge_auto_guards_its_insample_error():
    """SSGE's default "combined" criterion: on N(0, I_32) with 256 particles the held-out
    loss alone prefers a small bandwidth whose Nyström eigenfunctions over-fit the particles;
    "auto" must stay within 1.5× of the grid's best error at the particles and at new
    points."""
    rng = np.random.default_rng(19)
    X, Y = rng.normal(size=(256, 32)), rng.normal(size=(1000, 32))
    auto = SSGE(bandwidth="auto", eta="auto").fit(X)
    assert auto.selection_["criterion"] == "combined"
    grid = [SSGE(bandwidth_scale=b, eta=e).fit(X)
            for b, e in itertools.product(SSGE.auto_grids["bandwidth"], SSGE.auto_grids["eta"])]
    for query, truth in ((None, -X), (Y, -Y)):
        best = min(rel_mse(g.gradients(query), truth) for g in grid)
        assert rel_mse(auto.gradients(query), truth) <= 1.5 * best


def test_candidate_warnings_are_recorded_not_raised():
    # with a small bandwidth η = 10 is above every eigenvalue of the kernel matrix:
    # that candidate's fit warns, but the user chose "auto", not those values
    import warnings

    X = np.random.default_rng(0).standard_normal((50, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.warns(RuntimeWarning, match="eta=10"):
            SSGE(eta=10.0, bandwidth_scale=0.25).fit(X)
        est = SSGE(bandwidth="auto", eta="auto").fit(X)
    assert any("eta=10" in m for m in est.selection_["warnings"])
    assert est.selection_["chosen"]["eta"] != 10.0


def test_auto_on_a_population_of_mostly_duplicates():
    # 42 of 64 particles coincide: a held-out fold can have a zero median distance even
    # though the whole population has not (every fit with a fixed setting works)
    X = np.vstack([np.zeros((42, 3)), np.random.default_rng(0).normal(size=(22, 3))])
    assert np.all(np.isfinite(Stein().fit(X).gradients()))
    for kwargs in ({"eta": "auto"}, {"bandwidth": 1.0, "eta": "auto"},
                   {"bandwidth": "auto", "eta": "auto"}):
        est = Stein(**kwargs).fit(X)
        assert np.all(np.isfinite(est.gradients())), kwargs
        assert all(np.isfinite(c["loss"]) for c in est.selection_["candidates"]
                   if c["error"] is None)


def test_ssge_n_eigen_is_capped_in_the_folds_only():
    X = np.random.default_rng(0).normal(size=(150, 3))
    est = SSGE(n_eigen=100, bandwidth="auto").fit(X)   # folds hold 75 particles
    assert est.n_eigen == 100 and 75 < est.n_eigen_ <= 100
    with pytest.raises(HyperparameterError, match="exceeds the number of particles"):
        SSGE(n_eigen=200, bandwidth="auto").fit(X)  # more than all of them: the user's error


def test_an_estimate_of_zero_is_never_chosen():
    # eigenvalues of K sum to n, so at n ≤ 10 no eigenvalue exceeds η = 10: that candidate's
    # estimate is exactly 0, whose loss is 0 with no noise; it must not win
    zero = 0
    for seed in range(10):
        for n in (4, 8, 16):
            X = np.random.default_rng(seed).normal(size=(n, 1))
            est = SSGE(bandwidth="auto", eta="auto").fit(X)
            zero += not np.any(est.gradients())
            for c in est.selection_["candidates"]:
                if n <= 10 and c["eta"] == 10.0:
                    assert "no eigenvalue" in c["error"]
    assert zero == 0


def test_u_statistic_searches_eta_above_one():
    # K − diag(K) + ηI = K + (η − 1)I: Stein's U statistic at η is its V statistic at η − 1
    X = np.random.default_rng(0).normal(size=(50, 3))
    u = Stein(statistic="U", bandwidth="auto", eta="auto").fit(X)
    v = Stein(bandwidth="auto", eta="auto").fit(X)
    assert u.search_grids()["eta"] == tuple(1.0 + e for e in Stein.auto_grids["eta"])
    assert u.selection_["chosen"]["bandwidth"] == v.selection_["chosen"]["bandwidth"]
    assert u.eta_ == pytest.approx(1.0 + v.eta_)
    np.testing.assert_allclose(u.gradients(), v.gradients(), rtol=1e-8, atol=1e-10)
