import pytest

from assessments.engine.scales import BUILTIN_SCALES, GradeScale, UnknownGradeError, get_scale


def test_it_orders_the_builtin_scales_lowest_first():
    assert get_scale("swedish_a_f").grades == ("F", "E", "D", "C", "B", "A")
    assert get_scale("swedish_8_anchor").grades == ("F", "E", "D", "D+", "C", "C+", "B", "A")
    legacy = get_scale("eng5_np_legacy_9_step")
    assert legacy.grades == ("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A")
    assert legacy.below_lowest == "F"
    national = get_scale("eng5_np_national_9_step")
    assert national.grades == tuple("123456789")
    assert national.below_lowest == "0"
    assert national.labels[0] == "0"


def test_it_rejects_an_unknown_grade_listing_the_valid_ones():
    with pytest.raises(UnknownGradeError) as excinfo:
        get_scale("eng5_np_legacy_9_step").index("C")
    assert "'C'" in str(excinfo.value)
    assert "F+, E-, E+, D-, D+, C-, C+, B, A" in str(excinfo.value)


def test_the_below_lowest_label_is_not_an_anchor_grade():
    with pytest.raises(UnknownGradeError):
        get_scale("eng5_np_legacy_9_step").validate("F")


def test_it_rejects_an_unknown_scale_listing_the_valid_ones():
    with pytest.raises(UnknownGradeError) as excinfo:
        get_scale("letters")
    for name in [*BUILTIN_SCALES, "custom"]:
        assert name in str(excinfo.value)


def test_a_custom_scale_keeps_its_order_and_refuses_repeats():
    assert get_scale("custom", ["pass", "merit", "distinction"]).index("distinction") == 2
    with pytest.raises(UnknownGradeError):
        get_scale("custom", ["pass", "pass"])
    with pytest.raises(UnknownGradeError):
        get_scale("custom", [])
    with pytest.raises(UnknownGradeError):
        GradeScale("x", ("only",))
