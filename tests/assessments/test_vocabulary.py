"""The words that the engine and the service share mean the same thing in both."""

from assessments.engine.grading import CONFIDENCE_LABELS, HIGH_CONFIDENCE, MEDIUM_CONFIDENCE, confidence_label
from assessments.engine.stopping import STOP_REASONS
from assessments.models import EndReason


def test_every_stopping_rule_of_the_engine_is_an_end_reason_of_a_batch():
    assert set(STOP_REASONS) <= set(EndReason.values)


def test_the_confidence_labels_are_the_ones_the_engine_gives():
    given = {confidence_label(p) for p in (HIGH_CONFIDENCE, MEDIUM_CONFIDENCE, 0.1, float("nan"))}
    assert given == set(CONFIDENCE_LABELS)
