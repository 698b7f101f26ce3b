"""`manage.py cj_simulate`: the engine loop on a synthetic batch, from the command line."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def _run(*args):
    out = StringIO()
    call_command("cj_simulate", *args, stdout=out)
    return out.getvalue()


def test_it_reports_agreement_with_the_truth_as_json():
    report = json.loads(
        _run("--students", "16", "--anchors-per-grade", "1", "--comparisons-per-essay", "8", "--json", "--seed", "3")
    )
    assert report["strategy"] == "ours"
    assert report["end_reason"] == "budget_exhausted"
    assert report["comparisons"] == 88  # (16 students + 6 anchors, one per grade) * 8 / 2
    assert 0.5 < report["spearman"] <= 1.0
    assert 0.0 <= report["grade_exact"] <= report["grade_adjacent"] <= 1.0
    assert len(report["trajectory"]) == report["rounds"]
    assert 0.7 < report["judge_agreement"] < 0.85
    assert 0.0 <= report["reliability"] < 1.0 and 0.0 <= report["coverage"] <= 1.0


def test_the_same_seed_gives_the_same_result_and_another_seed_another():
    args = ("--students", "12", "--anchors-per-grade", "1", "--comparisons-per-essay", "6", "--json")
    first = json.loads(_run(*args, "--seed", "1"))
    assert json.loads(_run(*args, "--seed", "1")) == first
    assert json.loads(_run(*args, "--seed", "2")) != first


def test_it_prints_one_line_per_round():
    text = _run("--students", "12", "--anchors-per-grade", "1", "--comparisons-per-essay", "6", "--strategy", "random")
    assert "agreement with the truth" in text
    assert text.strip().splitlines()[-1].startswith("End: budget_exhausted")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--scale", "letters"), "valid scales"),
        (("--lapse-rate", "1.5"), "--lapse-rate"),
        (("--comparisons-per-essay", "0"), "--comparisons-per-essay"),
        (("--anchors-per-grade", "2-1"), "--anchors-per-grade"),
        (("--grade-certainty", "1.5"), "--grade-certainty"),
    ],
)
def test_bad_options_are_refused_with_the_option_named(args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)


def test_several_seeds_are_pooled_into_a_calibration_table():
    report = json.loads(
        _run("--students", "16", "--anchors-per-grade", "1", "--comparisons-per-essay", "6", "--seeds", "3", "--json")
    )
    assert report["batches"] == 3 and report["students"] == 48
    assert sum(row["students"] for row in report["calibration"]) == 48
    assert 0.0 <= report["ece"] <= 1.0
    assert set(report["by_label"]) == {"high", "medium", "low"}
