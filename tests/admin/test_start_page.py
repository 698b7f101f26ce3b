"""The admin's index is a start page for graders: their work and what to do next."""

import pytest

from tests.admin.conftest import finished_batch, make_assignment

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_grader_is_told_to_create_an_assignment_first(grader_client):
    content = grader_client.get("/admin/").content.decode()
    assert "Your work" in content
    assert "Create an assignment" in content and "Start a batch" in content


def test_an_assignment_without_anchors_is_the_next_thing_to_finish(grader, grader_client):
    assignment = make_assignment(grader, anchors=False, title="Letters home")
    content = grader_client.get("/admin/").content.decode()
    assert f"/admin/assessments/assignment/{assignment.pk}/upload-anchors/" in content
    assert "Add anchors to “Letters home”" in content
    assert "Create an assignment</strong>" not in content


def test_the_start_page_lists_running_and_finished_batches_with_progress(grader, grader_client):
    from assessments import services
    from tests.conftest import essays

    assignment = make_assignment(grader)
    done = finished_batch(grader, assignment)
    waiting = services.batch_create(owner=grader, request={"essays": essays(4), "options": {"comparisons_per_essay": 4}})

    content = grader_client.get("/admin/").content.decode()
    running = content[content.index('id="running-batches"') : content.index('id="finished-batches"')]
    assert f"Batch {waiting.pk}" in running and "Created, not started yet." in running
    assert f"/admin/assessments/batch/{done.pk}/change/" in content[content.index('id="finished-batches"') :]
    assert "Role models</a>: 3 anchors, 1 batch" in content


def test_a_grader_does_not_see_another_graders_work_on_the_start_page(grader, other_grader, other_client):
    make_assignment(grader, title="Secret plans")
    finished_batch(grader)
    content = other_client.get("/admin/").content.decode()
    assert "Secret plans" not in content and "Finished lately" not in content
