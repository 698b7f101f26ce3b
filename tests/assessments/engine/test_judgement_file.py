"""Reading judgement CSV files: the accepted headers, positions, and errors that name the place."""

from __future__ import annotations

import io

import numpy as np
import pytest

from assessments.engine.judgement_file import JudgementFileError, read_judgements
from tests.assessments.engine.test_scoring_vs_sirt import meta_analysis_dir


def read(text: str, **kwargs):
    return read_judgements(io.StringIO(text), **kwargs)


def test_it_reads_candidate_chosen_columns_with_judges():
    judgements = read("judge,candidate_chosen,candidate_not_chosen\nj1,a,b\nj2,c,a\nj1,b,c\n")
    assert judgements.item_ids == ["a", "b", "c"]
    assert judgements.judge_ids == ["j1", "j2", "j1"]
    assert judgements.n_items == 3
    winners = np.where(judgements.outcome == 1, judgements.first, judgements.second)
    losers = np.where(judgements.outcome == 1, judgements.second, judgements.first)
    np.testing.assert_array_equal(winners, [0, 2, 1])
    np.testing.assert_array_equal(losers, [1, 0, 2])
    np.testing.assert_array_equal(judgements.line_numbers, [2, 3, 4])


def test_it_reads_winner_loser_columns_and_ignores_other_columns():
    judgements = read("Winner,time_taken,Loser\nx,12,y\ny,3,z\n")
    assert judgements.item_ids == ["x", "y", "z"]
    assert judgements.judge_ids is None


def test_it_places_the_item_shown_first_first_when_the_file_says_so():
    judgements = read("winner,loser,first_shown\na,b,b\na,b,a\nc,a,a\n")
    assert judgements.has_first_shown
    np.testing.assert_array_equal(judgements.first, [1, 0, 0])
    np.testing.assert_array_equal(judgements.second, [0, 1, 2])
    np.testing.assert_array_equal(judgements.outcome, [0.0, 1.0, 0.0])


def test_it_marks_positions_unknown_and_orders_pairs_without_regard_to_the_winner():
    judgements = read("winner,loser\na,b\nb,a\nc,a\na,c\n")
    assert not judgements.has_first_shown
    np.testing.assert_array_equal(judgements.first, [0, 0, 0, 0])  # "a" was seen first
    np.testing.assert_array_equal(judgements.outcome, [1.0, 0.0, 0.0, 1.0])


def test_it_skips_blank_lines_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "judgements.csv"
    path.write_text("\ufeffcandidate_chosen,candidate_not_chosen\r\n1,2\r\n\r\n2,3\r\n", encoding="utf-8")
    judgements = read_judgements(path)
    assert judgements.item_ids == ["1", "2", "3"]
    np.testing.assert_array_equal(judgements.line_numbers, [2, 4])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^line 1: the file is empty"),
        ("\n\n", r"^line 1: the file is empty"),
        (
            "judge,first,second\nj,a,b\n",
            r"^line 1: the header needs the columns candidate_chosen,candidate_not_chosen or winner,loser",
        ),
        ("winner,loser,candidate_chosen,candidate_not_chosen\n", r"^line 1: the header has both"),
        ("winner,loser\n", r"^line 2: no judgements after the header"),
        ("winner,loser\na,b\nc,\n", r"^line 3, column loser: missing value"),
        ("judge,winner,loser\nj,a,b\n,a,c\n", r"^line 3, column judge: missing value"),
        ("winner,loser,first_shown\na,b,c\n", r"^line 2, column first_shown: 'c' is neither the winner 'a' nor the loser 'b'"),
        ("winner,loser,first_shown\na,b,\n", r"^line 2, column first_shown: missing value"),
        ("candidate_chosen,candidate_not_chosen\na,b\nq,q\n", r"^line 3, column candidate_not_chosen: the same id 'q'"),
        ("winner,loser\na,b,c\n", r"^line 2: 3 values but the header has 2 columns"),
    ],
)
def test_it_rejects_a_bad_file_naming_the_line_and_column(text, message):
    with pytest.raises(JudgementFileError, match=message):
        read(text)


def test_its_errors_carry_the_line_and_column():
    with pytest.raises(JudgementFileError) as caught:
        read("winner,loser\na,b\nc,\n")
    assert caught.value.line == 3 and caught.value.column == "loser"
    assert isinstance(caught.value, ValueError)


def test_it_skips_self_comparisons_only_when_asked_and_records_their_lines():
    judgements = read("winner,loser\na,b\nq,q\nb,a\n", skip_self_comparisons=True)
    assert judgements.skipped_lines == (3,)
    assert judgements.item_ids == ["a", "b"]
    np.testing.assert_array_equal(judgements.line_numbers, [2, 4])


def test_it_reads_every_judgement_file_of_the_meta_analysis():
    data = meta_analysis_dir() / "data"
    if not data.is_dir():
        pytest.skip(f"shared data not found at {data} (set CJ_META_ANALYSIS_DIR)")
    files = sorted(p for p in data.glob("*.csv") if not p.name.startswith(("00-", "01-")))
    assert len(files) >= 90
    with_self_comparisons = {}
    for path in files:
        judgements = read_judgements(path, skip_self_comparisons=True)
        assert judgements.first.size > 0 and judgements.judge_ids is not None
        assert np.all(judgements.first != judgements.second)
        if judgements.skipped_lines:
            with_self_comparisons[path.stem] = len(judgements.skipped_lines)
    # Two published sessions record an item compared with itself; strict reading refuses them.
    assert with_self_comparisons == {"Clark2018_Study2": 22, "Daal2017_sample2": 1}
    with pytest.raises(JudgementFileError, match=r"^line 293, column candidate_not_chosen"):
        read_judgements(data / "Clark2018_Study2.csv")
