import dataclasses

import numpy as np
import pytest

from assessments.engine.simulate import (
    SimulationConfig,
    judge_agreement,
    quadratic_weighted_kappa,
    random_round,
    reference_round,
    simulate_batch,
)


def test_the_default_judge_agrees_with_the_truth_on_about_80_percent_of_pairs():
    assert judge_agreement(SimulationConfig()) == pytest.approx(0.80, abs=0.01)


@pytest.mark.parametrize("strategy", ["ours", "random", "reference"])
def test_each_strategy_spends_the_budget_and_recovers_the_ranking(strategy):
    report = simulate_batch(SimulationConfig(strategy=strategy, seed=1))
    assert report.final.comparisons == 260  # 10 per essay for 52 essays
    assert report.final.comparisons_per_essay == pytest.approx(10.0)
    assert report.end_reason == "budget_exhausted"
    assert report.final.spearman > 0.6
    assert report.final.grade_adjacent > 0.6
    assert report.projection_unavailable is None
    assert report.trajectory[-1] == report.final


def test_it_is_deterministic_for_a_seed():
    a = simulate_batch(SimulationConfig(seed=3, comparisons_per_essay=6))
    b = simulate_batch(SimulationConfig(seed=3, comparisons_per_essay=6))
    np.testing.assert_array_equal([dataclasses.astuple(p) for p in a.trajectory], [dataclasses.astuple(p) for p in b.trajectory])


def test_ours_stops_by_the_engine_stopping_rule_when_asked():
    config = SimulationConfig(seed=2, stop_rule="strategy", reliability_target=0.7, comparisons_per_essay=30)
    report = simulate_batch(config)
    assert report.end_reason == "reliability_reached"
    assert report.final.ssr >= 0.7
    assert report.final.comparisons < 30 * 52 / 2


def test_the_reference_strategy_stops_when_no_theta_moves_more_than_its_threshold():
    config = SimulationConfig(
        strategy="reference", seed=2, stop_rule="strategy", reference_stability=0.5, comparisons_per_essay=40
    )
    report = simulate_batch(config)
    assert report.end_reason == "stability_reached"
    assert report.final.comparisons < 40 * 52 / 2


def test_a_perfect_judge_ranks_better_than_a_noisy_one():
    perfect = simulate_batch(SimulationConfig(seed=4, discrimination=20.0, lapse_rate=0.0, position_bias=0.0))
    noisy = simulate_batch(SimulationConfig(seed=4, discrimination=0.5))
    assert perfect.final.spearman > 0.95
    assert perfect.final.spearman > noisy.final.spearman


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


def test_the_config_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SimulationConfig().seed = 3  # type: ignore[misc]
