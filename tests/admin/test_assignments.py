"""Graders write assignments and add anchors inline or by uploading files; the admin calls services."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assessments.models import AnchorEssay, Assignment
from tests.admin.conftest import finished_batch, make_assignment

pytestmark = pytest.mark.django_db(transaction=True)


def _inline_management(existing: int = 0, new: int = 1) -> dict[str, str]:
    data = {}
    for prefix, total, initial in (("anchors", existing, existing), ("anchors-2", new, 0)):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": str(total),
                f"{prefix}-INITIAL_FORMS": str(initial),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return data


def _assignment_post(**overrides: str) -> dict[str, str]:
    data = {
        "title": "Persuasive letters",
        "student_prompt": "Write a letter to your head teacher.",
        "instructions": "Reward a clear argument.",
        "grade_scale": "swedish_a_f",
        "custom_grades_text": "",
        "context_origin": "research",
        **_inline_management(new=2),
        "anchors-2-0-label": "strong",
        "anchors-2-0-grade": "A",
        "anchors-2-0-text": "A clear, well argued letter.",
        "anchors-2-1-label": "",
        "anchors-2-1-grade": "",
        "anchors-2-1-text": "",
    }
    data.update(overrides)
    return data


def test_a_grader_creates_an_assignment_with_an_anchor_inline(grader, grader_client):
    response = grader_client.post("/admin/assessments/assignment/add/", _assignment_post())

    assert response.status_code == 302, response.context and response.context["errors"]
    assignment = Assignment.objects.get(title="Persuasive letters")
    assert assignment.owner == grader
    anchor = assignment.anchors.get()
    assert (anchor.label, anchor.grade) == ("strong", "A")
    assert len(anchor.text_sha256) == 64  # registered by services.anchor_register


def test_an_anchor_grade_outside_the_scale_is_refused_with_the_valid_grades(grader_client):
    response = grader_client.post("/admin/assessments/assignment/add/", _assignment_post(**{"anchors-2-0-grade": "A+"}))

    assert response.status_code == 200
    assert "unknown grade &#x27;A+&#x27;" in response.content.decode()
    assert "valid grades: F, E, D, C, B, A" in response.content.decode()
    assert not Assignment.objects.exists()


def test_a_custom_scale_needs_its_grades(grader_client):
    response = grader_client.post(
        "/admin/assessments/assignment/add/", _assignment_post(grade_scale="custom", **{"anchors-2-0-grade": "3"})
    )
    assert response.status_code == 200
    assert "needs its ordered list of grades" in response.content.decode()

    response = grader_client.post(
        "/admin/assessments/assignment/add/",
        _assignment_post(grade_scale="custom", custom_grades_text="1, 2, 3", **{"anchors-2-0-grade": "3"}),
    )
    assert response.status_code == 302
    assert Assignment.objects.get().custom_grades == ["1", "2", "3"]


def test_the_assignment_page_shows_which_grades_have_anchors(grader, grader_client):
    assignment = make_assignment(grader)
    content = grader_client.get(f"/admin/assessments/assignment/{assignment.pk}/change/").content.decode()
    assert 'id="anchor-coverage"' in content
    assert "A: 1" in content and "B: 0" in content
    listing = grader_client.get("/admin/assessments/assignment/").content.decode()
    assert "3 of 6 (none for B, D, F)" in listing


def test_anchor_files_take_their_grade_from_the_file_name(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    files = [
        SimpleUploadedFile("A.txt", b"An excellent essay with a clear argument."),
        SimpleUploadedFile("C_second.md", b"A fair essay.\n\nTwo paragraphs."),
        SimpleUploadedFile("E-1.txt", b"a weak essay"),
    ]
    response = grader_client.post(f"/admin/assessments/assignment/{assignment.pk}/upload-anchors/", {"files": files})

    assert response.status_code == 302
    assert sorted(assignment.anchors.values_list("label", "grade")) == [("A", "A"), ("C_second", "C"), ("E-1", "E")]


def test_anchor_files_take_their_grade_from_a_csv(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    files = [SimpleUploadedFile("smith.txt", b"An excellent essay."), SimpleUploadedFile("jones.md", b"A weak essay.")]
    grades = SimpleUploadedFile("grades.csv", b"file,grade\nsmith.txt,B\njones.md,F\n")
    response = grader_client.post(
        f"/admin/assessments/assignment/{assignment.pk}/upload-anchors/", {"files": files, "grades_csv": grades}
    )

    assert response.status_code == 302
    assert sorted(assignment.anchors.values_list("label", "grade")) == [("jones", "F"), ("smith", "B")]


def test_anchor_files_without_a_grade_are_refused_naming_the_file(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    files = [SimpleUploadedFile("Essay.txt", b"Some text."), SimpleUploadedFile("notes.pages", b"x")]
    response = grader_client.post(f"/admin/assessments/assignment/{assignment.pk}/upload-anchors/", {"files": files})

    assert response.status_code == 200
    assert "notes.pages" in response.content.decode()
    response = grader_client.post(
        f"/admin/assessments/assignment/{assignment.pk}/upload-anchors/", {"files": [SimpleUploadedFile("Essay.txt", b"x")]}
    )
    assert "Essay.txt: its name does not start with a grade" in response.content.decode()
    assert not AnchorEssay.objects.exists()


def test_an_assignment_with_batches_keeps_its_prompt_rubric_and_scale(grader, grader_client):
    assignment = make_assignment(grader)
    finished_batch(grader, assignment, n=3)
    response = grader_client.get(f"/admin/assessments/assignment/{assignment.pk}/change/")
    form_fields = response.context["adminform"].form.fields
    assert "title" in form_fields
    assert not {"student_prompt", "instructions", "grade_scale"} & set(form_fields)
