"""The "Graders" group has exactly what a grader needs, and a grader sees only their own work."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from assessments.graders import GRADER_PERMISSIONS, GRADERS_GROUP
from assessments.models import Comparison
from tests.admin.conftest import finished_batch, make_assignment

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_group_exists_after_migrate_with_exactly_the_graders_permissions():
    group = Group.objects.get(name=GRADERS_GROUP)
    granted = {(p.content_type.app_label, p.codename) for p in group.permissions.select_related("content_type")}
    assert granted == set(GRADER_PERMISSIONS)
    assert ("assessments", "delete_batch") in granted  # the admin lets them delete only batches not running
    assert not any(codename.startswith(("change_comparison", "change_essay")) for _, codename in granted)


def test_the_command_resets_the_permissions_and_makes_users_graders(django_user_model):
    group = Group.objects.get(name=GRADERS_GROUP)
    group.permissions.clear()
    teacher = django_user_model.objects.create_user(username="teacher", password="teacher-pass-123")

    call_command("cj_graders", "--add", "teacher", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert group.permissions.count() == len(GRADER_PERMISSIONS)
    teacher.refresh_from_db()
    assert teacher.is_staff and teacher.groups.filter(name=GRADERS_GROUP).exists()


def test_it_hides_other_graders_assignments_and_batches(grader_client, other_grader):
    theirs = make_assignment(other_grader, title="Their assignment")
    batch = finished_batch(other_grader, theirs, n=4)
    essay = batch.essays.first()
    comparison = Comparison.objects.filter(batch=batch).first()

    listing = grader_client.get("/admin/assessments/assignment/")
    assert b"Their assignment" not in listing.content
    assert grader_client.get("/admin/assessments/batch/").context["cl"].result_count == 0
    assert grader_client.get("/admin/assessments/essay/").context["cl"].result_count == 0
    assert grader_client.get("/admin/assessments/comparison/").context["cl"].result_count == 0
    for url in (
        f"/admin/assessments/assignment/{theirs.pk}/change/",
        f"/admin/assessments/assignment/{theirs.pk}/upload-anchors/",
        f"/admin/assessments/batch/{batch.pk}/change/",
        f"/admin/assessments/batch/{batch.pk}/export.csv",
        f"/admin/assessments/batch/{batch.pk}/export.json",
        f"/admin/assessments/essay/{essay.pk}/change/",
        f"/admin/assessments/comparison/{comparison.pk}/change/",
    ):
        response = grader_client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == "/admin/", url  # "does not exist", never the object
    for url in (f"/admin/assessments/batch/{batch.pk}/progress/", f"/admin/assessments/batch/{batch.pk}/plot.png"):
        assert grader_client.get(url).status_code == 404, url


def test_a_grader_cannot_act_on_another_graders_batch(grader_client, other_grader):
    batch = finished_batch(other_grader, n=4)
    for action in ("cancel", "rescore", "continue", "start"):
        response = grader_client.post(f"/admin/assessments/batch/{batch.pk}/{action}/", {"additional_comparisons": 5})
        assert response.status_code == 302
        assert response["Location"] == "/admin/"
    batch.refresh_from_db()
    assert batch.state == "completed" and not batch.processing_metadata.get("continuations")


def test_the_batch_filter_lists_only_the_graders_own_batches(grader, grader_client, other_grader):
    mine = finished_batch(grader, n=3)
    theirs = finished_batch(other_grader, n=3)
    content = grader_client.get("/admin/assessments/comparison/").content.decode()
    assert f"?batch={mine.pk}" in content
    assert f"?batch={theirs.pk}" not in content


def test_a_superuser_sees_every_graders_batches(admin_client, grader, other_grader):
    finished_batch(grader, n=3)
    finished_batch(other_grader, n=3)
    assert admin_client.get("/admin/assessments/batch/").context["cl"].result_count == 2


def test_a_grader_cannot_delete_or_edit_comparisons_or_essays(grader, grader_client):
    batch = finished_batch(grader, n=3)
    comparison = batch.comparisons.first()
    assert grader_client.post(f"/admin/assessments/comparison/{comparison.pk}/delete/", {"post": "yes"}).status_code == 403
    assert grader_client.post(f"/admin/assessments/essay/{comparison.essay_a_id}/delete/", {"post": "yes"}).status_code == 403
    assert grader_client.post(f"/admin/assessments/comparison/{comparison.pk}/change/", {}).status_code == 403
    assert grader_client.get("/admin/assessments/comparison/add/").status_code == 403
