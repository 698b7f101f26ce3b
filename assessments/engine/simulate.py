"""Simulation: a synthetic batch judged by a simulated judge, run through the real engine loop.

Owns `simulate_batch`: draw students and anchors with a latent quality on a grade scale, judge
pairs with a noisy, position-biased, lapsing judge, and run pairing → `scoring.fit_bt` → grading
→ stopping round by round, for our pairing ("ours") or a baseline ("random", "reference"). The
report compares the result with the truth. Used by `bench/engine_sim.py` and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import expit
from scipy.stats import kendalltau, spearmanr

from assessments.engine.grading import (
    GradeProjection,
    ProjectionUnavailable,
    calibrate_grades,
    project_grades,
)
from assessments.engine.pairing import (
    PairingState,
    initial_design,
    pair_keys,
    plan_round,
    unjudged_pair_count,
)
from assessments.engine.scoring import BTFit, fit_bt
from assessments.engine.stopping import StoppingConfig, StoppingState, decide

Strategy = Literal["ours", "random", "reference"]
StopRule = Literal["budget", "strategy"]

# With students' latent quality ~ N(0, 1), 0.2 logits of position bias and 5% lapses, this
# discrimination makes the judge agree with the truth on 80% of random student pairs
# (`judge_agreement`).
DEFAULT_DISCRIMINATION = 1.8
# True grade cut points on the latent scale span ±LATENT_GRADE_SPAN, evenly spaced.
LATENT_GRADE_SPAN = 1.5
# An anchor's latent quality is drawn from the middle ANCHOR_BAND of its grade's interval:
# anchors are typical essays of their grade, not borderline ones.
ANCHOR_BAND = 0.6


@dataclass(frozen=True)
class SimulationConfig:
    """One simulated batch.

    Judge: P(first shown wins) = lapse/2 + (1 − lapse)·σ(discrimination·(q_first − q_second) +
    position_bias). Budget: `comparisons_per_essay`·n/2 comparisons in rounds of `round_pairs`
    (default n/2). `stop_rule` "budget" runs every strategy to the budget; "strategy" also lets
    each stop by its own rule: ours and random by `stopping.decide` at `reliability_target` once
    every student has `min_comparisons`, reference when no θ moved more than
    `reference_stability` logits between rounds.
    `initial_k` is the comparisons per essay of our first round (`pairing.initial_design`).
    """

    strategy: Strategy = "ours"
    seed: int = 0
    n_students: int = 40
    n_anchors: int = 12
    grades: tuple[str, ...] = ("F", "E", "D", "C", "B", "A")
    discrimination: float = DEFAULT_DISCRIMINATION
    position_bias: float = 0.2
    lapse_rate: float = 0.05
    comparisons_per_essay: float = 10.0
    round_pairs: int | None = None
    initial_k: int = 6
    stop_rule: StopRule = "budget"
    reliability_target: float = 0.80
    min_comparisons: int = StoppingConfig.min_comparisons
    reference_stability: float = 0.025


@dataclass(frozen=True)
class SimulationPoint:
    """The result after one round; grade metrics are NaN when no projection was possible."""

    round: int
    comparisons: int
    comparisons_per_essay: float
    spearman: float
    kendall: float
    grade_exact: float
    grade_adjacent: float
    qwk: float
    ssr: float


@dataclass(frozen=True)
class SimulationReport:
    """How the batch ended (`final`, students only) and the path to it, one point per round."""

    config: SimulationConfig
    end_reason: str
    projection_unavailable: str | None
    final: SimulationPoint
    trajectory: tuple[SimulationPoint, ...] = field(repr=False)


@dataclass(frozen=True)
class _Batch:
    quality: np.ndarray  # latent, students first then anchors
    is_anchor: np.ndarray
    grade: np.ndarray  # true grade index of every essay


def judge_agreement(config: SimulationConfig, *, nodes: int = 80) -> float:
    """P(the judge picks the truly better essay) for two random students (Gauss–Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    gap = config.discrimination * np.abs(x) * np.sqrt(2.0)
    correct = (expit(gap + config.position_bias) + expit(gap - config.position_bias)) / 2.0
    return float(np.sum(w * (config.lapse_rate / 2.0 + (1.0 - config.lapse_rate) * correct)))


def simulate_batch(config: SimulationConfig) -> SimulationReport:
    """Run one batch to its end and compare it with the truth.

    Steps:
    1. Draw the batch (`_draw_batch`) and plan the first round: ours `initial_design(initial_k)`,
       random a random matching, reference its own matching at θ = 0.
    2. Judge the round, refit BT on every comparison so far (`fit_bt`, components allowed while
       a baseline's early matchings leave the graph disconnected), calibrate grades from the
       anchors and project them, and record a `SimulationPoint`.
    3. Stop when the budget is spent or (stop_rule "strategy") the strategy's own rule fires;
       otherwise plan the next round (capped at the budget left) and go to 2.
    """
    rng_batch = np.random.default_rng([config.seed, 0])
    rng_judge = np.random.default_rng([config.seed, 1])
    rng_pairs = np.random.default_rng([config.seed, 2])
    batch = _draw_batch(config, rng_batch)
    n = len(batch.quality)
    budget = round(config.comparisons_per_essay * n / 2)
    round_pairs = config.round_pairs or n // 2
    pairs = np.empty((0, 2), dtype=np.int64)
    outcomes = np.empty(0)
    theta, se = np.zeros(n), np.full(n, np.nan)
    boundaries: np.ndarray | None = None
    trajectory: list[SimulationPoint] = []
    end_reason = "budget_exhausted"
    projection_unavailable: str | None = None
    round_no = 0
    while len(pairs) < budget:
        size = min(round_pairs if round_no else _first_round_size(config, n), budget - len(pairs))
        new = _plan(
            config,
            round_no=round_no,
            size=size,
            theta=theta,
            se=se,
            boundaries=boundaries,
            is_anchor=batch.is_anchor,
            judged=pairs,
            rng=rng_pairs,
        )
        if len(new) == 0:
            end_reason = "pairs_exhausted"
            break
        pairs = np.concatenate([pairs, new])
        outcomes = np.concatenate([outcomes, _judge(config, batch.quality, new, rng_judge)])
        round_no += 1
        previous_theta = theta
        fit = fit_bt(pairs[:, 0], pairs[:, 1], outcomes, n_items=n, allow_disconnected=True)
        theta, se = fit.theta, fit.se
        projection = _project(config, batch, fit)
        if isinstance(projection, str):
            projection_unavailable, boundaries = projection, None
        else:
            projection_unavailable, boundaries = None, projection.calibration.boundaries
        point = _point(round_no, pairs, n, batch, fit, projection)
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
    return SimulationReport(
        config=config,
        end_reason=end_reason,
        projection_unavailable=projection_unavailable,
        final=trajectory[-1],
        trajectory=tuple(trajectory),
    )


def _first_round_size(config: SimulationConfig, n: int) -> int:
    """Ours starts with the whole `initial_design`; the baselines with an ordinary round."""
    if config.strategy == "ours":
        return n * min(config.initial_k, n - 1) // 2
    return config.round_pairs or n // 2


def _draw_batch(config: SimulationConfig, rng: np.random.Generator) -> _Batch:
    """Students ~ N(0, 1); anchors spread round-robin over the grades, typical of their grade."""
    n_grades = len(config.grades)
    cuts = np.linspace(-LATENT_GRADE_SPAN, LATENT_GRADE_SPAN, n_grades - 1)
    width = cuts[1] - cuts[0] if n_grades > 2 else LATENT_GRADE_SPAN
    lower = np.concatenate([[cuts[0] - width], cuts])
    students = rng.normal(size=config.n_students)
    anchor_grade = np.arange(config.n_anchors) % n_grades
    offset = (1.0 - ANCHOR_BAND) / 2.0 + ANCHOR_BAND * rng.random(config.n_anchors)
    anchors = lower[anchor_grade] + width * offset
    quality = np.concatenate([students, anchors])
    return _Batch(
        quality=quality,
        is_anchor=np.arange(len(quality)) >= config.n_students,
        grade=np.searchsorted(cuts, quality),
    )


def _judge(config: SimulationConfig, quality: np.ndarray, pairs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1.0 when the essay shown first wins, else 0.0."""
    gap = config.discrimination * (quality[pairs[:, 0]] - quality[pairs[:, 1]])
    p_first = config.lapse_rate / 2.0 + (1.0 - config.lapse_rate) * expit(gap + config.position_bias)
    return (rng.random(len(pairs)) < p_first).astype(float)


def _plan(
    config: SimulationConfig,
    *,
    round_no: int,
    size: int,
    theta: np.ndarray,
    se: np.ndarray,
    boundaries: np.ndarray | None,
    is_anchor: np.ndarray,
    judged: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    n = len(theta)
    if config.strategy == "ours":
        if round_no == 0:
            design = initial_design(n, k=config.initial_k, is_anchor=is_anchor, seed=config.seed)
            return design[:size]
        state = PairingState.from_history(theta=theta, se=se, is_anchor=is_anchor, judged_pairs=judged, boundaries=boundaries)
        return plan_round(state, n_pairs=size, seed=config.seed * 1000 + round_no).pairs
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
    greedily by weight (splitting a planned pair when two leftovers have met before). Pairs are
    shown in random order.
    """
    n = len(theta)
    counts = np.bincount(np.asarray(judged_pairs, dtype=np.int64).ravel(), minlength=n)
    fairness = 1.0 / (1.0 + counts)
    weight = fairness[:, None] + fairness[None, :] + 0.5 * np.exp(-np.abs(theta[:, None] - theta[None, :]))
    forbidden = np.eye(n, dtype=bool)
    judged = np.asarray(judged_pairs, dtype=np.int64).reshape(-1, 2)
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
    out = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    flip = rng.random(len(out)) < 0.5
    return np.where(flip[:, None], out[:, ::-1], out)


def _swap_in(pairs: list[tuple[int, int]], a: int, b: int, forbidden: np.ndarray) -> bool:
    """Match free a and b, which may not meet, by splitting a planned pair (c, d) into (a, c), (b, d)."""
    for index, (c, d) in enumerate(pairs):
        for x, y in ((c, d), (d, c)):
            if not forbidden[a, x] and not forbidden[b, y]:
                pairs[index] = (a, x)
                pairs.append((b, y))
                return True
    return False


def _project(config: SimulationConfig, batch: _Batch, fit: BTFit) -> GradeProjection | str:
    anchors = np.flatnonzero(batch.is_anchor)
    calibration = calibrate_grades(
        theta=fit.theta,
        se=fit.se,
        anchor_index=anchors,
        anchor_grade=batch.grade[anchors],
        grades=config.grades,
    )
    if isinstance(calibration, ProjectionUnavailable):
        return calibration.reason
    return project_grades(theta=fit.theta, se=fit.se, calibration=calibration)


def _point(
    round_no: int,
    pairs: np.ndarray,
    n: int,
    batch: _Batch,
    fit: BTFit,
    projection: GradeProjection | str,
) -> SimulationPoint:
    students = ~batch.is_anchor
    truth, estimate = batch.quality[students], fit.theta[students]
    exact = adjacent = kappa = float("nan")
    if not isinstance(projection, str):
        predicted = projection.primary[students]
        true_grade = batch.grade[students]
        exact = float(np.mean(predicted == true_grade))
        adjacent = float(np.mean(np.abs(predicted - true_grade) <= 1))
        kappa = quadratic_weighted_kappa(true_grade, predicted, n_categories=len(projection.calibration.grades))
    return SimulationPoint(
        round=round_no,
        comparisons=len(pairs),
        comparisons_per_essay=2.0 * len(pairs) / n,
        spearman=float(spearmanr(truth, estimate).statistic),
        kendall=float(kendalltau(truth, estimate).statistic),
        grade_exact=exact,
        grade_adjacent=adjacent,
        qwk=kappa,
        ssr=float(fit.ssr),
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
    fit: BTFit,
    pairs: np.ndarray,
    batch: _Batch,
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
        ssr=float(fit.ssr),
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
        ),
    )
    return decision.reason
