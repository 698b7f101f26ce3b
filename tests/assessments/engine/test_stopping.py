import dataclasses

import numpy as np
import pytest

from assessments.engine.stopping import STOP_REASONS, StoppingConfig, StoppingState, decide


def _state(**changes) -> StoppingState:
    base = StoppingState(
        rounds_completed=3,
        comparisons=300,
        reliability=0.70,
        student_comparisons=np.full(40, 12),
        pairs_available=500,
    )
    return dataclasses.replace(base, **changes)


CONFIG = StoppingConfig(reliability_target=0.80, min_comparisons=10, max_comparisons=30, budget=1000, max_rounds=20)


def test_it_continues_while_no_rule_holds():
    decision = decide(_state(), CONFIG)
    assert not decision.stop
    assert decision.reason is None


def test_it_stops_when_reliability_is_reached_and_every_student_has_the_minimum():
    decision = decide(_state(reliability=0.85), CONFIG)
    assert decision.stop
    assert decision.reason == "reliability_reached"


def test_it_does_not_count_reliability_while_a_student_is_below_the_minimum():
    counts = np.full(40, 12)
    counts[7] = 9
    assert not decide(_state(reliability=0.95, student_comparisons=counts), CONFIG).stop


def test_it_stops_when_the_budget_is_spent():
    assert decide(_state(comparisons=1000), CONFIG).reason == "budget_exhausted"


def test_it_stops_when_every_student_has_the_maximum_comparisons():
    assert decide(_state(student_comparisons=np.full(40, 30)), CONFIG).reason == "budget_exhausted"


def test_it_stops_when_no_pairs_are_left():
    assert decide(_state(pairs_available=0), CONFIG).reason == "pairs_exhausted"


def test_it_stops_at_the_round_limit():
    assert decide(_state(rounds_completed=20), CONFIG).reason == "max_rounds"


def test_it_stops_at_the_cost_limit():
    config = dataclasses.replace(CONFIG, cost_limit=5.0)
    assert decide(_state(cost=5.0), config).reason == "cost_limit"
    assert not decide(_state(cost=4.99), config).stop


def test_grades_settle_only_when_asked():
    probs = np.full(40, 0.95)
    assert not decide(_state(primary_probability=probs), CONFIG).stop
    config = dataclasses.replace(CONFIG, grade_certainty=0.9)
    assert decide(_state(primary_probability=probs), config).reason == "grades_settled"


def test_grades_settle_on_the_mean_probability_even_with_a_few_uncertain_students():
    config = dataclasses.replace(CONFIG, grade_certainty=0.9)
    probs = np.full(40, 0.95)
    probs[:4] = 0.5  # mean 0.905: most grades are safe, four are coin flips
    decision = decide(_state(primary_probability=probs), config)
    assert decision.reason == "grades_settled"
    assert decision.inputs["mean_primary_probability"] == pytest.approx(0.905)
    assert decision.inputs["lowest_primary_probability"] == pytest.approx(0.5)
    probs[:8] = 0.5  # mean 0.86
    assert not decide(_state(primary_probability=probs), config).stop


def test_grades_settle_ignoring_students_without_a_probability():
    config = dataclasses.replace(CONFIG, grade_certainty=0.9)
    probs = np.full(40, 0.95)
    probs[:10] = np.nan
    decision = decide(_state(primary_probability=probs), config)
    assert decision.reason == "grades_settled"
    assert decision.inputs["mean_primary_probability"] == pytest.approx(0.95)
    nothing_known = decide(_state(primary_probability=np.full(40, np.nan)), config)
    assert not nothing_known.stop
    assert nothing_known.inputs["mean_primary_probability"] is None
    assert nothing_known.inputs["lowest_primary_probability"] is None


def test_grades_do_not_settle_while_a_student_is_below_the_minimum():
    config = dataclasses.replace(CONFIG, grade_certainty=0.9)
    counts = np.full(40, 12)
    counts[5] = 9
    assert not decide(_state(primary_probability=np.full(40, 0.99), student_comparisons=counts), config).stop


def test_an_unknown_reliability_never_reaches_the_target_and_is_logged_as_none():
    decision = decide(_state(reliability=float("nan")), CONFIG)
    assert not decision.stop
    assert decision.inputs["reliability"] is None


def test_reaching_reliability_outranks_running_out_of_budget():
    decision = decide(_state(reliability=0.9, comparisons=1000, rounds_completed=20), CONFIG)
    assert decision.reason == "reliability_reached"
    assert decision.inputs["rules_holding"] == ["reliability_reached", "budget_exhausted", "max_rounds"]


def test_the_decision_carries_every_input_it_used():
    inputs = decide(_state(), CONFIG).inputs
    assert inputs["reliability"] == 0.70
    assert inputs["reliability_target"] == 0.80
    assert inputs["grade_certainty"] is None
    assert inputs["mean_primary_probability"] is None
    assert inputs["fewest_student_comparisons"] == 12
    assert inputs["comparisons"] == 300
    assert inputs["budget"] == 1000
    assert inputs["pairs_available"] == 500
    assert inputs["rounds_completed"] == 3
    assert set(inputs["rules_holding"]) <= set(STOP_REASONS)


def test_a_rule_switched_off_never_holds():
    config = StoppingConfig(reliability_target=None, max_comparisons=None, budget=None, max_rounds=None)
    assert not decide(_state(reliability=1.0, comparisons=10**6, rounds_completed=10**3), config).stop
