import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from assessments.engine.pairing import (
    ANCHOR_ROUND_CAP,
    SETTLED_PROBABILITY,
    STUDENT_ROUND_CAP,
    PairingState,
    initial_design,
    pair_keys,
    plan_round,
    unjudged_pair_count,
)


def _counts(pairs: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(pairs.ravel(), minlength=n)


def _state(theta, *, se=None, anchors=(), judged=None, boundaries=None) -> PairingState:
    theta = np.asarray(theta, dtype=float)
    n = len(theta)
    is_anchor = np.zeros(n, dtype=bool)
    is_anchor[list(anchors)] = True
    return PairingState.from_history(
        theta=theta,
        se=np.full(n, 0.5) if se is None else np.asarray(se, dtype=float),
        is_anchor=is_anchor,
        judged_pairs=np.empty((0, 2), dtype=int) if judged is None else np.asarray(judged),
        boundaries=boundaries,
    )


def _run_rounds(theta, *, rounds, n_pairs, anchors=(), seed=0):
    """Plan `rounds` rounds in a row, treating every planned pair as judged."""
    judged = np.empty((0, 2), dtype=int)
    for r in range(rounds):
        plan = plan_round(_state(theta, anchors=anchors, judged=judged), n_pairs=n_pairs, seed=seed + r)
        judged = np.concatenate([judged, plan.pairs])
    return judged


@pytest.mark.parametrize(("n", "k"), [(10, 2), (11, 3), (52, 4), (52, 5), (53, 6), (200, 7)])
def test_the_initial_design_gives_every_essay_k_comparisons(n, k):
    pairs = initial_design(n, k=k, is_anchor=np.zeros(n, dtype=bool), seed=1)
    counts = _counts(pairs, n)
    assert counts.max() == k
    # n·k odd: one essay is left one short.
    assert np.sum(counts == k - 1) == (n * k) % 2


@pytest.mark.parametrize(("n", "k"), [(5, 2), (52, 3), (301, 4)])
def test_the_initial_design_is_connected(n, k):
    pairs = initial_design(n, k=k, is_anchor=np.zeros(n, dtype=bool), seed=2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1


def test_the_initial_design_never_repeats_a_pair_and_balances_positions():
    n = 52
    pairs = initial_design(n, k=7, is_anchor=np.zeros(n, dtype=bool), seed=3)
    keys = pair_keys(pairs, n)
    assert len(np.unique(keys)) == len(keys)
    first = np.bincount(pairs[:, 0], minlength=n)
    second = np.bincount(pairs[:, 1], minlength=n)
    assert np.abs(first - second).max() <= 1


def test_the_initial_design_avoids_anchor_against_anchor_pairs():
    is_anchor = np.zeros(52, dtype=bool)
    is_anchor[40:] = True
    pairs = initial_design(52, k=6, is_anchor=is_anchor, seed=4)
    assert np.sum(is_anchor[pairs].all(axis=1)) == 0
    assert np.all(_counts(pairs, 52)[is_anchor] == 6)


def test_the_initial_design_uses_every_pair_once_when_k_exceeds_the_batch():
    pairs = initial_design(4, k=9, is_anchor=np.zeros(4, dtype=bool), seed=0)
    assert sorted(pair_keys(pairs, 4).tolist()) == sorted({a * 4 + b for a in range(4) for b in range(a + 1, 4)})


def test_the_initial_design_is_deterministic_for_a_seed():
    is_anchor = np.arange(30) % 5 == 0
    a = initial_design(30, k=4, is_anchor=is_anchor, seed=7)
    b = initial_design(30, k=4, is_anchor=is_anchor, seed=7)
    c = initial_design(30, k=4, is_anchor=is_anchor, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_the_initial_design_of_one_essay_is_empty():
    assert initial_design(1, k=4, is_anchor=np.zeros(1, dtype=bool), seed=0).shape == (0, 2)


def test_it_never_repeats_a_pair_while_unjudged_candidates_remain():
    theta = np.linspace(-2, 2, 6)  # 15 possible pairs
    judged = np.array([[0, 1], [2, 3], [4, 5], [1, 2], [3, 4], [5, 0]])
    plan = plan_round(_state(theta, judged=judged), n_pairs=9, seed=0)
    assert plan.n_repeats == 0
    assert not set(pair_keys(plan.pairs, 6).tolist()) & set(pair_keys(judged, 6).tolist())
    # One more than is left: every unjudged pair is used, then exactly one repeat.
    plan = plan_round(_state(theta, judged=judged), n_pairs=10, seed=0)
    assert plan.n_repeats == 1
    assert len(set(pair_keys(plan.pairs, 6).tolist())) == 10


def test_a_repeated_pair_is_shown_in_the_other_order():
    plan = plan_round(_state([0.0, 0.1], judged=[[0, 1]]), n_pairs=1, seed=0)
    assert plan.pairs.tolist() == [[1, 0]]
    assert plan.n_repeats == 1


def test_it_returns_fewer_pairs_and_says_why_when_the_batch_runs_out():
    plan = plan_round(_state([0.0, 0.5, 1.0]), n_pairs=5, seed=0)
    assert len(plan.pairs) == 3
    assert "3 distinct pairs" in plan.shortfall
    plan = plan_round(_state([0.0, 0.5, 1.0], judged=[[0, 1], [1, 2]]), n_pairs=2, seed=0, allow_repeats=False)
    assert plan.pairs.tolist() in ([[0, 2]], [[2, 0]])
    assert "repeats are not allowed" in plan.shortfall


def test_it_plans_nothing_for_a_single_essay_and_says_so():
    plan = plan_round(_state([0.0]), n_pairs=3, seed=0)
    assert plan.pairs.shape == (0, 2)
    assert "at least 2 essays" in plan.shortfall


def test_it_keeps_comparison_counts_within_two_of_each_other():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=60)
    judged = _run_rounds(theta, rounds=12, n_pairs=23, anchors=range(50, 60))  # odd-sized rounds
    counts = _counts(judged, 60)
    assert counts.max() - counts.min() <= 2


def test_it_balances_first_and_second_positions_per_essay():
    rng = np.random.default_rng(1)
    judged = _run_rounds(rng.normal(size=40), rounds=10, n_pairs=20)
    first = np.bincount(judged[:, 0], minlength=40)
    second = np.bincount(judged[:, 1], minlength=40)
    assert np.abs(first - second).max() <= 1


def test_it_prefers_pairs_whose_outcome_is_uncertain():
    rng = np.random.default_rng(2)
    theta = rng.normal(scale=2.0, size=200)
    plan = plan_round(_state(theta, se=np.full(200, 0.3)), n_pairs=100, seed=0)
    planned_gap = np.abs(theta[plan.pairs[:, 0]] - theta[plan.pairs[:, 1]]).mean()
    random_gap = np.abs(theta[rng.permutation(200)] - theta).mean()
    assert planned_gap < random_gap / 4
    assert plan.mean_outcome_uncertainty > 0.9


def test_it_pairs_students_with_anchors_rather_than_anchors_with_each_other():
    theta = np.linspace(-3, 3, 30)
    anchors = range(0, 30, 3)  # anchors interleaved with students
    plan = plan_round(_state(theta, anchors=anchors), n_pairs=15, seed=0)
    assert plan.n_anchor_anchor == 0
    assert set(anchors) <= set(plan.pairs.ravel().tolist())


def test_it_pairs_anchors_with_each_other_when_every_essay_is_an_anchor():
    plan = plan_round(_state(np.linspace(-1, 1, 6), anchors=range(6)), n_pairs=3, seed=0)
    assert len(plan.pairs) == 3
    assert plan.n_anchor_anchor == 3


def test_a_short_round_goes_to_essays_near_a_grade_boundary():
    theta = np.linspace(-4, 4, 41)
    plan = plan_round(_state(theta, boundaries=np.array([1.0])), n_pairs=2, seed=0)
    assert np.all(np.abs(theta[plan.pairs] - 1.0) <= 0.6)


def test_a_short_round_goes_to_the_most_uncertain_essays():
    theta = np.linspace(-4, 4, 41)
    se = np.full(41, 0.3)
    se[[5, 6]] = 1.5
    plan = plan_round(_state(theta, se=se), n_pairs=1, seed=0)
    assert set(plan.pairs.ravel().tolist()) == {5, 6}


def test_it_treats_essays_without_an_estimate_as_uncertain():
    theta = np.array([0.0, 1.0, np.nan, 2.0])
    se = np.array([0.4, 0.4, np.nan, 0.4])
    plan = plan_round(_state(theta, se=se), n_pairs=1, seed=0)
    assert 2 in plan.pairs


def test_it_is_deterministic_for_a_seed():
    rng = np.random.default_rng(3)
    state = _state(rng.normal(size=80), anchors=range(70, 80))
    a = plan_round(state, n_pairs=40, seed=5).pairs
    b = plan_round(state, n_pairs=40, seed=5).pairs
    assert np.array_equal(a, b)


def test_it_counts_unjudged_pairs_whatever_their_order():
    judged = np.array([[0, 1], [1, 0], [2, 3]])
    assert unjudged_pair_count(n_items=4, judged_pairs=judged) == 4


def test_a_large_round_keeps_exposure_even_without_repeats():
    rng = np.random.default_rng(4)
    n = 3000
    is_anchor = np.zeros(n, dtype=bool)
    is_anchor[:100] = True
    design = initial_design(n, k=4, is_anchor=is_anchor, seed=0)
    state = PairingState.from_history(theta=rng.normal(size=n), se=np.full(n, 0.6), is_anchor=is_anchor, judged_pairs=design)
    plan = plan_round(state, n_pairs=n // 2, seed=1)
    assert len(plan.pairs) == n // 2
    assert plan.n_repeats == 0
    assert plan.exposure_spread <= 2


# --- grade-directed rounds ---------------------------------------------------------------------


def _grade_rows(p_primary) -> np.ndarray:
    """Rows over four grades with P(primary) on grade 1 and the rest on grade 2 (NaN stays NaN)."""
    p = np.asarray(p_primary, dtype=float)
    rows = np.zeros((len(p), 4))
    rows[:, 1] = p
    rows[:, 2] = 1.0 - p
    return rows


def _graded_state(p_primary, *, anchors=(), judged=None, k=6) -> PairingState:
    """Essays spread over θ, each with about k comparisons judged, and these grade rows."""
    n = len(p_primary)
    is_anchor = np.zeros(n, dtype=bool)
    is_anchor[list(anchors)] = True
    return PairingState.from_history(
        theta=np.linspace(-3, 3, n),
        se=np.full(n, 0.5),
        is_anchor=is_anchor,
        judged_pairs=initial_design(n, k=k, is_anchor=is_anchor, seed=0) if judged is None else judged,
        grade_probabilities=_grade_rows(p_primary),
    )


def test_the_state_from_history_carries_the_grade_probabilities():
    state = _graded_state(np.full(10, 0.7))
    assert state.grade_probabilities.shape == (10, 4)
    assert np.all(state.comparisons == 6)


def test_a_grade_directed_round_leaves_settled_students_alone():
    settled = np.arange(40) % 2 == 0  # settled and undecided students interleaved in θ
    state = _graded_state(np.where(settled, 0.95, 0.5))
    for n_pairs in (5, 20):
        plan = plan_round(state, n_pairs=n_pairs, seed=0, floor=4)
        counts = _counts(plan.pairs, 40)
        assert len(plan.pairs) == n_pairs
        assert counts[settled].sum() == 0
        assert counts[~settled].sum() == 2 * n_pairs
        assert counts.max() <= STUDENT_ROUND_CAP


def test_a_student_just_at_the_settled_probability_is_settled():
    p = np.full(40, 0.5)
    p[::2] = SETTLED_PROBABILITY
    plan = plan_round(_graded_state(p), n_pairs=10, seed=0, floor=4)
    assert _counts(plan.pairs, 40)[::2].sum() == 0


def test_a_settled_student_below_the_floor_still_gets_comparisons():
    n = 40
    settled = np.arange(n) % 2 == 0
    design = initial_design(n, k=6, is_anchor=np.zeros(n, dtype=bool), seed=0)
    # Student 10 (settled) keeps only two of its six comparisons.
    involving = np.flatnonzero((design == 10).any(axis=1))
    judged = np.delete(design, involving[2:], axis=0)
    state = _graded_state(np.where(settled, 0.95, 0.5), judged=judged)
    assert state.comparisons[10] == 2
    assert np.all(state.comparisons[settled & (np.arange(n) != 10)] >= 4)
    plan = plan_round(state, n_pairs=3, seed=0, floor=4)
    counts = _counts(plan.pairs, n)
    assert counts[10] == 2  # up to the floor, and first: a round of three pairs serves it
    assert counts[settled].sum() == counts[10]
    # Without a floor it is settled like the others.
    assert _counts(plan_round(state, n_pairs=3, seed=0, floor=0).pairs, n)[10] == 0


def test_the_most_uncertain_students_get_more_comparisons_than_the_nearly_settled():
    nearly = np.arange(40) % 2 == 0
    state = _graded_state(np.where(nearly, 0.85, 0.4))
    for n_pairs in (10, 30):
        counts = _counts(plan_round(state, n_pairs=n_pairs, seed=0, floor=4).pairs, 40)
        assert counts[~nearly].mean() > 2 * counts[nearly].mean()


def test_a_student_without_grade_probabilities_counts_as_undecided():
    p = np.full(40, 0.99)
    p[[3, 17]] = np.nan
    plan = plan_round(_graded_state(p), n_pairs=2, seed=0, floor=4)
    assert {3, 17} <= set(plan.pairs.ravel().tolist())


def test_a_grade_directed_round_uses_anchors_as_references():
    n = 48
    anchors = np.arange(0, n, 6)
    p = np.where(np.arange(n) % 2 == 0, 0.95, 0.5)
    p[anchors] = np.nan  # anchors are not graded
    state = _graded_state(p, anchors=anchors)
    plan = plan_round(state, n_pairs=24, seed=0, floor=4)
    counts = _counts(plan.pairs, n)
    assert len(plan.pairs) == 24
    assert plan.n_student_anchor >= 12
    assert plan.n_anchor_anchor == 0
    assert np.all(counts[anchors] >= 1)
    assert counts[anchors].max() <= ANCHOR_ROUND_CAP
    settled_students = (p >= SETTLED_PROBABILITY) & ~state.is_anchor
    assert counts[settled_students].sum() == 0


def test_when_every_student_is_settled_the_round_is_still_filled_by_exposure():
    state = _graded_state(np.full(40, 0.99))
    plan = plan_round(state, n_pairs=20, seed=0, floor=4)
    assert len(plan.pairs) == 20
    assert plan.shortfall is None
    assert plan.n_repeats == 0
    assert plan.exposure_spread <= 2
