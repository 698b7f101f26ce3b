"""The population model on simulated batches with a known truth: students recovered, honest
reliability and intervals, grades projected through anchors, and the ways grading refuses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from assessments.engine.grading import grade_calibration, grade_projection
from assessments.engine.population import PopulationFit, fit_population

STUDENT_SD = 1.8
# Four grades, bands 2 logits wide: C | B | A | A* cut at −2, 0, 2.
CUTS = np.array([-2.0, 0.0, 2.0])


@dataclass(frozen=True)
class Batch:
    theta: np.ndarray  # true θ (logits), students first
    first: np.ndarray
    second: np.ndarray
    outcome: np.ndarray
    in_population: np.ndarray
    anchor_grade: np.ndarray  # −1 for students
    true_grade: np.ndarray  # every essay's grade under CUTS

    @property
    def n_items(self) -> int:
        return len(self.theta)


def _batch(
    seed: int,
    *,
    n_students: int = 50,
    per_essay: int = 10,
    anchors_per_grade: int = 0,
    lapse_rate: float = 0.04,
    order_effect: float = 0.0,
    coin_flips: bool = False,
) -> Batch:
    """Students ~ N(0, STUDENT_SD²), anchors uniform inside their band, random pairs, verdicts
    from the BT model with lapses (coin flips) and a shown-first advantage."""
    rng = np.random.default_rng(seed)
    students = rng.normal(scale=STUDENT_SD, size=n_students)
    anchor_grade = np.repeat(np.arange(len(CUTS) + 1), anchors_per_grade)
    width = CUTS[1] - CUTS[0]
    lower = np.concatenate([[CUTS[0] - width], CUTS])
    anchors = lower[anchor_grade] + width * rng.random(anchor_grade.size)
    theta = np.concatenate([students, anchors])
    n = theta.size
    m = n * per_essay // 2
    first = rng.integers(0, n, m)
    second = (first + rng.integers(1, n, m)) % n
    p_first = lapse_rate / 2 + (1 - lapse_rate) / (1 + np.exp(-(theta[first] - theta[second] + order_effect)))
    if coin_flips:
        p_first = np.full(m, 0.5)
    return Batch(
        theta=theta,
        first=first,
        second=second,
        outcome=(rng.random(m) < p_first).astype(float),
        in_population=np.arange(n) < n_students,
        anchor_grade=np.concatenate([np.full(n_students, -1), anchor_grade]),
        true_grade=np.searchsorted(CUTS, theta),
    )


def _fit(batch: Batch, *, anchor_grade=None, n_grades=0, seed=0, **kwargs) -> PopulationFit:
    return fit_population(
        batch.first,
        batch.second,
        batch.outcome,
        n_items=batch.n_items,
        in_population=batch.in_population,
        anchor_grade=anchor_grade,
        n_grades=n_grades,
        seed=seed,
        **kwargs,
    )


def _projected(fit: PopulationFit) -> np.ndarray:
    """The grade the service shows for each essay."""
    calibration = grade_calibration(
        grades=tuple("DCBA"), cut_draws=fit.cut_draws, population_sd=fit.population_sd, anchored=fit.anchored
    )
    return grade_projection(probabilities=fit.grade_probabilities, calibration=calibration).primary


@pytest.fixture(scope="module")
def random_designs() -> list[tuple[Batch, PopulationFit]]:
    """Four batches of 50 students with about 10 comparisons each."""
    batches = [_batch(seed) for seed in range(4)]
    return [(batch, _fit(batch)) for batch in batches]


@pytest.fixture(scope="module")
def anchored_batches() -> list[tuple[Batch, PopulationFit]]:
    """Two batches of 50 students and three anchors per grade, about 16 comparisons per essay."""
    batches = [_batch(seed, per_essay=16, anchors_per_grade=3) for seed in (20, 21)]
    return [(batch, _fit(batch, anchor_grade=batch.anchor_grade, n_grades=len(CUTS) + 1)) for batch in batches]


@pytest.fixture(scope="module")
def anchored(anchored_batches) -> tuple[Batch, PopulationFit]:
    return anchored_batches[0]


def test_its_theta_follows_the_true_quality(random_designs):
    for batch, fit in random_designs:
        assert np.corrcoef(batch.theta, fit.theta)[0, 1] > 0.75
        # On the true scale: the fitted SD of the students is near theirs, not stretched.
        assert fit.population_sd == pytest.approx(STUDENT_SD, rel=0.4)


def test_its_theta_is_located_with_the_students_mean_at_zero(random_designs, anchored):
    for batch, fit in [*random_designs, anchored]:
        assert np.mean(fit.theta[batch.in_population]) == pytest.approx(0.0, abs=1e-9)


def test_its_reliability_is_close_to_the_realised_squared_correlation(random_designs):
    errors = []
    for batch, fit in random_designs:
        r2 = np.corrcoef(batch.theta, fit.theta)[0, 1] ** 2
        errors.append(fit.reliability - r2)
        assert abs(fit.reliability - r2) < 0.15
    assert abs(np.mean(errors)) < 0.1


def test_its_95_percent_intervals_cover_the_truth_about_95_percent_of_the_time(random_designs):
    covered = []
    for batch, fit in random_designs:
        truth = batch.theta - batch.theta[batch.in_population].mean()  # θ's location: students' mean 0
        covered.append(np.abs(truth - fit.theta) <= 1.96 * fit.se)
    assert 0.90 <= np.mean(np.concatenate(covered)) <= 0.99


def test_its_reliability_is_low_when_the_verdicts_are_coin_flips():
    reliability = [_fit(_batch(seed, coin_flips=True)).reliability for seed in range(3)]
    assert np.mean(reliability) < 0.3


def test_it_is_deterministic_for_a_seed():
    batch = _batch(5, n_students=20)
    a, b, c = _fit(batch, seed=7), _fit(batch, seed=7), _fit(batch, seed=8)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.se, b.se)
    assert a.reliability == b.reliability
    assert a.order_effect == b.order_effect
    assert not np.array_equal(a.theta, c.theta)


def test_an_essay_never_compared_has_no_se_and_no_grade():
    batch = _batch(6, n_students=20, anchors_per_grade=1)
    n = batch.n_items + 1  # one more student, never compared
    fit = fit_population(
        batch.first,
        batch.second,
        batch.outcome,
        n_items=n,
        in_population=np.append(batch.in_population, True),
        anchor_grade=np.append(batch.anchor_grade, -1),
        n_grades=len(CUTS) + 1,
        seed=0,
    )
    assert fit.comparisons[-1] == 0
    assert np.isnan(fit.se[-1])
    assert np.isnan(fit.infit[-1]) and np.isnan(fit.outfit[-1])
    assert np.all(np.isfinite(fit.se[:-1]))
    assert fit.grade_probabilities is not None
    assert np.all(np.isnan(fit.grade_probabilities[-1]))
    assert np.all(np.isfinite(fit.grade_probabilities[:-1]))


def test_its_reliability_is_unknown_with_fewer_than_three_compared_students():
    first, second, outcome = np.array([0, 1, 2, 0]), np.array([1, 2, 0, 2]), np.array([1.0, 0.0, 1.0, 1.0])
    fit = fit_population(first, second, outcome, n_items=3, in_population=np.array([True, True, False]), seed=0)
    assert np.isnan(fit.reliability)
    assert np.all(np.isfinite(fit.se))


def test_it_recovers_a_shown_first_advantage(random_designs):
    batch = _batch(11, order_effect=1.0)
    fit = _fit(batch)
    assert fit.order_effect is not None and fit.order_effect_se is not None
    assert fit.order_effect > 0.5
    assert abs(fit.order_effect - 1.0) < 3 * fit.order_effect_se
    assert np.corrcoef(batch.theta, fit.theta)[0, 1] > 0.75
    # Where there is none, none is found.
    for _, null in random_designs:
        assert abs(null.order_effect) < 3 * null.order_effect_se


def test_it_estimates_no_order_effect_when_told_not_to():
    fit = _fit(_batch(12, n_students=20), order_effect=False)
    assert fit.order_effect is None
    assert fit.order_effect_se is None


def test_without_anchors_it_projects_no_grades(random_designs):
    _, fit = random_designs[0]
    assert fit.grade_probabilities is None
    assert fit.cut_draws is None
    assert fit.anchored is None
    assert fit.grading_unavailable is None


def test_with_anchors_each_essay_gets_a_probability_for_every_grade(anchored):
    batch, fit = anchored
    assert fit.grading_unavailable is None
    assert fit.grade_probabilities.shape == (batch.n_items, len(CUTS) + 1)
    assert np.all(fit.grade_probabilities >= 0)
    np.testing.assert_allclose(fit.grade_probabilities.sum(axis=1), 1.0)
    assert fit.cut_draws.shape == (fit.draws, len(CUTS))
    assert np.all(np.diff(fit.cut_draws, axis=1) > 0)
    assert fit.anchored.tolist() == [True] * (len(CUTS) + 1)


def test_with_anchors_students_clear_of_a_cut_mostly_get_their_grade(anchored_batches):
    right, near = [], []
    for batch, fit in anchored_batches:
        students = batch.in_population
        projected = _projected(fit)[students]
        truth = batch.true_grade[students]
        clear = np.min(np.abs(batch.theta[students, None] - CUTS[None, :]), axis=1) > 0.6
        right.append(projected[clear] == truth[clear])
        near.append(np.abs(projected - truth) <= 1)
    right, near = np.concatenate(right), np.concatenate(near)
    assert right.size >= 30
    assert right.mean() >= 0.65
    assert near.mean() >= 0.95


def test_with_anchors_the_true_cuts_lie_within_the_cuts_uncertainty(anchored_batches):
    for batch, fit in anchored_batches:
        truth = CUTS - batch.theta[batch.in_population].mean()  # located like θ
        error = fit.cut_draws.mean(axis=0) - truth
        assert np.all(np.abs(error) < 3 * fit.cut_draws.std(axis=0))
        assert np.all(fit.cut_draws.std(axis=0) < 1.5)  # and that uncertainty is not vacuous


def test_anchors_whose_theta_runs_against_their_grades_project_no_grades(anchored):
    batch, _ = anchored
    n_grades = len(CUTS) + 1
    backwards = np.where(batch.anchor_grade >= 0, n_grades - 1 - batch.anchor_grade, -1)
    fit = _fit(batch, anchor_grade=backwards, n_grades=n_grades)
    assert fit.grading_unavailable is not None
    assert fit.grading_unavailable.reason == "anchors_not_increasing"
    assert fit.grade_probabilities is None
    assert fit.cut_draws is None


def test_anchors_of_a_single_grade_project_no_grades():
    batch = _batch(13, n_students=20, anchors_per_grade=1)
    one_grade = np.where(batch.anchor_grade >= 0, 1, -1)
    fit = _fit(batch, anchor_grade=one_grade, n_grades=len(CUTS) + 1)
    assert fit.grading_unavailable is not None
    assert fit.grading_unavailable.reason == "too_few_anchor_grades"
    assert fit.grade_probabilities is None


def test_a_grade_scale_without_compared_anchors_projects_no_grades():
    batch = _batch(14, n_students=20)
    fit = _fit(batch, anchor_grade=np.full(batch.n_items, -1), n_grades=len(CUTS) + 1)
    assert fit.grading_unavailable is not None
    assert fit.grading_unavailable.reason == "too_few_anchor_grades"


def test_with_three_grades_the_end_cuts_stay_bounded_and_cover_the_truth():
    # Anchors that lost (or won) every comparison bound their band on one side only: the proper
    # prior on the typical band width keeps the cuts from wandering off (they once drifted by tens
    # of logits), and their spread still covers where the truth lies.
    cuts = np.array([-1.5, 1.5])
    rng = np.random.default_rng(3)
    students = rng.normal(scale=STUDENT_SD, size=50)
    anchor_grade = np.repeat(np.arange(3), 2)
    anchors = np.concatenate([[cuts[0] - 3.0], cuts])[anchor_grade] + 3.0 * rng.random(6)
    theta = np.concatenate([students, anchors])
    m = 56 * 12 // 2
    first = rng.integers(0, 56, m)
    second = (first + rng.integers(1, 56, m)) % 56
    p_first = 0.015 + 0.97 / (1 + np.exp(-(theta[first] - theta[second])))
    outcome = (rng.random(m) < p_first).astype(float)
    fit = fit_population(
        first,
        second,
        outcome,
        n_items=56,
        in_population=np.arange(56) < 50,
        anchor_grade=np.concatenate([np.full(50, -1), anchor_grade]),
        n_grades=3,
        seed=0,
    )
    assert np.all(np.abs(fit.cut_draws) < 15.0)
    truth = cuts - students.mean()
    assert np.all(np.abs(fit.cut_draws.mean(axis=0) - truth) < 2.0 * fit.cut_draws.std(axis=0))


@pytest.mark.parametrize(
    ("first", "second", "outcome", "message"),
    [
        ([0, 1], [0, 2], [1.0, 0.0], "itself"),
        ([0, 1], [1, 3], [1.0, 0.0], "item indices"),
        ([0, 1], [1, 2], [1.0, 0.3], "outcome"),
        ([], [], [], "at least one"),
    ],
)
def test_it_rejects_malformed_comparisons(first, second, outcome, message):
    with pytest.raises(ValueError, match=message):
        fit_population(first, second, outcome, n_items=3, in_population=np.ones(3, dtype=bool))


def test_it_rejects_flags_and_grades_of_the_wrong_shape():
    args = ([0, 1], [1, 2], [1.0, 0.0])
    with pytest.raises(ValueError, match="in_population"):
        fit_population(*args, n_items=3, in_population=np.ones(2, dtype=bool))
    with pytest.raises(ValueError, match="anchor_grade"):
        fit_population(*args, n_items=3, in_population=np.ones(3, dtype=bool), anchor_grade=[-1, 0, 4], n_grades=4)
