"""Agreement between people and the LLM, on inputs whose figures are worked out by hand."""

import numpy as np
import pytest

from assessments.engine.agreement import agreement, proportion, wilson_interval


def _judgements(rows):
    """rows: (first, second, winner, judge); a judge starting with "human" is a person."""
    first, second, winner, judge = (np.array(column) for column in zip(*rows, strict=True))
    is_human = np.array([j.startswith("human") for j in judge])
    return first, second, winner, judge, is_human


# Essays 0–3. (0,1): LLM 0, h1 0, h2 1. (1,2): LLM 2 in both orders, h1 1. (2,3): LLM 2 only.
# (0,3): h1 0, h2 0 (no LLM).
ROWS = [
    (0, 1, 0, "llm"),
    (1, 0, 0, "human:1"),
    (0, 1, 1, "human:2"),
    (1, 2, 2, "llm"),
    (2, 1, 2, "llm"),
    (2, 1, 1, "human:1"),
    (2, 3, 2, "llm"),
    (0, 3, 0, "human:1"),
    (3, 0, 0, "human:2"),
]


def test_the_wilson_interval_matches_the_textbook_figures():
    # 8 of 10: 0.490 to 0.943; 1 of 3: 0.0615 to 0.792 (Wilson 1927, z = 1.96).
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(1, 3) == pytest.approx((0.0615, 0.7923), abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def test_an_empty_proportion_has_no_rate_and_no_interval():
    empty = proportion(0, 0)
    assert (empty.n, empty.rate, empty.low, empty.high) == (0, None, None, None)


def test_each_human_verdict_is_compared_with_the_llms_verdict_on_the_same_pair():
    report = agreement(*_judgements(ROWS), n_items=4)
    # (0,1): h1 agrees, h2 does not; (1,2): h1 does not. Order shown does not matter.
    assert (report.ai_human.agree, report.ai_human.n) == (1, 3)
    assert report.ai_human.rate == pytest.approx(1 / 3)
    assert (report.ai_human.low, report.ai_human.high) == pytest.approx((0.0615, 0.7923), abs=1e-4)
    assert (report.n_human, report.n_llm) == (5, 4)


def test_two_people_on_the_same_pair_form_one_couple():
    report = agreement(*_judgements(ROWS), n_items=4)
    # (0,1): h1 chose 0, h2 chose 1 (disagree); (0,3): both chose 0 (agree).
    assert (report.human_human.agree, report.human_human.n) == (1, 2)


def test_an_llm_verdict_is_overturned_only_by_a_human_majority_against_it():
    report = agreement(*_judgements(ROWS), n_items=4)
    # (0,1) is an even human split: not overturned. (1,2): the one person chose 1, the LLM 2 twice.
    assert len(report.overturned) == 1
    item = report.overturned[0]
    assert (item.lo, item.hi, item.llm_winner, item.human_winner, item.human_votes) == (1, 2, 2, 1, 1)
    assert item.llm_judgements == (3, 4)


def test_the_two_scales_correlate_when_people_and_the_llm_rank_alike():
    rng = np.random.default_rng(3)
    quality = np.arange(8, dtype=float)
    rows = []
    for kind in ("llm", "human:7"):
        for a in range(8):
            for b in range(a + 1, 8):
                for _ in range(2):
                    p = 1 / (1 + np.exp(-(quality[b] - quality[a]) * 0.6))
                    rows.append((a, b, b if rng.random() < p else a, kind))
    report = agreement(*_judgements(rows), n_items=8)
    correlation = report.correlation
    assert correlation is not None and report.correlation_unavailable is None
    assert correlation.n_essays == 8
    assert correlation.r > 0.8
    assert correlation.disattenuated == pytest.approx(
        correlation.r / np.sqrt(correlation.reliability_human * correlation.reliability_llm)
    )


def test_without_llm_judgements_there_is_no_correlation_and_it_says_why():
    rows = [(0, 1, 0, "human:1"), (1, 2, 1, "human:1"), (0, 2, 0, "human:2")]
    report = agreement(*_judgements(rows), n_items=3)
    assert report.correlation is None
    assert "both people and the LLM" in report.correlation_unavailable
    assert report.ai_human.n == 0 and report.overturned == []


def test_too_few_judgements_of_one_kind_give_no_correlation():
    # Five essays compared by both, but only three human judgements: not a scale yet.
    rows = [(0, 1, 0, "llm"), (1, 2, 1, "llm"), (2, 3, 2, "llm"), (3, 4, 3, "llm"), (4, 0, 0, "llm")]
    rows += [(0, 1, 0, "human:1"), (2, 3, 2, "human:1"), (3, 4, 4, "human:1")]
    report = agreement(*_judgements(rows), n_items=5)
    assert report.correlation is None and "as many judgements of each kind" in report.correlation_unavailable
