"""Stopping: after each round, decide whether to plan another one or finalize, and say why.

Owns `decide`. It reads numbers the services already have (the reliability of the population
fit, comparison counts, budget, cost, rounds, pairs left, grade probabilities) and returns a `Decision` carrying every
input it used, so one structured log line explains the decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Reasons in order of precedence: when several hold at once the first is reported. Outcomes that
# say the result is good come before limits that merely ran out, so a batch that reached its
# reliability target on its last affordable round reads "reliability_reached".
STOP_REASONS = (
    "reliability_reached",
    "grades_settled",
    "budget_exhausted",
    "cost_limit",
    "pairs_exhausted",
    "max_rounds",
)


@dataclass(frozen=True)
class StoppingConfig:
    """Targets and limits. None switches a rule off.

    `reliability_target`: reliability (`population.PopulationFit.reliability`, which tracks the
    true r² on adaptive designs too) at which the batch may stop, once every student has at
    least `min_comparisons` (students only: anchors are not graded). `max_comparisons`: per
    student; when every student has this many the budget is spent. `budget`: total comparisons.
    `cost_limit`: total cost in the currency of `StoppingState.cost`. `max_rounds`: adaptive and
    first rounds together. `grade_certainty`: stop once the mean P(primary grade) over the
    students (the share of grades expected to be right) reaches this, with the same minimum.
    """

    reliability_target: float | None = 0.80
    min_comparisons: int = 10
    max_comparisons: int | None = 30
    budget: int | None = None
    cost_limit: float | None = None
    max_rounds: int | None = 20
    grade_certainty: float | None = None


@dataclass(frozen=True)
class StoppingState:
    """Where the batch stands after a round.

    `student_comparisons`: completed comparisons per student essay. `comparisons`: comparisons
    spent (what the budget counts). `pairs_available`: pairs the next round could still use
    (`pairing.unjudged_pair_count`, or more if repeats are allowed). `primary_probability`: per
    student, from `grading.GradeProjection`, or None when there is no projection.
    """

    rounds_completed: int
    comparisons: int
    reliability: float
    student_comparisons: np.ndarray
    pairs_available: int
    cost: float = 0.0
    primary_probability: np.ndarray | None = None


@dataclass(frozen=True)
class Decision:
    """`stop` with a `reason` from STOP_REASONS, or continue (reason None); `inputs` for the log."""

    stop: bool
    reason: str | None
    inputs: dict[str, object]


def decide(state: StoppingState, config: StoppingConfig) -> Decision:
    """Check each stop rule and report the first that holds, in STOP_REASONS order.

    Steps:
    1. Gather the inputs: reliability, fewest/most comparisons per student, comparisons and cost
       spent, rounds, pairs available, mean and lowest P(primary grade).
    2. Evaluate every rule (a rule whose knob is None never holds):
       reliability_reached: reliability ≥ target and fewest student comparisons ≥ min_comparisons;
       grades_settled: mean P(primary) ≥ grade_certainty and the same minimum;
       budget_exhausted: comparisons ≥ budget, or fewest student comparisons ≥ max_comparisons;
       cost_limit: cost ≥ cost_limit; pairs_exhausted: pairs_available ≤ 0;
       max_rounds: rounds_completed ≥ max_rounds.
    3. Stop with the first rule that holds; otherwise continue.
    """
    counts = np.asarray(state.student_comparisons)
    fewest = int(counts.min()) if counts.size else 0
    most = int(counts.max()) if counts.size else 0
    probs = state.primary_probability
    known = np.asarray(probs, dtype=float) if probs is not None else np.empty(0)
    known = known[np.isfinite(known)]
    lowest_p = float(np.min(known)) if known.size else None
    mean_p = float(np.mean(known)) if known.size else None
    enough = fewest >= config.min_comparisons
    holds = {
        "reliability_reached": config.reliability_target is not None
        and np.isfinite(state.reliability)
        and state.reliability >= config.reliability_target
        and enough,
        "grades_settled": config.grade_certainty is not None
        and mean_p is not None
        and mean_p >= config.grade_certainty
        and enough,
        "budget_exhausted": (config.budget is not None and state.comparisons >= config.budget)
        or (config.max_comparisons is not None and counts.size > 0 and fewest >= config.max_comparisons),
        "cost_limit": config.cost_limit is not None and state.cost >= config.cost_limit,
        "pairs_exhausted": state.pairs_available <= 0,
        "max_rounds": config.max_rounds is not None and state.rounds_completed >= config.max_rounds,
    }
    reason = next((r for r in STOP_REASONS if holds[r]), None)
    inputs: dict[str, object] = {
        "reliability": float(state.reliability) if np.isfinite(state.reliability) else None,
        "reliability_target": config.reliability_target,
        "fewest_student_comparisons": fewest,
        "most_student_comparisons": most,
        "min_comparisons": config.min_comparisons,
        "max_comparisons": config.max_comparisons,
        "comparisons": state.comparisons,
        "budget": config.budget,
        "cost": state.cost,
        "cost_limit": config.cost_limit,
        "pairs_available": state.pairs_available,
        "rounds_completed": state.rounds_completed,
        "max_rounds": config.max_rounds,
        "mean_primary_probability": mean_p,
        "lowest_primary_probability": lowest_p,
        "grade_certainty": config.grade_certainty,
        "rules_holding": [r for r in STOP_REASONS if holds[r]],
    }
    return Decision(stop=reason is not None, reason=reason, inputs=inputs)
