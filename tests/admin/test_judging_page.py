"""The judging page in the graders' admin: opaque labels, verdicts by button, skip and stop,
invitations, the agreement block on the batch page, and excluding a judge."""

from typing import Any

import pytest

from assessments import services
from assessments.models import Batch, Comparison, JudgingLease, LeaseStatus
from tests.admin.conftest import make_assignment
from tests.conftest import essays

pytestmark = pytest.mark.django_db


def _moderated(owner: Any, *, mode: str = "human") -> Batch:
    """A batch of 5 essays on an assignment without anchors (quick to score): people only, or
    moderated (the mock LLM judges it first, in process)."""
    options: dict[str, Any] = {"judge_mode": mode, "comparisons_per_essay": 4}
    if mode == "moderation":
        options["human_share"] = 0.5
    request = {"essays": essays(5), "assignment_id": make_assignment(owner, anchors=False).pk, "options": options}
    batch = services.batch_create(owner=owner, request=request)
    services.batch_start(batch_id=batch.pk)
    return Batch.objects.get(pk=batch.pk)


def _page(client: Any, batch: Batch) -> Any:
    return client.get(f"/admin/assessments/batch/{batch.pk}/judge/")


def test_the_page_shows_the_task_and_two_essays_under_opaque_labels(grader, grader_client):
    batch = _moderated(grader)
    page = _page(grader_client, batch).content.decode()
    assert "Essay A" in page and "Essay B" in page and "Write about a role model." in page
    assert "Reward clear structure" in page
    for essay in batch.essays.all():
        assert f">{essay.external_id}<" not in page and f"{essay.external_id} (" not in page
    lease = JudgingLease.objects.get(batch=batch, user=grader, status=LeaseStatus.OPEN)
    assert lease.essay_a.text.split(" ")[0] in page


def test_a_button_records_the_verdict_with_its_time_and_the_next_pair_follows(grader, grader_client):
    batch = _moderated(grader)
    _page(grader_client, batch)
    lease = JudgingLease.objects.get(batch=batch, user=grader, status=LeaseStatus.OPEN)
    response = grader_client.post(
        f"/admin/assessments/batch/{batch.pk}/judge/",
        {"lease_id": lease.pk, "action": "b", "comment": "Better argued.", "duration_ms": "4200"},
    )
    assert response.status_code == 302 and response.url.endswith(f"/batch/{batch.pk}/judge/")
    judged = Comparison.objects.get(judge_user=grader)
    assert (judged.winner, judged.comment) == ("b", "Better argued.")
    assert 0 <= judged.duration_ms <= 4200
    assert 'You have judged <strong id="judged-by-you">1</strong>' in _page(grader_client, batch).content.decode()


def test_a_bad_post_is_shown_as_a_message_not_an_error_page(grader, grader_client):
    batch = _moderated(grader)
    response = grader_client.post(
        f"/admin/assessments/batch/{batch.pk}/judge/", {"lease_id": "x", "action": "a", "comment": "nul\x00"}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Invalid judgement: lease_id:" in page and "comment: must not contain control characters" in page
    assert not Comparison.objects.filter(judge_user=grader).exists()


def test_stop_for_now_returns_the_pair_and_goes_to_the_start_page(grader, grader_client):
    batch = _moderated(grader)
    _page(grader_client, batch)
    response = grader_client.post(f"/admin/assessments/batch/{batch.pk}/judge/", {"action": "stop"})
    assert response.status_code == 302 and response.url == "/admin/"
    assert not JudgingLease.objects.filter(batch=batch, status=LeaseStatus.OPEN).exists()


def test_a_grader_not_invited_cannot_open_the_page_until_invited(grader, grader_client, other_grader, other_client):
    batch = _moderated(grader)
    assert _page(other_client, batch).status_code == 302  # "does not exist"
    assert not JudgingLease.objects.filter(user=other_grader).exists()
    grader_client.post(f"/admin/assessments/batch/{batch.pk}/invite/", {"username": "other_grader"})
    assert _page(other_client, batch).status_code == 200
    start = other_client.get("/admin/").content.decode()
    assert f"/admin/assessments/batch/{batch.pk}/judge/" in start


@pytest.mark.django_db(transaction=True)  # the mock LLM's rounds run on commit
def test_the_batch_page_shows_the_agreement_and_excludes_a_judge(grader, grader_client):
    batch = _moderated(grader, mode="moderation")
    for _ in range(2):
        offer = services.judging_next_pair(batch=batch, user=grader)
        services.judging_record(batch=batch, user=grader, lease_id=offer.lease_id, winner="a")
    page = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/").content.decode()
    assert 'id="agreement"' in page and "People and the LLM" in page and "of 2 decisions" in page
    response = grader_client.post(
        f"/admin/assessments/batch/{batch.pk}/exclude-judge/", {"judge": f"human:{grader.pk}", "excluded": "on"}
    )
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.processing_metadata["excluded_judges"] == [f"human:{grader.pk}"]


def test_the_owner_ends_human_judging_and_the_batch_is_scored(grader, grader_client):
    batch = _moderated(grader)
    offer = services.judging_next_pair(batch=batch, user=grader)
    services.judging_record(batch=batch, user=grader, lease_id=offer.lease_id, winner="a")
    response = grader_client.post(f"/admin/assessments/batch/{batch.pk}/close-judging/")
    assert response.status_code == 302
    batch.refresh_from_db()
    assert (batch.state, batch.end_reason, batch.awaiting_people) == ("completed", "human_deadline", False)
    assert batch.processing_metadata["scoring"]["n_comparisons"] == 1


def test_a_batch_judged_by_people_only_is_not_called_a_mock_llm_batch(grader, grader_client):
    batch = _moderated(grader)
    page = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/").content.decode()
    assert 'id="mock-note"' not in page and "people (no LLM)" in page
    assert 'id="judge-pairs"' in page and 'id="close-judging"' in page
