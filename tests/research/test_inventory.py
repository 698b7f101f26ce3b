"""Reading and checking a run's inputs: opaque ids, grades, formats, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from assessments.engine.scales import get_scale
from assessments.files import grade_from_file_name
from assessments.research.inventory import Sources, inventory_collect, opaque_id
from cjproject.errors import InvalidInput
from tests.research.conftest import write_docx, write_pdf


def _sources(sample: Path, **changes: object) -> Sources:
    values = {
        "anchors": sample / "anchors",
        "essays": sample / "essays",
        "prompt": sample / "instructions.md",
        "instructions": sample / "rubric.md",
        **changes,
    }
    return Sources(**values)  # type: ignore[arg-type]


def test_it_reads_the_shipped_sample_when_no_input_is_named():
    inventory = inventory_collect(Sources())
    assert len(inventory.anchors) == 12 and len(inventory.essays) == 24
    assert {a.grade for a in inventory.anchors} == set(get_scale("eng5_np_legacy_9_step").grades)
    assert all(a.grade_source == "csv" for a in inventory.anchors)
    assert inventory.ignored and all(Path(p).name == "expected_levels.csv" for p in inventory.ignored)


def test_essay_ids_are_hashes_of_the_text_and_carry_no_file_name():
    inventory = inventory_collect(Sources())
    for doc in [*inventory.anchors, *inventory.essays]:
        assert doc.id == opaque_id(doc.role, doc.text)
        assert len(doc.id) == 14 and int(doc.id[2:], 16) >= 0  # a prefix and 12 hex digits, nothing else
    assert {d.id[:2] for d in inventory.anchors} == {"a-"} and {d.id[:2] for d in inventory.essays} == {"s-"}


@pytest.mark.parametrize(
    ("stem", "grade"), [("C+", "C+"), ("B2", "B"), ("a (2)", "A"), ("E-_3", "E-"), ("F", None), ("essay_01", None)]
)
def test_it_reads_grades_from_file_names(stem, grade):
    assert grade_from_file_name(stem, get_scale("eng5_np_legacy_9_step")) == grade


def test_without_a_grades_csv_the_file_names_give_the_grades(sample):
    (sample / "anchors" / "anchor_grades.csv").unlink()
    inventory = inventory_collect(_sources(sample))
    by_file = {a.file: a.grade for a in inventory.anchors}
    assert by_file["C+2.txt"] == "C+" and by_file["F+.txt"] == "F+"
    assert {a.grade_source for a in inventory.anchors} == {"file_name"}


def test_it_reads_docx_and_pdf_essays_but_never_the_documents_author(sample):
    write_docx(sample / "essays" / "essay_25.docx", ["My Role Model", "My aunt is a nurse who works nights.", "She is patient."])
    write_pdf(sample / "essays" / "essay_26.pdf", ["Why heroes matter", "A hero shows courage when it is hard to."])
    inventory = inventory_collect(_sources(sample))
    by_file = {e.file: e for e in inventory.essays}
    assert by_file["essay_25.docx"].text == "My Role Model\n\nMy aunt is a nurse who works nights.\n\nShe is patient."
    assert "Student Name" not in by_file["essay_25.docx"].text
    assert "A hero shows courage when it is hard to." in by_file["essay_26.pdf"].text
    assert (by_file["essay_25.docx"].format, by_file["essay_26.pdf"].format) == ("docx", "pdf")


def _problems(sources: Sources) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        inventory_collect(sources)
    return caught.value


def test_an_empty_essay_folder_is_an_error(sample, tmp_path):
    (tmp_path / "empty").mkdir()
    problem = _problems(_sources(sample, essays=tmp_path / "empty"))
    assert "empty folder" in problem.message
    assert str(tmp_path / "empty") in problem.fields


def test_an_unknown_grade_names_the_file_and_the_valid_grades(sample):
    (sample / "anchors" / "anchor_grades.csv").write_text("file,grade\nC+.txt,G\n", encoding="utf-8")
    (sample / "anchors" / "Excellent.txt").write_text("An anchor without a grade.", encoding="utf-8")
    problem = _problems(_sources(sample))
    assert "unknown grade" in problem.message
    assert "unknown grade 'G'" in " ".join(problem.fields[str(sample / "anchors" / "C+.txt")])
    assert "F+, E-, E+" in " ".join(problem.fields[str(sample / "anchors" / "Excellent.txt")])


def test_an_unreadable_file_is_named_with_the_reason(sample):
    (sample / "essays" / "essay_30.docx").write_bytes(b"not a zip file")
    (sample / "essays" / "essay_31.txt").write_bytes(b"\xff\xfe\xfa broken")
    (sample / "essays" / "essay_32.pdf").write_bytes(b"%PDF-1.4 truncated")
    problem = _problems(_sources(sample))
    assert "unreadable file" in problem.message
    assert "Word .docx" in " ".join(problem.fields[str(sample / "essays" / "essay_30.docx")])
    assert "UTF-8" in " ".join(problem.fields[str(sample / "essays" / "essay_31.txt")])
    assert "PDF" in " ".join(problem.fields[str(sample / "essays" / "essay_32.pdf")])


def test_one_essay_in_two_files_is_a_duplicate_id(sample):
    write_docx(sample / "essays" / "essay_01.docx", ["A different draft of the first essay."])
    problem = _problems(_sources(sample))
    assert "duplicate ids" in problem.message
    assert "essay_01.docx, essay_01.txt" in " ".join(problem.fields["student essay_01"])


def test_one_text_in_two_files_is_a_duplicate_text_even_across_anchors_and_students(sample):
    anchor_text = (sample / "anchors" / "B.txt").read_text(encoding="utf-8")
    (sample / "essays" / "essay_40.txt").write_text(anchor_text + "\n", encoding="utf-8")
    problem = _problems(_sources(sample))
    assert "duplicate texts" in problem.message
    assert "anchor B.txt, student essay_40.txt" in " ".join(next(iter(problem.fields.values())))


def test_naming_some_inputs_but_not_all_is_an_error(sample):
    problem = _problems(Sources(essays=sample / "essays"))
    assert set(problem.fields) == {"--anchors", "--prompt", "--instructions"}
