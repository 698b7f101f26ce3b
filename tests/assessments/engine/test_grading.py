import numpy as np
import pytest

from assessments.engine.grading import (
    HIGH_CONFIDENCE,
    MEDIUM_CONFIDENCE,
    GradeCalibration,
    ProjectionUnavailable,
    anchor_alignment,
    calibrate_grades,
    confidence_label,
    project_grades,
)

GRADES = ("F", "E", "D", "C", "B", "A")


def _calibrate(anchor_theta, anchor_grade, *, anchor_se=0.3, grades=GRADES):
    theta = np.asarray(anchor_theta, dtype=float)
    se = np.broadcast_to(np.asarray(anchor_se, dtype=float), theta.shape)
    return calibrate_grades(
        theta=theta, se=se, anchor_index=np.arange(len(theta)), anchor_grade=np.asarray(anchor_grade), grades=grades
    )


def _spread_anchors():
    """Two anchors per grade, grade centres at −5, −3, ..., 5 logits."""
    centres = np.array([-5.0, -3.0, -1.0, 1.0, 3.0, 5.0])
    return np.repeat(centres, 2) + np.tile([-0.2, 0.2], 6), np.repeat(np.arange(6), 2)


def test_grade_centres_stay_in_logits_and_are_not_shrunk_toward_a_unit_scale():
    calibration = _calibrate(*_spread_anchors())
    assert isinstance(calibration, GradeCalibration)
    np.testing.assert_allclose(calibration.centres, [-5, -3, -1, 1, 3, 5], atol=1e-9)
    np.testing.assert_allclose(calibration.cuts, [-4, -2, 0, 2, 4], atol=1e-9)


def test_probabilities_are_genuine_not_one_hot():
    calibration = _calibrate(*_spread_anchors())
    projection = project_grades(theta=np.array([0.0, 0.6, 2.5]), se=np.full(3, 0.5), calibration=calibration)
    np.testing.assert_allclose(projection.probabilities.sum(axis=1), 1.0)
    # On the D/C cut: an even split, not all of it on one side.
    assert projection.probabilities[0, 2] == pytest.approx(0.5, abs=0.01)
    assert projection.probabilities[0, 3] == pytest.approx(0.5, abs=0.01)
    # Inside a grade but near a cut: the neighbour keeps a real share.
    assert 0.05 < projection.probabilities[2, 3] < 0.4
    assert np.all((projection.probabilities > 1e-3).sum(axis=1) >= 2)


def test_a_larger_se_spreads_probability():
    calibration = _calibrate(*_spread_anchors())
    projection = project_grades(theta=np.array([1.0, 1.0, 1.0]), se=np.array([0.2, 0.8, 2.0]), calibration=calibration)
    assert projection.primary.tolist() == [3, 3, 3]
    p = projection.primary_probability
    assert p[0] > p[1] > p[2]
    entropy = -np.sum(projection.probabilities * np.log(np.clip(projection.probabilities, 1e-300, None)), axis=1)
    assert entropy[0] < entropy[1] < entropy[2]


def test_the_expected_grade_is_the_probability_weighted_position():
    calibration = _calibrate(*_spread_anchors())
    projection = project_grades(theta=np.array([0.0, -6.0]), se=np.array([0.5, 0.5]), calibration=calibration)
    assert projection.expected[0] == pytest.approx(2.5, abs=0.02)
    assert projection.expected[1] == pytest.approx(0.0, abs=0.01)
    assert projection.expected[0] == pytest.approx(projection.probabilities[0] @ np.arange(6))


def test_confidence_labels_follow_the_documented_thresholds():
    assert confidence_label(HIGH_CONFIDENCE) == "high"
    assert confidence_label(np.nextafter(HIGH_CONFIDENCE, 0)) == "medium"
    assert confidence_label(MEDIUM_CONFIDENCE) == "medium"
    assert confidence_label(np.nextafter(MEDIUM_CONFIDENCE, 0)) == "low"
    assert confidence_label(float("nan")) == "unavailable"


def test_an_essay_without_an_estimate_gets_no_grade():
    calibration = _calibrate(*_spread_anchors())
    projection = project_grades(theta=np.array([np.nan, 1.0]), se=np.array([np.nan, 0.3]), calibration=calibration)
    assert projection.primary[0] == -1
    assert np.all(np.isnan(projection.probabilities[0]))
    assert projection.confidence[0] == "unavailable"
    assert projection.primary[1] == 3


def test_it_is_unavailable_with_anchors_of_a_single_grade():
    result = _calibrate([0.0, 0.5, 1.0], [2, 2, 2])
    assert isinstance(result, ProjectionUnavailable)
    assert result.reason == "too_few_anchor_grades"


def test_it_is_unavailable_without_anchors():
    result = _calibrate([], [])
    assert isinstance(result, ProjectionUnavailable)
    assert result.reason == "too_few_anchor_grades"


def test_it_is_unavailable_when_every_anchor_theta_is_tied():
    result = _calibrate([0.7, 0.7, 0.7, 0.7], [0, 1, 2, 3])
    assert isinstance(result, ProjectionUnavailable)
    assert result.reason == "anchors_not_increasing"


def test_it_is_unavailable_when_the_anchors_run_backwards():
    result = _calibrate([3.0, 1.0, -1.0, -3.0], [0, 1, 2, 3])
    assert isinstance(result, ProjectionUnavailable)
    assert result.reason == "anchors_not_increasing"
    assert "grade" in result.detail


def test_a_local_inversion_is_pooled_and_reported_with_centres_still_rising():
    # D and C swapped; the rest in order.
    calibration = _calibrate([-5.0, -3.0, 1.0, -1.0, 3.0, 5.0], [0, 1, 2, 3, 4, 5])
    assert isinstance(calibration, GradeCalibration)
    assert calibration.pooled_grades == (("D", "C"),)
    steps = np.diff(calibration.centres)
    assert np.all(steps >= calibration.min_gap - 1e-9)


def test_an_unanchored_grade_between_anchored_grades_is_interpolated():
    calibration = _calibrate([-4.0, 0.0, 4.0], [0, 2, 4], grades=GRADES[:5])
    np.testing.assert_allclose(calibration.centres, [-4, -2, 0, 2, 4], atol=1e-9)
    assert calibration.anchored.tolist() == [True, False, True, False, True]
    projection = project_grades(theta=np.array([-2.0]), se=np.array([0.3]), calibration=calibration)
    assert projection.primary[0] == 1


def test_grades_outside_the_anchored_range_get_no_probability():
    calibration = _calibrate([-1.0, 1.0, 3.0], [1, 2, 3])
    assert calibration.unplaced_grades == ("F", "B", "A")
    projection = project_grades(theta=np.array([-9.0, 9.0]), se=np.array([1.0, 1.0]), calibration=calibration)
    assert np.all(projection.probabilities[:, [0, 4, 5]] == 0)
    assert projection.primary.tolist() == [1, 3]


def test_precise_anchors_weigh_more_than_imprecise_ones():
    theta = np.array([-2.0, 0.0, 1.0])
    calibration = calibrate_grades(
        theta=theta, se=np.array([0.2, 0.2, 2.0]), anchor_index=np.arange(3), anchor_grade=np.array([0, 1, 1]), grades=GRADES[:2]
    )
    assert calibration.centres[1] == pytest.approx((0.0 / 0.04 + 1.0 / 4.0) / (1 / 0.04 + 1 / 4.0))


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
