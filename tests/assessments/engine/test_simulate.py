"""The simulation harness: the simulated judge and batch, the baseline strategies, whole batches
run through the engine loop, and the pooled summary (calibration of P(grade))."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from assessments.engine.simulate import (
    LATENT_GRADE_SPAN,
    JudgeProfile,
    SimulationConfig,
    SimulationPoint,
    draw_batch,
    judge_agreement,
    judge_pairs,
    quadratic_weighted_kappa,
    random_round,
    reference_round,
    simulate_batch,
    summarise,
    true_logit_scale,
)

# Small batches, and 60 posterior draws per fit, keep each simulation around a second: these tests
# are about the loop (budget, stopping, determinism, ranking), not about calibration to two decimals.
SMALL = SimulationConfig(n_students=30, comparisons_per_essay=8, draws=60)


# --- the judge ---------------------------------------------------------------------------------


def test_the_default_judge_agrees_with_the_truth_on_about_78_percent_of_pairs():
    assert judge_agreement(JudgeProfile()) == pytest.approx(0.78, abs=0.015)


def test_judge_agreement_runs_from_a_coin_flip_to_certainty():
    assert judge_agreement(JudgeProfile(discrimination=0.0, pair_noise=0.0)) == pytest.approx(0.5)
    perfect = JudgeProfile(discrimination=50.0, position_bias=0.0, lapse_rate=0.0, pair_noise=0.0)
    assert judge_agreement(perfect) == pytest.approx(1.0, abs=1e-3)
    # Lapses and pair noise each cost agreement.
    assert judge_agreement(JudgeProfile(lapse_rate=0.3)) < judge_agreement(JudgeProfile())
    assert judge_agreement(JudgeProfile(pair_noise=2.0)) < judge_agreement(JudgeProfile())


def test_judged_verdicts_follow_the_judge_profile():
    rng = np.random.default_rng(0)
    quality = np.zeros(2)
    pairs = np.tile([[0, 1]], (40000, 1))
    # Equal essays: the first shown wins σ(bias) of the time, lapses pulling it toward ½.
    biased = JudgeProfile(position_bias=1.0, lapse_rate=0.2, pair_noise=0.0)
    expected = 0.1 + 0.8 / (1 + np.exp(-1.0))
    assert judge_pairs(biased, quality, pairs, rng).mean() == pytest.approx(expected, abs=0.01)
    # A clearly better essay shown second still wins almost always with a sharp judge.
    sharp = JudgeProfile(discrimination=20.0, position_bias=0.3, lapse_rate=0.0, pair_noise=0.0)
    assert judge_pairs(sharp, np.array([0.0, 1.0]), pairs[:1000], rng).mean() < 0.01


def test_pair_noise_flattens_the_judges_logit_scale():
    assert true_logit_scale(JudgeProfile(discrimination=1.8, pair_noise=0.0)) == pytest.approx(1.8)
    assert true_logit_scale(JudgeProfile(discrimination=1.8, pair_noise=1.0)) < 1.8


# --- the batch ---------------------------------------------------------------------------------


def test_anchors_are_drawn_inside_their_grade_band_one_or_two_per_grade():
    config = SimulationConfig()
    n_grades = len(config.grades)
    cuts = np.linspace(-LATENT_GRADE_SPAN, LATENT_GRADE_SPAN, n_grades - 1)
    width = cuts[1] - cuts[0]
    edges = np.concatenate([[cuts[0] - width], cuts, [cuts[-1] + width]])  # end bands as wide as the others
    seen_counts = set()
    for seed in range(10):
        batch = draw_batch(config, np.random.default_rng(seed))
        anchors = batch.is_anchor
        assert np.sum(~anchors) == config.n_students
        per_grade = np.bincount(batch.grade[anchors], minlength=n_grades)
        assert np.all((per_grade >= 1) & (per_grade <= 2))
        seen_counts.update(per_grade.tolist())
        q, g = batch.quality[anchors], batch.grade[anchors]
        assert np.all((q >= edges[g]) & (q <= edges[g + 1]))
        # Students' grades are the bands their quality falls in.
        np.testing.assert_array_equal(batch.grade[~anchors], np.searchsorted(cuts, batch.quality[~anchors]))
    assert seen_counts == {1, 2}


def test_anchors_are_spread_across_their_band_not_set_at_its_centre():
    config = SimulationConfig(anchors_per_grade=(2, 2))
    cuts = np.linspace(-LATENT_GRADE_SPAN, LATENT_GRADE_SPAN, len(config.grades) - 1)
    width = cuts[1] - cuts[0]
    inner = []
    for seed in range(20):
        batch = draw_batch(config, np.random.default_rng(seed))
        q, g = batch.quality[batch.is_anchor], batch.grade[batch.is_anchor]
        middle = (g >= 1) & (g <= len(cuts) - 1)
        inner.append((q[middle] - cuts[g[middle] - 1]) / width)  # position inside the band, 0..1
    position = np.concatenate(inner)
    assert np.mean(position) == pytest.approx(0.5, abs=0.08)
    assert np.std(position) == pytest.approx(1 / np.sqrt(12), abs=0.05)  # uniform, not a point


# --- baseline rounds and agreement -------------------------------------------------------------


def test_the_reference_round_is_a_matching_without_judged_pairs():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=20)
    judged = np.array([[0, 1], [2, 3]])
    pairs = reference_round(theta=theta, judged_pairs=judged, n_pairs=10, rng=rng)
    assert len(pairs) == 10
    assert np.bincount(pairs.ravel(), minlength=20).max() == 1
    keys = {tuple(sorted(p)) for p in pairs.tolist()}
    assert not keys & {(0, 1), (2, 3)}


def test_the_random_round_gives_every_essay_one_comparison():
    pairs = random_round(n_items=20, n_pairs=10, judged_pairs=np.empty((0, 2), dtype=int), rng=np.random.default_rng(0))
    assert np.all(np.bincount(pairs.ravel(), minlength=20) == 1)


def test_quadratic_weighted_kappa_is_one_for_perfect_agreement_and_lower_for_distant_errors():
    truth = np.array([0, 1, 2, 3, 4, 5, 2, 3])
    assert quadratic_weighted_kappa(truth, truth, n_categories=6) == pytest.approx(1.0)
    near = truth.copy()
    near[0] = 1
    far = truth.copy()
    far[0] = 5
    assert quadratic_weighted_kappa(truth, near, n_categories=6) > quadratic_weighted_kappa(truth, far, n_categories=6)


def test_quadratic_weighted_kappa_is_zero_for_a_constant_guess():
    truth = np.array([0, 1, 2, 3, 4, 5, 2, 3])
    assert quadratic_weighted_kappa(truth, np.full(8, 2), n_categories=6) == pytest.approx(0.0)


def test_the_config_and_judge_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SimulationConfig().seed = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        JudgeProfile().lapse_rate = 0.0  # type: ignore[misc]


# --- whole batches -----------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["ours", "random", "reference"])
def test_each_strategy_spends_the_budget_and_recovers_the_ranking(strategy):
    report = simulate_batch(dataclasses.replace(SMALL, strategy=strategy, seed=1))
    final = report.final
    assert report.end_reason == "budget_exhausted"
    # The budget is 8 per essay, rounded to whole comparisons.
    assert final.comparisons_per_essay == pytest.approx(8.0, abs=0.05)
    assert len(report.trajectory) <= SMALL.max_rounds
    assert np.all(np.diff([p.comparisons for p in report.trajectory]) > 0)
    assert final.spearman > 0.5
    assert final.grade_adjacent > 0.6
    assert final.qwk > 0.3  # a single guessed grade scores 0
    assert report.projection_unavailable is None
    assert report.trajectory[-1] == final
    # Per student: a probability and a label for the projected grade.
    assert final.p_primary.shape == final.correct.shape == (SMALL.n_students,)
    assert np.all((final.p_primary > 0) & (final.p_primary <= 1))
    assert len(final.confidence) == SMALL.n_students
    assert final.grade_exact == pytest.approx(final.correct.mean())


def test_it_is_deterministic_for_a_seed():
    config = dataclasses.replace(SMALL, seed=3, comparisons_per_essay=6, max_rounds=2)
    a, b = simulate_batch(config), simulate_batch(config)
    assert a.trajectory == b.trajectory  # the scalar fields
    for p, q in zip(a.trajectory, b.trajectory, strict=True):
        np.testing.assert_array_equal(p.p_primary, q.p_primary)
        assert p.confidence == q.confidence
    c = simulate_batch(dataclasses.replace(config, seed=4))
    assert c.final != a.final


def test_ours_stops_by_the_engine_stopping_rule_when_asked():
    config = dataclasses.replace(SMALL, seed=2, stop_rule="strategy", reliability_target=0.7, comparisons_per_essay=30)
    report = simulate_batch(config)
    assert report.end_reason == "reliability_reached"
    assert report.final.reliability >= 0.7
    assert report.final.comparisons_per_essay < 30
    assert report.final.reliability == report.trajectory[-1].reliability


def test_the_reference_strategy_stops_when_no_theta_moves_more_than_its_threshold():
    config = dataclasses.replace(
        SMALL, strategy="reference", seed=2, stop_rule="strategy", reference_stability=1.5, comparisons_per_essay=30
    )
    report = simulate_batch(config)
    assert report.end_reason == "stability_reached"
    assert report.final.comparisons_per_essay < 30


def test_a_perfect_judge_ranks_better_than_a_noisy_one():
    perfect_judge = JudgeProfile(discrimination=20.0, position_bias=0.0, lapse_rate=0.0, pair_noise=0.0)
    perfect = simulate_batch(dataclasses.replace(SMALL, seed=4, judge=perfect_judge))
    noisy = simulate_batch(dataclasses.replace(SMALL, seed=4, judge=JudgeProfile(discrimination=0.5)))
    assert perfect.final.spearman > 0.95
    assert perfect.final.spearman > noisy.final.spearman
    assert perfect.final.true_r2 > noisy.final.true_r2


# --- summarise ---------------------------------------------------------------------------------


def _point(p_primary, correct, confidence=None, **changes) -> SimulationPoint:
    p_primary = np.asarray(p_primary, dtype=float)
    fields = {
        "round": 1,
        "comparisons": 100,
        "comparisons_per_essay": 10.0,
        "spearman": 0.8,
        "kendall": 0.6,
        "grade_exact": float(np.mean(correct)),
        "grade_adjacent": 0.9,
        "qwk": 0.7,
        "reliability": 0.8,
        "ssr_sirt": 0.85,
        "true_r2": 0.75,
        "coverage": 0.95,
        "p_primary": p_primary,
        "correct": np.asarray(correct, dtype=bool),
        "confidence": tuple(confidence) if confidence is not None else ("low",) * p_primary.size,
    }
    fields.update(changes)
    return SimulationPoint(**fields)


def test_summarise_finds_a_calibrated_probability_calibrated():
    rng = np.random.default_rng(0)
    points = []
    for _ in range(5):
        p = rng.uniform(0.2, 1.0, 4000)
        points.append(_point(p, rng.random(4000) < p))
    summary = summarise(points)
    assert summary.batches == 5
    assert summary.students == 20000
    assert summary.ece < 0.02
    for _, students, mean_p, share_right in summary.calibration:
        assert students > 0
        assert share_right == pytest.approx(mean_p, abs=0.05)
    assert sum(row[1] for row in summary.calibration) == 20000


def test_summarise_finds_an_over_confident_probability_badly_calibrated():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.9, 1.0, 5000)
    summary = summarise([_point(p, rng.random(5000) < 0.6)])
    assert summary.ece == pytest.approx(0.95 - 0.6, abs=0.03)
    assert summary.mean_p_primary == pytest.approx(0.95, abs=0.01)


def test_summarise_counts_students_by_label_with_the_share_right():
    labels = ("high", "high", "high", "medium", "low", "unavailable")
    point = _point([0.9, 0.85, 0.95, 0.7, 0.4, np.nan], [True, True, False, True, False, False], labels)
    summary = summarise([point, point])
    assert summary.by_label["high"] == (6, pytest.approx(2 / 3))
    assert summary.by_label["medium"] == (2, 1.0)
    assert summary.by_label["low"] == (2, 0.0)
    # A student without a probability is left out of the calibration, not counted as P = 0.
    assert sum(row[1] for row in summary.calibration) == 10
    assert summary.students == 12


def test_summarise_averages_reliability_and_its_error_per_batch():
    points = [
        _point([0.5], [True], reliability=0.8, true_r2=0.7, coverage=0.9),
        _point([0.5], [True], reliability=0.6, true_r2=0.7, coverage=1.0),
    ]
    summary = summarise(points)
    assert summary.reliability == pytest.approx(0.7)
    assert summary.true_r2 == pytest.approx(0.7)
    assert summary.reliability_error == pytest.approx(0.1)  # not |0.7 − 0.7| = 0
    assert summary.coverage == pytest.approx(0.95)
