"""Simulation: synthetic batches judged by a simulated judge, run through the real engine loop.

Owns the harness that every statistical claim of the engine is measured on (`simulate_batch`):
students and anchors with a hidden latent quality on a grade scale, a judge that is noisy,
position-biased, lapsing and more or less accurate from pair to pair, and the real loop of
pairing → `population.fit_population` → grading → stopping, round by round, on the service's
schedule (`schedule.round_size`). Strategies: our pairing ("ours") and two baselines, random
pairing ("random") and the replaced system's ("reference"). Each round is compared with the
truth: grade agreement, κ, Spearman, reported reliability against the true r², interval
coverage, and per student the P(primary grade) with whether it was right, so a bench can pool
thousands of students into a calibration table. Used by `bench/engine_sim.py`, `cj_simulate`
and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import expit
from scipy.stats import kendalltau, spearmanr

from assessments.engine.grading import GradeProjection, grade_calibration, grade_projection
from assessments.engine.pairing import (
    PairingState,
    initial_design,
    pair_keys,
    plan_round,
    unjudged_pair_count,
)
from assessments.engine.population import PopulationFit, fit_population
from assessments.engine.schedule import round_size
from assessments.engine.scoring import fit_bt
from assessments.engine.stopping import StoppingConfig, StoppingState, decide

Strategy = Literal["ours", "random", "reference"]
StopRule = Literal["budget", "strategy"]

# With students' latent quality ~ N(0, 1), this discrimination, 0.3 logits of position bias,
# 6% lapses and 0.5 logits of pair-to-pair noise make the judge agree with the truth on about
# 78% of random student pairs (`judge_agreement`), like a good LLM judge on essays.
DEFAULT_DISCRIMINATION = 1.8
# True grade cut points on the latent scale span ±LATENT_GRADE_SPAN, evenly spaced.
LATENT_GRADE_SPAN = 1.5
# Below this many judged comparisons the order effect is not estimated (as in the service).
MIN_COMPARISONS_FOR_ORDER_EFFECT = 20


@dataclass(frozen=True)
class JudgeProfile:
    """The simulated judge. P(first shown wins) = lapse/2 + (1 − lapse)·σ(discrimination·(q_first
    − q_second) + position_bias + ε), ε ~ N(0, pair_noise²) drawn for every comparison (how well
    the judge reads varies from pair to pair)."""

    discrimination: float = DEFAULT_DISCRIMINATION
    position_bias: float = 0.3
    lapse_rate: float = 0.06
    pair_noise: float = 0.5


@dataclass(frozen=True)
class SimulationConfig:
    """One simulated batch.

    Anchors: each grade gets between `anchors_per_grade[0]` and `anchors_per_grade[1]` anchors
    (drawn per grade), each placed uniformly at random inside its grade's band (the open end
    bands are as wide as the others): a graded essay is somewhere in its grade, not at its centre.
    Budget: `comparisons_per_essay`·n/2 comparisons over at most `max_rounds` rounds, sized as
    the service sizes them. `stop_rule` "budget" spends the budget; "strategy" also lets each
    strategy stop by its own rule: ours and random by `stopping.decide` (reliability target,
    or grades settled when `grade_certainty_target` is set, once every student has
    `min_comparisons`), reference when no θ moved more than `reference_stability` logits.
    """

    strategy: Strategy = "ours"
    seed: int = 0
    n_students: int = 40
    grades: tuple[str, ...] = ("F", "E", "D", "C", "B", "A")
    anchors_per_grade: tuple[int, int] = (1, 2)
    judge: JudgeProfile = JudgeProfile()
    comparisons_per_essay: float = 10.0
    max_rounds: int = 6
    stop_rule: StopRule = "budget"
    reliability_target: float | None = 0.90
    grade_certainty_target: float | None = None
    min_comparisons: int = 6
    reference_stability: float = 0.025
    draws: int | None = None  # posterior draws per fit; None: `fit_population`'s default


@dataclass(frozen=True)
class SimulationPoint:
    """The result after one round, students only. Grade metrics are NaN without a projection.

    `reliability` is what the service reports (`PopulationFit.reliability`), `ssr_sirt` the
    classic SSR of a weak-prior fit, `true_r2` the squared correlation of θ with the truth and
    `coverage` the share of 95% intervals θ ± 1.96·SE that hold the true θ (the judge's logit
    scale, located like θ). Per student: `p_primary` (P of the projected grade), `correct`
    (projected = true grade) and `confidence` (the label shown).
    """

    round: int
    comparisons: int
    comparisons_per_essay: float
    spearman: float
    kendall: float
    grade_exact: float
    grade_adjacent: float
    qwk: float
    reliability: float
    ssr_sirt: float
    true_r2: float
    coverage: float
    p_primary: np.ndarray = field(repr=False, compare=False)
    correct: np.ndarray = field(repr=False, compare=False)
    confidence: tuple[str, ...] = field(repr=False, compare=False)


@dataclass(frozen=True)
class SimulationReport:
    """How the batch ended (`final`) and the path to it, one point per round."""

    config: SimulationConfig
    end_reason: str
    projection_unavailable: str | None
    final: SimulationPoint
    trajectory: tuple[SimulationPoint, ...] = field(repr=False)


@dataclass(frozen=True)
class SimulatedBatch:
    quality: np.ndarray  # latent, students first then anchors
    is_anchor: np.ndarray
    grade: np.ndarray  # true grade index of every essay (anchors: the grade they were given)


def judge_agreement(judge: JudgeProfile, *, nodes: int = 80) -> float:
    """P(the judge picks the truly better essay) for two random students (Gauss–Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    e, we = np.polynomial.hermite_e.hermegauss(24)
    we = we / we.sum()
    gap = judge.discrimination * np.abs(x)[:, None] * np.sqrt(2.0) + judge.pair_noise * e[None, :]
    correct = (expit(gap + judge.position_bias) + expit(gap - judge.position_bias)) / 2.0 @ we
    return float(np.sum(w * (judge.lapse_rate / 2.0 + (1.0 - judge.lapse_rate) * correct)))


def true_logit_scale(judge: JudgeProfile) -> float:
    """Logits per unit of latent quality that the judge's verdicts carry once its pair-to-pair
    noise is averaged out (probit approximation: D/√(1 + π·σ²/8)); lapses and position bias
    are not part of the scale. The truth that coverage is measured against is this times q."""
    return float(judge.discrimination / np.sqrt(1.0 + np.pi * judge.pair_noise**2 / 8.0))


def draw_batch(config: SimulationConfig, rng: np.random.Generator) -> SimulatedBatch:
    """Students ~ N(0, 1); 1–2 anchors per grade, each uniform inside its grade's band."""
    n_grades = len(config.grades)
    cuts = np.linspace(-LATENT_GRADE_SPAN, LATENT_GRADE_SPAN, n_grades - 1)
    width = cuts[1] - cuts[0] if n_grades > 2 else LATENT_GRADE_SPAN
    lower = np.concatenate([[cuts[0] - width], cuts])
    students = rng.normal(size=config.n_students)
    low, high = config.anchors_per_grade
    per_grade = rng.integers(low, high + 1, size=n_grades)
    anchor_grade = np.repeat(np.arange(n_grades), per_grade)
    anchors = lower[anchor_grade] + width * rng.random(anchor_grade.size)
    quality = np.concatenate([students, anchors])
    return SimulatedBatch(
        quality=quality,
        is_anchor=np.arange(len(quality)) >= config.n_students,
        grade=np.concatenate([np.searchsorted(cuts, students), anchor_grade]),
    )


def judge_pairs(judge: JudgeProfile, quality: np.ndarray, pairs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1.0 when the essay shown first wins, else 0.0."""
    noise = judge.pair_noise * rng.normal(size=len(pairs))
    gap = judge.discrimination * (quality[pairs[:, 0]] - quality[pairs[:, 1]]) + judge.position_bias + noise
    p_first = judge.lapse_rate / 2.0 + (1.0 - judge.lapse_rate) * expit(gap)
    return (rng.random(len(pairs)) < p_first).astype(float)


def simulate_batch(config: SimulationConfig) -> SimulationReport:
    """Run one batch to its end and compare every round with the truth.

    Steps:
    1. Draw the batch (`draw_batch`); plan round 1: ours `initial_design`, random a random
       matching, reference its own matching at θ = 0. Round sizes follow the service.
    2. Judge the round, fit every comparison so far (`population.fit_population`, the order effect once
       there are enough comparisons), calibrate grades on the anchors and project them, record a
       `SimulationPoint`.
    3. Stop when the budget or the rounds are spent or (stop_rule "strategy") the strategy's
       own rule fires; otherwise plan the next round and go to 2.
    """
    rng_batch = np.random.default_rng([config.seed, 0])
    rng_judge = np.random.default_rng([config.seed, 1])
    rng_pairs = np.random.default_rng([config.seed, 2])
    batch = draw_batch(config, rng_batch)
    n = len(batch.quality)
    budget = round(config.comparisons_per_essay * n / 2)
    pairs = np.empty((0, 2), dtype=np.int64)
    outcomes = np.empty(0)
    theta, se = np.zeros(n), np.full(n, np.nan)
    projection: GradeProjection | str = "not fitted yet"
    trajectory: list[SimulationPoint] = []
    end_reason = "budget_exhausted"
    round_no = 0
    while True:
        size = round_size(round_no=round_no + 1, n_essays=n, budget=budget, used=len(pairs), max_rounds=config.max_rounds)
        if size == 0:
            end_reason = "budget_exhausted" if len(pairs) >= budget else "max_rounds"
            break
        new = _plan(
            config,
            round_no=round_no,
            size=size,
            theta=theta,
            se=se,
            batch=batch,
            judged=pairs,
            projection=projection,
            rng=rng_pairs,
        )
        if len(new) == 0:
            end_reason = "pairs_exhausted"
            break
        pairs = np.concatenate([pairs, new])
        outcomes = np.concatenate([outcomes, judge_pairs(config.judge, batch.quality, new, rng_judge)])
        round_no += 1
        previous_theta = theta
        anchor_grade = np.where(batch.is_anchor, batch.grade, -1)
        fit = fit_population(
            pairs[:, 0],
            pairs[:, 1],
            outcomes,
            n_items=n,
            in_population=~batch.is_anchor,
            anchor_grade=anchor_grade,
            n_grades=len(config.grades),
            order_effect=len(pairs) >= MIN_COMPARISONS_FOR_ORDER_EFFECT,
            seed=config.seed * 1000 + round_no,
            draws=config.draws,
        )
        theta, se = fit.theta, fit.se
        projection = _project(config, fit)
        point = _point(config, round_no, pairs, outcomes, n, batch, fit, projection)
        trajectory.append(point)
        reason = _strategy_stop(
            config,
            fit=fit,
            pairs=pairs,
            batch=batch,
            round_no=round_no,
            budget=budget,
            previous_theta=previous_theta,
            projection=projection,
        )
        if reason is not None:
            end_reason = reason
            break
        if round_no >= config.max_rounds:
            end_reason = "budget_exhausted" if len(pairs) >= budget else "max_rounds"
            break
    return SimulationReport(
        config=config,
        end_reason=end_reason,
        projection_unavailable=projection if isinstance(projection, str) else None,
        final=trajectory[-1],
        trajectory=tuple(trajectory),
    )


def _plan(
    config: SimulationConfig,
    *,
    round_no: int,
    size: int,
    theta: np.ndarray,
    se: np.ndarray,
    batch: SimulatedBatch,
    judged: np.ndarray,
    projection: GradeProjection | str,
    rng: np.random.Generator,
) -> np.ndarray:
    n = len(theta)
    if config.strategy == "ours":
        if round_no == 0:
            k = max(1, min(n - 1, round(2 * size / n)))
            return initial_design(n, k=k, is_anchor=batch.is_anchor, seed=config.seed)[:size]
        state = PairingState.from_history(
            theta=theta,
            se=se,
            is_anchor=batch.is_anchor,
            judged_pairs=judged,
            boundaries=None if isinstance(projection, str) else projection.calibration.boundaries,
            grade_probabilities=None if isinstance(projection, str) else projection.probabilities,
        )
        return plan_round(state, n_pairs=size, seed=config.seed * 1000 + round_no, floor=config.min_comparisons).pairs
    if config.strategy == "random":
        return random_round(n_items=n, n_pairs=size, judged_pairs=judged, rng=rng)
    return reference_round(theta=theta, judged_pairs=judged, n_pairs=size, rng=rng)


def random_round(*, n_items: int, n_pairs: int, judged_pairs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random pairing with even exposure: random matchings, unjudged pairs where possible.

    Each matching pairs a random permutation off two by two, redrawn up to 20 times to avoid
    judged pairs; pairs are shown in random order.
    """
    seen = set(pair_keys(judged_pairs, n_items).tolist())
    out: list[np.ndarray] = []
    while sum(len(o) for o in out) < n_pairs:
        best, best_repeats = None, None
        for _ in range(20):
            perm = rng.permutation(n_items)[: n_items - n_items % 2].reshape(-1, 2)
            repeats = sum(k in seen for k in pair_keys(perm, n_items).tolist())
            if best_repeats is None or repeats < best_repeats:
                best, best_repeats = perm, repeats
            if repeats == 0:
                break
        assert best is not None
        seen.update(pair_keys(best, n_items).tolist())
        out.append(best)
    pairs = np.concatenate(out)[:n_pairs]
    flip = rng.random(len(pairs)) < 0.5
    return np.where(flip[:, None], pairs[:, ::-1], pairs)


def reference_round(*, theta: np.ndarray, judged_pairs: np.ndarray, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """The replaced system's round: a maximum-weight matching, blind to anchors.

    Weight of pair (i, j): 1/(1 + n_i) + 1/(1 + n_j) + 0.5·exp(−|θ_i − θ_j|), n = comparisons so
    far; judged pairs and i = j are excluded. Approximation of the general-graph matching: solve
    the assignment problem on the symmetric weights (`linear_sum_assignment`), which gives a set
    of cycles, then keep its edges best first while both ends are free, and pair any leftovers
    greedily by weight (splitting a planned pair when two leftovers have met before). Matchings
    are repeated until the round has `n_pairs` pairs. Pairs are shown in random order.
    """
    judged = np.asarray(judged_pairs, dtype=np.int64).reshape(-1, 2)
    out = np.empty((0, 2), dtype=np.int64)
    while len(out) < n_pairs:
        matching = _reference_matching(theta=theta, judged=np.concatenate([judged, out]), n_pairs=n_pairs - len(out))
        if len(matching) == 0:
            break
        out = np.concatenate([out, matching])
    flip = rng.random(len(out)) < 0.5
    return np.where(flip[:, None], out[:, ::-1], out)


def _reference_matching(*, theta: np.ndarray, judged: np.ndarray, n_pairs: int) -> np.ndarray:
    n = len(theta)
    counts = np.bincount(judged.ravel(), minlength=n)
    fairness = 1.0 / (1.0 + counts)
    weight = fairness[:, None] + fairness[None, :] + 0.5 * np.exp(-np.abs(theta[:, None] - theta[None, :]))
    forbidden = np.eye(n, dtype=bool)
    forbidden[judged[:, 0], judged[:, 1]] = True
    forbidden[judged[:, 1], judged[:, 0]] = True
    weight = np.where(forbidden, -1e6, weight)
    rows, cols = linear_sum_assignment(-weight)
    candidates = sorted(zip(rows.tolist(), cols.tolist(), strict=True), key=lambda e: -weight[e])
    free = np.ones(n, dtype=bool)
    pairs: list[tuple[int, int]] = []
    for i, j in candidates:
        if free[i] and free[j] and not forbidden[i, j] and len(pairs) < n_pairs:
            pairs.append((i, j))
            free[i] = free[j] = False
    while len(pairs) < n_pairs and free.sum() >= 2:
        left = np.flatnonzero(free)
        sub = weight[np.ix_(left, left)]
        np.fill_diagonal(sub, -np.inf)
        a, b = np.unravel_index(np.argmax(sub), sub.shape)
        if sub[a, b] >= 0:
            pairs.append((int(left[a]), int(left[b])))
            free[[left[a], left[b]]] = False
        elif _swap_in(pairs, int(left[0]), int(left[1]), forbidden):
            free[left[:2]] = False
        else:
            break
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _swap_in(pairs: list[tuple[int, int]], a: int, b: int, forbidden: np.ndarray) -> bool:
    """Match free a and b, which may not meet, by splitting a planned pair (c, d) into (a, c), (b, d)."""
    for index, (c, d) in enumerate(pairs):
        for x, y in ((c, d), (d, c)):
            if not forbidden[a, x] and not forbidden[b, y]:
                pairs[index] = (a, x)
                pairs.append((b, y))
                return True
    return False


def _project(config: SimulationConfig, fit: PopulationFit) -> GradeProjection | str:
    if fit.grade_probabilities is None or fit.cut_draws is None or fit.anchored is None:
        return fit.grading_unavailable.reason if fit.grading_unavailable else "no anchors"
    calibration = grade_calibration(
        grades=config.grades, cut_draws=fit.cut_draws, population_sd=fit.population_sd, anchored=fit.anchored
    )
    return grade_projection(probabilities=fit.grade_probabilities, calibration=calibration)


def _point(
    config: SimulationConfig,
    round_no: int,
    pairs: np.ndarray,
    outcomes: np.ndarray,
    n: int,
    batch: SimulatedBatch,
    fit: PopulationFit,
    projection: GradeProjection | str,
) -> SimulationPoint:
    students = ~batch.is_anchor
    truth, estimate, se = batch.quality[students], fit.theta[students], fit.se[students]
    exact = adjacent = kappa = float("nan")
    p_primary = np.full(int(students.sum()), np.nan)
    correct = np.zeros(int(students.sum()), dtype=bool)
    confidence: tuple[str, ...] = ("unavailable",) * int(students.sum())
    if not isinstance(projection, str):
        predicted = projection.primary[students]
        true_grade = batch.grade[students]
        correct = predicted == true_grade
        exact = float(np.mean(correct))
        adjacent = float(np.mean(np.abs(predicted - true_grade) <= 1))
        kappa = quadratic_weighted_kappa(true_grade, predicted, n_categories=len(projection.calibration.grades))
        p_primary = projection.primary_probability[students]
        confidence = tuple(c for c, s in zip(projection.confidence, students, strict=True) if s)
    true_theta = true_logit_scale(config.judge) * truth
    true_theta = true_theta - true_theta.mean() + estimate.mean()
    classic = fit_bt(pairs[:, 0], pairs[:, 1], outcomes, n_items=n, allow_disconnected=True)
    return SimulationPoint(
        round=round_no,
        comparisons=len(pairs),
        comparisons_per_essay=2.0 * len(pairs) / n,
        spearman=float(spearmanr(truth, estimate).statistic),
        kendall=float(kendalltau(truth, estimate).statistic),
        grade_exact=exact,
        grade_adjacent=adjacent,
        qwk=kappa,
        reliability=float(fit.reliability),
        ssr_sirt=float(classic.ssr_sirt),
        true_r2=float(np.corrcoef(truth, estimate)[0, 1] ** 2),
        coverage=float(np.mean(np.abs(true_theta - estimate) <= 1.96 * se)),
        p_primary=p_primary,
        correct=correct,
        confidence=confidence,
    )


def quadratic_weighted_kappa(truth: np.ndarray, predicted: np.ndarray, *, n_categories: int) -> float:
    """Cohen's κ with quadratic weights (w_ij = (i − j)²/(K − 1)²); NaN when undefined."""
    truth = np.asarray(truth, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    observed = np.zeros((n_categories, n_categories))
    np.add.at(observed, (truth, predicted), 1.0)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    idx = np.arange(n_categories)
    weights = (idx[:, None] - idx[None, :]) ** 2 / (n_categories - 1) ** 2
    denominator = np.sum(weights * expected)
    return float(1.0 - np.sum(weights * observed) / denominator) if denominator > 0 else float("nan")


def _strategy_stop(
    config: SimulationConfig,
    *,
    fit: PopulationFit,
    pairs: np.ndarray,
    batch: SimulatedBatch,
    round_no: int,
    budget: int,
    previous_theta: np.ndarray,
    projection: GradeProjection | str,
) -> str | None:
    """The strategy's own stop rule (stop_rule "strategy"), or None to go on to the budget."""
    if config.stop_rule == "budget":
        return None
    if config.strategy == "reference":
        moved = np.nanmax(np.abs(fit.theta - previous_theta))
        return "stability_reached" if round_no > 1 and moved <= config.reference_stability else None
    n = len(batch.quality)
    students = ~batch.is_anchor
    counts = np.bincount(pairs.ravel(), minlength=n)
    state = StoppingState(
        rounds_completed=round_no,
        comparisons=len(pairs),
        reliability=float(fit.reliability),
        student_comparisons=counts[students],
        pairs_available=unjudged_pair_count(n_items=n, judged_pairs=pairs),
        primary_probability=None if isinstance(projection, str) else projection.primary_probability[students],
    )
    decision = decide(
        state,
        StoppingConfig(
            reliability_target=config.reliability_target,
            min_comparisons=config.min_comparisons,
            max_comparisons=None,
            budget=budget,
            max_rounds=None,
            grade_certainty=config.grade_certainty_target,
        ),
    )
    return decision.reason


# --- pooling many simulated batches -----------------------------------------------------------

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class HarnessSummary:
    """Many simulated batches pooled (students of every batch together where per student).

    `ece`: expected calibration error of P(primary grade), the |mean P − share right| of each of
    CALIBRATION_BINS equal-width bins weighted by its students. `calibration`: per bin (lower
    edge, students, mean P, share right). `by_label`: per confidence label (students, share
    right). `reliability` and `true_r2` are means over batches; `reliability_error` the mean of
    their absolute difference per batch; `coverage` the pooled 95% interval coverage.
    """

    batches: int
    students: int
    comparisons_per_essay: float
    grade_exact: float
    grade_adjacent: float
    qwk: float
    spearman: float
    mean_p_primary: float
    ece: float
    calibration: tuple[tuple[float, int, float, float], ...]
    by_label: dict[str, tuple[int, float]]
    reliability: float
    true_r2: float
    reliability_error: float
    ssr_sirt: float
    coverage: float


def summarise(points: list[SimulationPoint]) -> HarnessSummary:
    """Pool one point (usually each batch's final one) per simulated batch."""
    p = np.concatenate([pt.p_primary for pt in points])
    right = np.concatenate([pt.correct for pt in points])
    labels = np.array([c for pt in points for c in pt.confidence])
    known = np.isfinite(p)
    p, right_known = p[known], right[known]
    bins = np.clip((p * CALIBRATION_BINS).astype(int), 0, CALIBRATION_BINS - 1)
    table = []
    ece = 0.0
    for b in range(CALIBRATION_BINS):
        members = bins == b
        if members.any():
            gap = abs(float(p[members].mean()) - float(right_known[members].mean()))
            ece += gap * members.sum() / max(p.size, 1)
            table.append((b / CALIBRATION_BINS, int(members.sum()), float(p[members].mean()), float(right_known[members].mean())))
    by_label = {
        label: (int(np.sum(labels == label)), float(right[labels == label].mean()) if np.any(labels == label) else float("nan"))
        for label in ("high", "medium", "low")
    }
    students = int(sum(pt.p_primary.size for pt in points))
    return HarnessSummary(
        batches=len(points),
        students=students,
        comparisons_per_essay=float(np.mean([pt.comparisons_per_essay for pt in points])),
        grade_exact=float(np.nanmean([pt.grade_exact for pt in points])),
        grade_adjacent=float(np.nanmean([pt.grade_adjacent for pt in points])),
        qwk=float(np.nanmean([pt.qwk for pt in points])),
        spearman=float(np.mean([pt.spearman for pt in points])),
        mean_p_primary=float(p.mean()) if p.size else float("nan"),
        ece=float(ece) if p.size else float("nan"),
        calibration=tuple(table),
        by_label=by_label,
        reliability=float(np.nanmean([pt.reliability for pt in points])),
        true_r2=float(np.mean([pt.true_r2 for pt in points])),
        reliability_error=float(np.nanmean([abs(pt.reliability - pt.true_r2) for pt in points])),
        ssr_sirt=float(np.nanmean([pt.ssr_sirt for pt in points])),
        coverage=float(np.average([pt.coverage for pt in points], weights=[pt.p_primary.size for pt in points])),
    )
