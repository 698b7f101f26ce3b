"""Assignments and their anchors over HTTP: create, list, read, update, delete; owner-scoped."""

from __future__ import annotations

import pytest

from assessments import services
from assessments.models import AnchorEssay, Assignment
from tests.api.conftest import error_of
from tests.conftest import essays

pytestmark = pytest.mark.django_db

NEW = {"title": "Travel", "student_prompt": "Describe a journey.", "grade_scale": "swedish_a_f"}


def test_the_owner_creates_an_assignment_and_reads_it_back(as_owner, owner):
    response = as_owner.post("/api/v1/assignments", NEW, format="json")
    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == body["url"] == f"/api/v1/assignments/{body['id']}"
    assert body["owner"] == owner.pk and body["grades"][0] == "F" and body["anchor_count"] == 0
    assert as_owner.get(body["url"]).json()["title"] == "Travel"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": " "}, "title"),
        ({"grade_scale": "percent"}, "grade_scale"),
        ({"grade_scale": "custom", "custom_grades": ["low"]}, "grade_scale"),
        ({"context_origin": "official"}, "context_origin"),
    ],
)
def test_a_bad_assignment_is_a_400_naming_the_field(as_owner, change, field):
    response = as_owner.post("/api/v1/assignments", {**NEW, **change}, format="json")
    assert response.status_code == 400 and field in error_of(response)["fields"]


def test_owners_list_their_own_assignments_and_staff_list_all(as_owner, as_other, as_staff, assignment, other_user):
    services.assignment_create(owner=other_user, title="Theirs", student_prompt="p")
    assert [a["title"] for a in as_owner.get("/api/v1/assignments").json()["results"]] == ["Role models"]
    assert [a["title"] for a in as_other.get("/api/v1/assignments").json()["results"]] == ["Theirs"]
    assert as_staff.get("/api/v1/assignments").json()["count"] == 2


def test_another_users_assignment_is_a_404_for_every_method(as_other, as_staff, as_anonymous, assignment):
    url = f"/api/v1/assignments/{assignment.pk}"
    for response in (as_other.get(url), as_other.patch(url, {"title": "x"}, format="json"), as_other.delete(url)):
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert as_anonymous.get(url).status_code == 401
    assert as_staff.get(url).status_code == 200
    assert Assignment.objects.filter(pk=assignment.pk, title="Role models").exists()


def test_the_owner_updates_an_unused_assignment(as_owner, assignment):
    url = f"/api/v1/assignments/{assignment.pk}"
    patched = as_owner.patch(url, {"title": "Role models 2", "instructions": "Reward evidence."}, format="json")
    assert patched.status_code == 200 and patched.json()["instructions"] == "Reward evidence."
    replaced = as_owner.put(url, {**NEW, "title": "Replaced"}, format="json")
    assert replaced.status_code == 200 and replaced.json()["title"] == "Replaced"


def test_a_scale_that_loses_an_anchors_grade_is_refused(as_owner, assignment):
    response = as_owner.patch(f"/api/v1/assignments/{assignment.pk}", {"grade_scale": "us_letter"}, format="json")
    assert response.status_code == 400 and "grade_scale" in error_of(response)["fields"]


def test_an_assignment_in_use_keeps_its_prompt_and_cannot_be_deleted(as_owner, owner, assignment):
    services.batch_create(owner=owner, request={"assignment_id": assignment.pk, "essays": essays(2)})
    url = f"/api/v1/assignments/{assignment.pk}"
    changed = as_owner.patch(url, {"student_prompt": "Another task."}, format="json")
    assert changed.status_code == 409 and "student_prompt" in error_of(changed)["fields"]
    assert as_owner.patch(url, {"title": "Renamed"}, format="json").status_code == 200
    deleted = as_owner.delete(url)
    assert deleted.status_code == 409 and error_of(deleted)["code"] == "conflict"


def test_the_owner_deletes_an_unused_assignment_with_its_anchors(as_owner, assignment):
    assert as_owner.delete(f"/api/v1/assignments/{assignment.pk}").status_code == 204
    assert not Assignment.objects.exists() and not AnchorEssay.objects.exists()


# --- Anchors -----------------------------------------------------------------------------------


def test_the_owner_registers_lists_and_deletes_anchors(as_owner, assignment):
    url = f"/api/v1/assignments/{assignment.pk}/anchors"
    created = as_owner.post(url, {"label": "top", "grade": "A", "text": "An excellent essay."}, format="json")
    assert created.status_code == 201 and created["Location"] == f"{url}/{created.json()['id']}"
    assert len(created.json()["text_sha256"]) == 64
    assert [a["label"] for a in as_owner.get(url).json()["results"]] == ["high", "low", "mid", "top"]
    assert as_owner.get(created["Location"]).json()["grade"] == "A"
    assert as_owner.delete(created["Location"]).status_code == 204
    assert as_owner.get(created["Location"]).status_code == 404


@pytest.mark.parametrize(
    ("anchor", "field"),
    [
        ({"label": "x", "grade": "Z", "text": "t"}, "grade"),
        ({"label": "low", "grade": "E", "text": "t"}, "label"),
        ({"label": "x", "grade": "E"}, "text"),
    ],
)
def test_a_bad_anchor_is_a_400_naming_the_field(as_owner, assignment, anchor, field):
    response = as_owner.post(f"/api/v1/assignments/{assignment.pk}/anchors", anchor, format="json")
    assert response.status_code == 400 and field in error_of(response)["fields"]


def test_an_unknown_grade_lists_the_scales_grades(as_owner, assignment):
    response = as_owner.post(
        f"/api/v1/assignments/{assignment.pk}/anchors", {"label": "x", "grade": "Z", "text": "t"}, format="json"
    )
    assert "A" in error_of(response)["fields"]["grade"][0]


def test_other_users_neither_see_nor_touch_anchors(as_other, as_staff, as_anonymous, assignment):
    url = f"/api/v1/assignments/{assignment.pk}/anchors"
    anchor = assignment.anchors.first()
    assert as_other.get(url).status_code == 404
    assert as_other.post(url, {"label": "x", "grade": "A", "text": "t"}, format="json").status_code == 404
    assert as_other.delete(f"{url}/{anchor.pk}").status_code == 404
    assert as_anonymous.get(url).status_code == 401
    assert as_staff.get(url).json()["count"] == 3
    assert AnchorEssay.objects.filter(pk=anchor.pk).exists()
