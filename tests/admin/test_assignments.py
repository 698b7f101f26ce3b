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


def _upload(client, assignment, **data):
    return client.post(f"/admin/assessments/assignment/{assignment.pk}/upload-anchors/", data)


def _confirm(client, assignment, preview):
    anchors_json = preview.context["anchors_json"]
    return _upload(client, assignment, anchors_json=anchors_json, _confirm="1")


def test_anchor_files_take_their_grade_from_the_file_name_shown_before_saving(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    files = [
        SimpleUploadedFile("A.txt", b"An excellent essay with a clear argument."),
        SimpleUploadedFile("C_second.md", b"A fair essay.\n\nTwo paragraphs."),
        SimpleUploadedFile("E_1.txt", b"a weak essay"),
    ]
    preview = _upload(grader_client, assignment, files=files)

    assert preview.status_code == 200
    assert not assignment.anchors.exists()  # nothing saved before the grader confirms
    content = preview.content.decode()
    assert "Check the grades before the anchors are saved" in content
    assert "<td>C_second.md</td><td>C_second</td><td><strong>C</strong></td><td>the file name</td>" in content
    response = _confirm(grader_client, assignment, preview)
    assert response.status_code == 302
    assert sorted(assignment.anchors.values_list("label", "grade")) == [("A", "A"), ("C_second", "C"), ("E_1", "E")]


def test_a_grade_with_a_minus_or_plus_the_scale_lacks_is_refused_not_rounded(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)  # A–F: no C-, D-, C+
    files = [SimpleUploadedFile(name, b"An essay.") for name in ("C-.txt", "D-.txt", "C+.txt", "B.txt")]
    response = _upload(grader_client, assignment, files=files)

    content = response.content.decode()
    for name, grade in (("C-.txt", "C-"), ("D-.txt", "D-"), ("C+.txt", "C+")):
        assert f"{name}: its name starts with {grade}, which is not a grade of this scale" in content
    assert "Check the grades" not in content
    assert not assignment.anchors.exists()


def test_a_windows_text_file_is_read_and_the_guess_is_shown(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    files = [SimpleUploadedFile("B.txt", "Un café à Malmö, “quoted”.".encode("cp1252"))]
    preview = _upload(grader_client, assignment, files=files)

    assert "read as Windows (cp1252 / Latin-1) text" in preview.content.decode()
    _confirm(grader_client, assignment, preview)
    assert assignment.anchors.get().text == "Un café à Malmö, “quoted”."


def test_a_confirmed_list_is_checked_again_against_the_scale(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    forged = '[{"label": "x", "grade": "C-", "text": "t", "file": "x.txt", "source": "file name", "note": ""}]'
    response = _upload(grader_client, assignment, anchors_json=forged, _confirm="1")

    assert "Not a grade of this scale for: x.txt" in response.content.decode()
    assert not assignment.anchors.exists()


def test_anchor_files_take_their_grade_from_a_csv(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    files = [SimpleUploadedFile("smith.txt", b"An excellent essay."), SimpleUploadedFile("jones.md", b"A weak essay.")]
    grades = SimpleUploadedFile("grades.csv", b"file,grade\nsmith.txt,B\njones.md,F\n")
    preview = _upload(grader_client, assignment, files=files, grades_csv=grades)
    assert "the grades CSV" in preview.content.decode()
    response = _confirm(grader_client, assignment, preview)

    assert response.status_code == 302
    assert sorted(assignment.anchors.values_list("label", "grade")) == [("jones", "F"), ("smith", "B")]


def test_every_bad_anchor_file_is_named_with_its_problem_at_once(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    files = [
        SimpleUploadedFile("notes.pages", b"x"),
        SimpleUploadedFile("broken.docx", b"not a zip"),
        SimpleUploadedFile("A.txt", b"   "),
    ]
    content = _upload(grader_client, assignment, files=files).content.decode()

    assert "notes.pages: is not a .txt, .md, .docx, .pdf file" in content
    assert "broken.docx: cannot be opened as a Word .docx document" in content
    assert "A.txt: is empty" in content
    assert "Error" not in content and "PackageNotFound" not in content
    response = _upload(grader_client, assignment, files=[SimpleUploadedFile("Essay.txt", b"x")])
    assert "Essay.txt: its name does not start with a grade" in response.content.decode()
    assert not AnchorEssay.objects.exists()


def test_an_assignment_with_batches_keeps_its_prompt_rubric_and_scale(grader, grader_client):
    assignment = make_assignment(grader)
    finished_batch(grader, assignment, n=3)
    response = grader_client.get(f"/admin/assessments/assignment/{assignment.pk}/change/")
    form_fields = response.context["adminform"].form.fields
    assert "title" in form_fields
    assert not {"student_prompt", "instructions", "grade_scale"} & set(form_fields)
    content = response.content.decode()
    assert "The student prompt and rubric are locked: 1 batch used them" in content
    assert "create a new assignment" in content
    assert 'style="white-space:pre-wrap;max-width:60em">Write about a role model.</div>' in content
    assert "F, E, D, C, B, A (lowest first)" in content


def test_the_scale_menu_lists_each_scales_grades_and_the_words_are_a_teachers(grader_client):
    content = grader_client.get("/admin/assessments/assignment/add/").content.decode()
    assert '<option value="swedish_a_f" selected>Swedish A–F: F, E, D, C, B, A</option>' in content
    assert "F+, E-, E+, D-, D+, C-, C+, B, A" in content
    assert "Context origin" not in content and "May a batch change the prompt and rubric?" in content
    assert "button at the top" not in content


def test_a_custom_scale_error_lists_the_grades_in_words(grader_client):
    response = grader_client.post(
        "/admin/assessments/assignment/add/", _assignment_post(grade_scale="custom", custom_grades_text="1, 2, 2")
    )
    content = response.content.decode()
    assert "names 2 more than once; given: 1, 2, 2" in content and "[&#x27;" not in content


def test_once_saved_an_anchor_grade_is_picked_from_the_scale(grader, grader_client):
    assignment = make_assignment(grader, anchors=False)
    content = grader_client.get(f"/admin/assessments/assignment/{assignment.pk}/change/").content.decode()
    assert '<select name="anchors-2-0-grade"' in content
    assert '<option value="A">A</option>' in content
