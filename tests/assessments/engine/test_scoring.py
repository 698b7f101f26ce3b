"""Bradley–Terry scoring on simulated data with a known truth, and on hand-made edge cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from assessments.engine.scoring import (
    BTFit,
    DisconnectedComparisonsError,
    comparison_components,
    fit_bt,
    split_half_reliability,
)


def simulate(seed: int, *, n_items: int, n_comparisons: int, order_effect: float = 0.0, spread: float = 1.0):
    """Random pairs, θ ~ N(0, spread²), outcomes from the BT model with an order effect."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(scale=spread, size=n_items)
    first = rng.integers(0, n_items, n_comparisons)
    second = (first + rng.integers(1, n_items, n_comparisons)) % n_items
    p = 1 / (1 + np.exp(-(theta[first] - theta[second] + order_effect)))
    outcome = (rng.random(n_comparisons) < p).astype(float)
    return theta, first, second, outcome


def laplacian(fit: BTFit, first: np.ndarray, second: np.ndarray, n_items: int) -> np.ndarray:
    """The Fisher information of θ at the fit, built densely and independently of the engine."""
    p = 1 / (1 + np.exp(-(fit.theta[first] - fit.theta[second])))
    v = p * (1 - p)
    info = np.zeros((n_items, n_items))
    np.add.at(info, (first, first), v)
    np.add.at(info, (second, second), v)
    np.add.at(info, (first, second), -v)
    np.add.at(info, (second, first), -v)
    return info


# --- estimates ----------------------------------------------------------------------------


def test_it_recovers_theta_on_simulated_data():
    theta, first, second, outcome = simulate(1, n_items=60, n_comparisons=3000)
    fit = fit_bt(first, second, outcome, n_items=60)
    assert fit.converged
    assert np.corrcoef(fit.theta, theta)[0, 1] > 0.95
    assert np.sqrt(np.mean((fit.theta - (theta - theta.mean())) ** 2)) < 0.3
    assert abs(fit.theta.sum()) < 1e-8


def test_its_95_percent_intervals_cover_the_truth_about_95_percent_of_the_time():
    covered = []
    for seed in range(150):
        theta, first, second, outcome = simulate(seed, n_items=30, n_comparisons=450)
        fit = fit_bt(first, second, outcome, n_items=30)
        truth = theta - theta.mean()
        covered.append(np.abs(fit.theta - truth) <= 1.96 * fit.se)
    coverage = np.mean(covered)
    assert 0.93 <= coverage <= 0.975, coverage


def test_items_that_won_or_lost_every_comparison_get_finite_theta():
    _, first, second, outcome = simulate(2, n_items=20, n_comparisons=200)
    # Item 0 wins, and item 1 loses, every comparison it takes part in.
    outcome = outcome.copy()
    outcome[first == 0], outcome[second == 0] = 1.0, 0.0
    outcome[first == 1], outcome[second == 1] = 0.0, 1.0
    outcome[(first == 0) & (second == 1)] = 1.0
    outcome[(first == 1) & (second == 0)] = 0.0
    fit = fit_bt(first, second, outcome, n_items=20)
    assert fit.converged
    assert np.all(np.isfinite(fit.theta)) and np.all(np.isfinite(fit.se))
    assert fit.theta[0] == fit.theta.max() and fit.theta[1] == fit.theta.min()
    assert fit.wins[0] == fit.comparisons[0] and fit.wins[1] == 0


def test_its_eps_adjustment_solves_sirts_adjusted_score_equation():
    # sirt::btm: ε + (n − 2ε)·score/n = expected score, up to the common shift of centring.
    _, first, second, outcome = simulate(3, n_items=15, n_comparisons=150)
    fit = fit_bt(first, second, outcome, n_items=15, prior_sd=None, eps=0.3)
    p = 1 / (1 + np.exp(-(fit.theta[first] - fit.theta[second])))
    expected = np.bincount(first, p, minlength=15) + np.bincount(second, 1 - p, minlength=15)
    n = fit.comparisons
    adjusted = 0.3 + (n - 0.6) * fit.wins / n
    gap = adjusted - expected
    assert np.ptp(gap) < 1e-6


def test_it_refuses_an_infinite_maximum_likelihood_estimate_without_eps_or_prior():
    first, second, outcome = np.array([0, 1, 2, 0]), np.array([1, 2, 0, 3]), np.array([1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="eps"):
        fit_bt(first, second, outcome, n_items=4, eps=0.0, prior_sd=None)
    fit = fit_bt(first, second, outcome, n_items=4, eps=0.0)  # the prior alone keeps it finite
    assert np.all(np.isfinite(fit.theta))


def test_it_recovers_an_order_effect_and_removes_it_from_theta():
    theta, first, second, outcome = simulate(4, n_items=40, n_comparisons=4000, order_effect=0.6)
    fit = fit_bt(first, second, outcome, n_items=40, order_effect=True)
    assert fit.order_effect is not None and fit.order_effect_se is not None
    assert abs(fit.order_effect - 0.6) < 3 * fit.order_effect_se
    assert 0.02 < fit.order_effect_se < 0.06
    assert fit.p_first_wins > 0.55
    assert np.corrcoef(fit.theta, theta)[0, 1] > 0.97


def test_it_finds_no_order_effect_where_there_is_none():
    _, first, second, outcome = simulate(5, n_items=40, n_comparisons=4000)
    fit = fit_bt(first, second, outcome, n_items=40, order_effect=True)
    assert abs(fit.order_effect) < 3 * fit.order_effect_se
    assert fit_bt(first, second, outcome, n_items=40).order_effect is None


# --- standard errors ------------------------------------------------------------------------


def test_its_standard_errors_are_the_projected_inverse_of_the_fisher_information():
    _, first, second, outcome = simulate(6, n_items=30, n_comparisons=600)
    fit = fit_bt(first, second, outcome, n_items=30, prior_sd=None)
    projected = np.sqrt(np.diag(np.linalg.pinv(laplacian(fit, first, second, 30))))
    np.testing.assert_allclose(fit.se, projected, rtol=1e-6)


def test_its_standard_errors_are_not_inflated_by_the_prior():
    # Inverting the ridge-regularised information without projecting out the sum-to-zero
    # direction adds prior_sd²/n to every variance: with a weak prior, an absurd inflation.
    _, first, second, outcome = simulate(7, n_items=30, n_comparisons=600)
    fit = fit_bt(first, second, outcome, n_items=30, prior_sd=10.0)
    info = laplacian(fit, first, second, 30)
    projected = np.sqrt(np.diag(np.linalg.pinv(info)))
    naive = np.sqrt(np.diag(np.linalg.pinv(info + np.eye(30) / 10.0**2)))
    np.testing.assert_allclose(fit.se, projected, rtol=0.01)
    assert np.all(naive > 2 * fit.se)  # the naive figure the test would catch
    assert np.all(fit.se < 1.2 / np.sqrt(fit.information))


def test_its_large_design_path_agrees_with_the_exact_path():
    _, first, second, outcome = simulate(8, n_items=400, n_comparisons=6000, spread=0.7)
    exact = fit_bt(first, second, outcome, n_items=400)
    approximate = fit_bt(first, second, outcome, n_items=400, dense_max_items=0)
    assert exact.se_method == "exact" and approximate.se_method == "belief_propagation"
    np.testing.assert_allclose(approximate.theta, exact.theta, atol=1e-6)
    np.testing.assert_allclose(approximate.se, exact.se, rtol=0.03)
    assert abs(approximate.ssr - exact.ssr) < 0.01


def test_its_large_design_path_estimates_the_order_effect_exactly():
    _, first, second, outcome = simulate(9, n_items=200, n_comparisons=4000, order_effect=0.4)
    exact = fit_bt(first, second, outcome, n_items=200, order_effect=True)
    approximate = fit_bt(first, second, outcome, n_items=200, order_effect=True, dense_max_items=0)
    assert approximate.order_effect == pytest.approx(exact.order_effect, abs=1e-6)
    assert approximate.order_effect_se == pytest.approx(exact.order_effect_se, rel=1e-4)


# --- reliability and fit --------------------------------------------------------------------


def test_its_ssr_and_separation_follow_sirts_formulas():
    _, first, second, outcome = simulate(10, n_items=25, n_comparisons=500)
    fit = fit_bt(first, second, outcome, n_items=25)
    observed, error = np.var(fit.theta, ddof=1), np.mean(fit.se**2)
    assert fit.ssr == pytest.approx(1 - error / observed)
    assert fit.separation == pytest.approx(np.sqrt(observed / error))
    assert fit.separation_true == pytest.approx(np.sqrt((observed - error) / error))
    sirt_error = np.mean(1 / fit.information)
    assert fit.ssr_sirt == pytest.approx(1 - sirt_error / observed)


def test_its_log_likelihood_is_the_bt_log_likelihood_at_the_estimate():
    _, first, second, outcome = simulate(11, n_items=10, n_comparisons=100)
    fit = fit_bt(first, second, outcome, n_items=10)
    p = 1 / (1 + np.exp(-(fit.theta[first] - fit.theta[second])))
    assert fit.log_likelihood == pytest.approx(np.sum(outcome * np.log(p) + (1 - outcome) * np.log(1 - p)))


def test_its_infit_and_outfit_are_near_one_on_data_that_fit_and_high_for_a_misfitting_item():
    theta, first, second, outcome = simulate(12, n_items=30, n_comparisons=3000, spread=1.5)
    fit = fit_bt(first, second, outcome, n_items=30)
    assert 0.85 < np.median(fit.infit) < 1.15 and 0.8 < np.median(fit.outfit) < 1.2
    # Item 0 beats the strongest and loses to the weakest: erratic.
    outcome = outcome.copy()
    strong = theta > 1.0
    outcome[(first == 0) & strong[second]] = 1.0
    outcome[(second == 0) & strong[first]] = 0.0
    weak = theta < -1.0
    outcome[(first == 0) & weak[second]] = 0.0
    outcome[(second == 0) & weak[first]] = 1.0
    misfit = fit_bt(first, second, outcome, n_items=30)
    assert misfit.outfit[0] > 2 and misfit.infit[0] > 1.3


def test_it_counts_comparisons_and_wins_with_ties_as_half():
    fit = fit_bt([0, 0, 1, 2], [1, 2, 2, 0], [1.0, 0.5, 0.0, 1.0], n_items=3)
    np.testing.assert_array_equal(fit.comparisons, [3, 2, 3])
    np.testing.assert_allclose(fit.wins, [1.5, 0.0, 2.5])
    assert fit.p_first_wins == pytest.approx(2.5 / 4)


def test_it_treats_a_tie_as_half_a_win_and_half_a_loss():
    _, first, second, outcome = simulate(13, n_items=12, n_comparisons=120)
    outcome = outcome.copy()
    outcome[::5] = 0.5
    tied = fit_bt(first, second, outcome, n_items=12, eps=0.0)
    ties = outcome == 0.5
    doubled_first = np.concatenate([first[~ties], first[ties], first[ties]])
    doubled_second = np.concatenate([second[~ties], second[ties], second[ties]])
    doubled_outcome = np.concatenate([outcome[~ties], np.ones(ties.sum()), np.zeros(ties.sum())])
    weights = np.concatenate([np.ones((~ties).sum()), np.full(2 * ties.sum(), 0.5)])
    split = fit_bt(doubled_first, doubled_second, doubled_outcome, n_items=12, eps=0.0, weights=weights)
    np.testing.assert_allclose(tied.theta, split.theta, atol=1e-7)
    np.testing.assert_allclose(tied.se, split.se, rtol=1e-6)


def test_its_weights_act_like_repeated_comparisons():
    _, first, second, outcome = simulate(14, n_items=15, n_comparisons=200)
    weights = np.where(np.arange(200) % 3 == 0, 2.0, 1.0)
    weighted = fit_bt(first, second, outcome, n_items=15, weights=weights)
    repeat = np.flatnonzero(weights == 2.0)
    repeated = fit_bt(
        np.concatenate([first, first[repeat]]),
        np.concatenate([second, second[repeat]]),
        np.concatenate([outcome, outcome[repeat]]),
        n_items=15,
    )
    np.testing.assert_allclose(weighted.theta, repeated.theta, atol=1e-7)
    np.testing.assert_allclose(weighted.se, repeated.se, rtol=1e-6)
    np.testing.assert_allclose(weighted.infit, repeated.infit, rtol=1e-6)
    np.testing.assert_allclose(weighted.outfit, repeated.outfit, rtol=1e-6)


def test_it_reports_convergence_and_iterations():
    _, first, second, outcome = simulate(15, n_items=20, n_comparisons=300)
    fit = fit_bt(first, second, outcome, n_items=20)
    assert fit.converged and 1 < fit.iterations < 20
    assert not fit_bt(first, second, outcome, n_items=20, max_iter=1).converged


def test_its_result_is_frozen():
    fit = fit_bt([0, 1], [1, 2], [1.0, 0.0], n_items=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.ssr = 1.0  # type: ignore[misc]


# --- disconnected comparison graphs ---------------------------------------------------------


def test_it_refuses_a_disconnected_comparison_graph_by_default():
    first, second, outcome = [0, 1, 3, 4], [1, 2, 4, 5], [1.0, 0.0, 1.0, 1.0]
    with pytest.raises(DisconnectedComparisonsError, match="2 disconnected groups") as caught:
        fit_bt(first, second, outcome, n_items=6)
    assert isinstance(caught.value, ValueError)
    np.testing.assert_array_equal(caught.value.labels, [0, 0, 0, 1, 1, 1])


def test_it_fits_each_component_on_its_own_scale_when_asked():
    first, second, outcome = [0, 1, 2, 3, 4, 5], [1, 2, 0, 4, 5, 3], [1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    fit = fit_bt(first, second, outcome, n_items=7, allow_disconnected=True)
    assert fit.n_components == 3
    np.testing.assert_array_equal(fit.components, [0, 0, 0, 1, 1, 1, 2])
    assert abs(fit.theta[:3].sum()) < 1e-9 and abs(fit.theta[3:6].sum()) < 1e-9
    assert fit.theta[6] == 0.0 and np.isnan(fit.se[6]) and fit.comparisons[6] == 0
    assert np.all(np.isfinite(fit.se[:6]))


def test_it_labels_the_components_of_the_comparison_graph():
    labels = comparison_components([0, 2, 4], [1, 3, 2], n_items=6)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1, 2])


# --- split-half reliability ------------------------------------------------------------------


def test_its_split_half_reliability_is_seeded_and_high_on_reliable_data():
    _, first, second, outcome = simulate(16, n_items=20, n_comparisons=1000, spread=1.5)
    judges = np.arange(1000) % 10
    result = split_half_reliability(first, second, outcome, n_items=20, judges=judges, n_splits=10, seed=3)
    again = split_half_reliability(first, second, outcome, n_items=20, judges=judges, n_splits=10, seed=3)
    np.testing.assert_array_equal(result.correlations, again.correlations)
    assert result.split_by == "judge" and result.correlations.shape == (10,)
    assert result.mean_correlation > 0.8
    assert result.spearman_brown == pytest.approx(2 * result.mean_correlation / (1 + result.mean_correlation))
    assert result.median_correlation == pytest.approx(np.median(result.correlations))


def test_its_split_half_reliability_splits_comparisons_without_judges():
    _, first, second, outcome = simulate(17, n_items=20, n_comparisons=400)
    result = split_half_reliability(first, second, outcome, n_items=20, n_splits=5)
    assert result.split_by == "comparison" and np.all(np.isfinite(result.correlations))


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "outcome", "kwargs", "argument"),
    [
        ([0, 1], [1], [1.0, 0.0], {}, "second"),
        ([0, 1], [1, 2], [1.0], {}, "outcome"),
        ([0, 1], [1, 2], [1.0, 0.0], {"weights": [1.0]}, "weights"),
        ([0, 1], [1, 2], [1.0, 0.0], {"weights": [1.0, -1.0]}, "weights"),
        ([0, 3], [1, 2], [1.0, 0.0], {}, "first"),
        ([0, 1], [-1, 2], [1.0, 0.0], {}, "second"),
        ([0.5, 1], [1, 2], [1.0, 0.0], {}, "first"),
        ([0, 1], [1, 2], [1.0, 2.0], {}, "outcome"),
        ([0, 1], [1, 2], [1.0, 0.3], {}, "outcome"),
        ([0, 1], [0, 2], [1.0, 0.0], {}, "second"),
        ([], [], [], {}, "first"),
        ([0, 1], [1, 2], [1.0, 0.0], {"prior_sd": -1.0}, "prior_sd"),
        ([0, 1], [1, 2], [1.0, 0.0], {"eps": 0.5}, "eps"),
    ],
)
def test_it_rejects_bad_input_naming_the_argument(first, second, outcome, kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        fit_bt(first, second, outcome, n_items=3, **kwargs)


def test_it_rejects_a_bad_number_of_items():
    with pytest.raises(ValueError, match=r"^n_items:"):
        fit_bt([0], [1], [1.0], n_items=0)
