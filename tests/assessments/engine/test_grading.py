"""Grading: the band model's pieces (cut draws, truncated normals, starting state), the
summaries callers read (calibration, projection, confidence labels) and the anchor checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from assessments.engine.grading import (
    HIGH_CONFIDENCE,
    MEDIUM_CONFIDENCE,
    GradeCalibration,
    anchor_alignment,
    anchors_contradict_grades,
    confidence_label,
    grade_calibration,
    grade_projection,
    starting_cuts,
    truncated_normal,
)

GRADES = ("F", "E", "D", "C", "B", "A")


def _calibration(cut_draws, *, grades=GRADES[:4], anchored=None, population_sd=1.5) -> GradeCalibration:
    draws = np.atleast_2d(np.asarray(cut_draws, dtype=float))
    return grade_calibration(
        grades=grades,
        cut_draws=draws,
        population_sd=population_sd,
        anchored=np.ones(len(grades), dtype=bool) if anchored is None else np.asarray(anchored),
    )


# --- truncated_normal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "sd", "lo", "hi"),
    [
        (0.0, 1.0, -1.0, 1.0),  # around the mean
        (0.0, 1.0, 30.0, 31.0),  # far in the upper tail
        (0.0, 1.0, -31.0, -30.0),  # far in the lower tail
        (2.0, 0.5, -np.inf, -8.0),  # an open end band, 20 SDs below
        (-2.0, 0.5, 8.0, np.inf),  # an open end band, 20 SDs above
        (0.0, 1.0, 0.0, 1e-6),  # a sliver
        (0.0, 3.0, -np.inf, np.inf),  # no truncation at all
    ],
)
def test_truncated_normal_stays_inside_its_interval(mean, sd, lo, hi):
    rng = np.random.default_rng(0)
    draws = np.array([truncated_normal(mean, sd, lo, hi, rng) for _ in range(2000)])
    assert np.all(np.isfinite(draws))
    assert np.all((draws > lo) & (draws < hi))


def test_truncated_normal_stays_inside_an_interval_more_than_37_sds_away():
    rng = np.random.default_rng(0)
    assert 40.0 < truncated_normal(0.0, 1.0, 40.0, 41.0, rng) < 41.0
    assert 0.0 < truncated_normal(5.0, 1e-3, 0.0, 1.0, rng) < 1.0  # a tight conditional 5000 SDs off


def test_truncated_normal_draws_follow_the_truncated_density():
    rng = np.random.default_rng(1)
    half = np.array([truncated_normal(0.0, 1.0, 0.0, np.inf, rng) for _ in range(20000)])
    # Half-normal: mean √(2/π), and the median of N(0, 1) given X > 0 is Φ⁻¹(0.75) = 0.6745.
    assert half.mean() == pytest.approx(np.sqrt(2 / np.pi), abs=0.02)
    assert np.median(half) == pytest.approx(0.6745, abs=0.02)
    # Far in the tail the excess over the bound is about exponential with mean 1/bound.
    tail = np.array([truncated_normal(0.0, 1.0, 30.0, np.inf, rng) for _ in range(5000)])
    assert (tail - 30.0).mean() == pytest.approx(1 / 30, rel=0.1)


# --- starting_cuts -----------------------------------------------------------------------------


def _assert_a_valid_band_state(start, cuts, grade, n_grades):
    assert cuts.shape == (n_grades - 1,)
    assert np.all(np.diff(cuts) > 0)
    edges = np.concatenate([[-np.inf], cuts, [np.inf]])
    assert np.all((start > edges[grade]) & (start < edges[grade + 1]))


def test_starting_cuts_put_anchors_that_run_against_their_grades_back_in_grade_order():
    theta = np.array([2.0, 1.0, 0.5, -1.0, -2.0, 0.0])
    grade = np.array([0, 0, 1, 2, 3, 3])
    start, cuts = starting_cuts(anchor_theta=theta, anchor_grade=grade, n_grades=4, tau=1.5)
    _assert_a_valid_band_state(start, cuts, grade, 4)
    # The same values, reassigned: lowest grade gets the lowest θ.
    np.testing.assert_allclose(np.sort(start), np.sort(theta), atol=1e-5)
    for g in range(3):
        assert start[grade == g].max() < start[grade == g + 1].min()


def test_starting_cuts_leave_a_valid_state_whatever_the_anchors():
    rng = np.random.default_rng(3)
    for _ in range(300):
        n_grades = int(rng.integers(2, 8))
        grade = rng.integers(0, n_grades, size=int(rng.integers(1, 12)))
        theta = np.round(rng.normal(scale=2.0, size=grade.size))  # rounding makes ties
        start, cuts = starting_cuts(anchor_theta=theta, anchor_grade=grade, n_grades=n_grades, tau=float(rng.uniform(0.5, 3)))
        _assert_a_valid_band_state(start, cuts, grade, n_grades)


def test_starting_cuts_place_unanchored_grades_between_and_beyond_the_anchored_ones():
    theta = np.array([-1.0, 1.0])
    grade = np.array([1, 3])  # grades 0, 2 and 4 have no anchor
    start, cuts = starting_cuts(anchor_theta=theta, anchor_grade=grade, n_grades=5, tau=1.0)
    _assert_a_valid_band_state(start, cuts, grade, 5)
    assert cuts[0] < -1.0 < cuts[1] < cuts[2] < 1.0 < cuts[3]


# --- grade_calibration -------------------------------------------------------------------------


def test_grade_calibration_summarises_the_cut_draws_by_their_mean_and_sd():
    rng = np.random.default_rng(4)
    truth_mean, truth_sd = np.array([-1.0, 0.5, 2.0]), np.array([0.2, 0.4, 0.8])
    draws = truth_mean + truth_sd * rng.standard_normal((8000, 3))
    calibration = _calibration(draws)
    np.testing.assert_allclose(calibration.cuts, draws.mean(axis=0))
    np.testing.assert_allclose(calibration.cut_se, truth_sd, rtol=0.05)
    np.testing.assert_array_equal(calibration.boundaries, calibration.cuts)
    assert calibration.cut_draws.shape == (8000, 3)


def test_grade_calibration_names_the_grades_without_an_anchor():
    calibration = _calibration([[-1.0, 0.0, 1.0]], anchored=[True, False, True, False])
    assert calibration.grades == ("F", "E", "D", "C")
    assert calibration.anchored.tolist() == [True, False, True, False]
    assert calibration.unanchored_grades == ("E", "C")
    assert _calibration([[-1.0, 0.0, 1.0]]).unanchored_grades == ()


def test_grade_centres_are_the_population_mean_within_each_band():
    # One cut at 0 on a standard normal population: the halves have means ∓√(2/π).
    calibration = _calibration([[0.0]], grades=("fail", "pass"), population_sd=1.0)
    np.testing.assert_allclose(calibration.centres, [-np.sqrt(2 / np.pi), np.sqrt(2 / np.pi)], atol=1e-9)
    assert calibration.population_sd == 1.0
    # More bands: each centre inside its band, rising, and twice τ doubles them.
    narrow = _calibration([[-1.0, 0.0, 1.0]], population_sd=1.0)
    wide = _calibration([[-2.0, 0.0, 2.0]], population_sd=2.0)
    edges = np.array([-np.inf, -1.0, 0.0, 1.0, np.inf])
    assert np.all((narrow.centres > edges[:-1]) & (narrow.centres < edges[1:]))
    np.testing.assert_allclose(wide.centres, 2 * narrow.centres)


# --- grade_projection --------------------------------------------------------------------------


def test_grade_projection_reads_primary_expected_adjacent_and_labels_off_each_row():
    probabilities = np.array(
        [
            [0.90, 0.10, 0.00, 0.00],  # settled in the lowest grade
            [0.05, 0.25, 0.65, 0.05],  # medium, the top grade is adjacent
            [0.00, 0.00, 0.45, 0.55],  # low, in the top grade
        ]
    )
    projection = grade_projection(probabilities=probabilities, calibration=_calibration([[-1.0, 0.0, 1.0]]))
    assert projection.primary.tolist() == [0, 2, 3]
    np.testing.assert_allclose(projection.primary_probability, [0.90, 0.65, 0.55])
    # P(primary) plus the grades either side (only one side at the ends).
    np.testing.assert_allclose(projection.adjacent_probability, [1.00, 0.95, 1.00])
    np.testing.assert_allclose(projection.expected, [0.10, 1.70, 2.55])
    assert projection.confidence == ("high", "medium", "low")
    np.testing.assert_array_equal(projection.probabilities, probabilities)


def test_the_projected_grade_is_the_median_grade_not_the_most_probable():
    probabilities = np.array(
        [
            [0.40, 0.00, 0.25, 0.35],  # most probable: the lowest; half the mass is at or below grade 2
            [0.30, 0.20, 0.20, 0.30],  # cumulative 0.5 reached exactly at grade 1
        ]
    )
    projection = grade_projection(probabilities=probabilities, calibration=_calibration([[-1.0, 0.0, 1.0]]))
    assert projection.primary.tolist() == [2, 1]
    np.testing.assert_allclose(projection.primary_probability, [0.25, 0.20])
    np.testing.assert_allclose(projection.adjacent_probability, [0.60, 0.70])


def test_the_projected_grade_rises_with_theta_whatever_the_se():
    # P(grade) of an essay θ ± SE on bands cut at −1, 0, 1: its median grade is θ's band, however
    # wide the SE (a wide SE piles probability into the open end grades, which argmax would pick).
    cuts = np.array([-1.0, 0.0, 1.0])
    rng = np.random.default_rng(5)
    theta = np.sort(rng.uniform(-2.5, 2.5, 200))
    se = rng.uniform(0.1, 4.0, 200)
    edges = np.concatenate([[-np.inf], cuts, [np.inf]])
    probabilities = np.diff(ndtr((edges[None, :] - theta[:, None]) / se[:, None]), axis=1)
    projection = grade_projection(probabilities=probabilities, calibration=_calibration([cuts]))
    np.testing.assert_array_equal(projection.primary, np.searchsorted(cuts, theta))
    assert np.all(np.diff(projection.primary) >= 0)


def test_grade_projection_gives_an_essay_without_an_estimate_no_grade():
    probabilities = np.array([[np.nan] * 4, [0.0, 0.1, 0.8, 0.1]])
    projection = grade_projection(probabilities=probabilities, calibration=_calibration([[-1.0, 0.0, 1.0]]))
    assert projection.primary.tolist() == [-1, 2]
    assert np.isnan(projection.primary_probability[0])
    assert np.isnan(projection.adjacent_probability[0])
    assert np.isnan(projection.expected[0])
    assert projection.confidence == ("unavailable", "high")


def test_confidence_labels_follow_the_documented_thresholds():
    assert confidence_label(1.0) == "high"
    assert confidence_label(HIGH_CONFIDENCE) == "high"
    assert confidence_label(np.nextafter(HIGH_CONFIDENCE, 0)) == "medium"
    assert confidence_label(MEDIUM_CONFIDENCE) == "medium"
    assert confidence_label(np.nextafter(MEDIUM_CONFIDENCE, 0)) == "low"
    assert confidence_label(0.0) == "low"
    assert confidence_label(float("nan")) == "unavailable"


# --- anchors_contradict_grades -----------------------------------------------------------------


def _contradiction(theta, grade, se=0.3):
    theta = np.asarray(theta, dtype=float)
    return anchors_contradict_grades(
        theta=theta, se=np.broadcast_to(np.asarray(se, dtype=float), theta.shape), grade=np.asarray(grade)
    )


def test_anchors_that_rise_with_their_grades_can_calibrate():
    assert _contradiction([-2.0, -1.5, 0.0, 2.0], [0, 0, 1, 2]) is None


def test_anchors_of_a_single_grade_cannot_calibrate():
    result = _contradiction([0.0, 0.5, 1.0], [2, 2, 2])
    assert result is not None
    assert result.reason == "too_few_anchor_grades"


def test_anchors_without_a_usable_estimate_do_not_count_as_a_grade():
    result = _contradiction([0.0, np.nan, 1.0], [0, 1, 1], se=[0.3, 0.3, 0.0])
    assert result is not None
    assert result.reason == "too_few_anchor_grades"


def test_anchors_that_run_backwards_or_are_tied_cannot_calibrate():
    backwards = _contradiction([3.0, 1.0, -1.0, -3.0], [0, 1, 2, 3])
    assert backwards is not None
    assert backwards.reason == "anchors_not_increasing"
    assert "grade" in backwards.detail
    tied = _contradiction([0.7, 0.7, 0.7], [0, 1, 2])
    assert tied is not None
    assert tied.reason == "anchors_not_increasing"


def test_a_vague_anchor_against_the_grain_is_outweighed_by_precise_ones():
    theta, grade = [-1.0, 0.0, 1.0, -4.0], [0, 1, 2, 3]
    assert _contradiction(theta, grade, se=[0.2, 0.2, 0.2, 5.0]) is None
    assert _contradiction(theta, grade, se=[5.0, 5.0, 5.0, 0.2]).reason == "anchors_not_increasing"


# --- anchor_alignment --------------------------------------------------------------------------


def test_anchor_alignment_reports_tau_inversions_upsets_and_winless_anchors():
    theta = np.array([9.0, -2.0, 0.5, 0.0, 2.0])  # essay 0 is a student
    anchors = np.array([1, 2, 3, 4])
    grades = np.array([0, 1, 2, 3])  # anchors 2 (grade 1) and 3 (grade 2) are inverted
    alignment = anchor_alignment(
        theta=theta,
        anchor_index=anchors,
        anchor_grade=grades,
        winners=np.array([2, 4, 0, 3]),
        losers=np.array([3, 1, 1, 0]),
    )
    assert alignment.n_anchors == 4
    assert alignment.kendall_tau == pytest.approx(4 / 6)
    assert alignment.inversions == ((2, 3),)
    assert alignment.judged_inversions == ((2, 3),)
    assert alignment.zero_win_anchors == (1,)


def test_anchor_alignment_without_judgements_leaves_those_checks_empty():
    alignment = anchor_alignment(theta=np.array([0.0, 1.0]), anchor_index=np.array([0, 1]), anchor_grade=np.array([0, 1]))
    assert alignment.kendall_tau == pytest.approx(1.0)
    assert alignment.judged_inversions == ()
    assert alignment.zero_win_anchors == ()


def test_anchor_alignment_has_no_tau_with_a_single_grade():
    alignment = anchor_alignment(theta=np.array([0.0, 1.0, 2.0]), anchor_index=np.arange(3), anchor_grade=np.array([1, 1, 1]))
    assert np.isnan(alignment.kendall_tau)
    assert alignment.inversions == ()
