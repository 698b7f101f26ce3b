"""The flow of one batch with tasks in process: rounds as chords, idempotent results, the sweeper."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.db.models import Count
from django.utils import timezone

from assessments import selectors, services
from assessments.models import Batch, Comparison
from assessments.services import rounds
from cjproject.errors import InvalidInput
from llmgateway.models import LLMRequest
from llmgateway.schemas import MockBehaviour
from llmgateway.services import comparison_execute
from tests.conftest import essays, run_batch

pytestmark = pytest.mark.django_db(transaction=True)


def _start(owner, n=8, **request):
    return run_batch(owner, n, **request)


def test_it_runs_a_batch_to_completion_and_scores_every_essay(owner, assignment):
    batch = _start(owner, assignment_id=assignment.pk, options={"comparisons_per_essay": 6})
    assert (batch.state, batch.end_reason) == ("completed", "budget_exhausted")
    budget = batch.processing_metadata["comparison_budget"]["max_pairs_requested"]
    assert budget == 33  # (8 students + 3 anchors) * 6 / 2, rounded up
    counts = dict(batch.comparisons.values_list("status").annotate(n=Count("pk")))
    assert counts == {"succeeded": budget}
    assert (batch.comparisons_planned, batch.comparisons_succeeded, batch.comparisons_failed) == (budget, budget, 0)
    assert 2 <= batch.current_round <= 6
    assert batch.essays.filter(theta__isnull=True).count() == 0
    assert sorted(batch.essays.values_list("rank", flat=True)) == list(range(1, 12))
    assert 0.0 <= batch.processing_metadata["scoring"]["reliability"] < 1.0
    decisions = batch.processing_metadata["decisions"]
    assert [d["decision"] for d in decisions][-1] == "budget_exhausted"
    assert len(decisions) == batch.current_round


def test_every_comparison_carries_opaque_metadata_and_its_prompt_hash(owner):
    batch = _start(owner, n=5)
    for comparison in batch.comparisons.all():
        meta = comparison.request_metadata
        assert meta["comparison_id"] == comparison.pk
        assert (meta["essay_a_id"], meta["essay_b_id"]) == (comparison.essay_a_id, comparison.essay_b_id)
        assert meta["comparison_iteration"] == comparison.round_no
        assert len(comparison.prompt_sha256) == 64
        assert comparison.winner in ("a", "b")
        assert 1 <= comparison.confidence <= 5


def test_prompts_carry_no_essay_ids(owner):
    batch = services.batch_create(
        owner=owner, request={"essays": [{"id": "Jane-Doe-2024", "text": "An essay."}, {"id": "John-Roe", "text": "Another."}]}
    )
    services.batch_start(batch_id=batch.pk)
    for request in LLMRequest.objects.all():
        assert "Jane" not in str(request.prompt_parts) and "John" not in str(request.prompt_parts)


def test_it_ignores_a_second_delivery_of_the_same_result(owner):
    batch = _start(owner, n=4)
    comparison = batch.comparisons.first()
    result = comparison_execute(request_id=comparison.llm_request_id)
    assert services.comparison_record(result=result) is False
    assert services.comparison_record(result=result.model_dump(mode="json")) is False
    batch.refresh_from_db()
    assert batch.comparisons_succeeded == batch.comparisons.filter(status="succeeded").count()


def test_a_stale_round_body_changes_nothing(owner):
    batch = _start(owner, n=4)
    before = Batch.objects.get(pk=batch.pk)
    services.round_complete(batch_id=batch.pk, round_no=1)
    after = Batch.objects.get(pk=batch.pk)
    assert (after.state, after.current_round, after.updated_at) == (before.state, before.current_round, before.updated_at)


def test_a_batch_with_one_essay_is_refused_at_creation(owner):
    with pytest.raises(InvalidInput) as refused:
        services.batch_create(owner=owner, request={"essays": essays(1)})
    assert "essays" in refused.value.fields
    assert Batch.objects.count() == 0 and Comparison.objects.count() == 0


def test_starting_twice_sends_one_first_round(owner):
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    assert services.batch_start(batch_id=batch.pk) is True
    assert services.batch_start(batch_id=batch.pk) is False
    assert (
        Comparison.objects.filter(batch=batch, round_no=1).count()
        == Batch.objects.get(pk=batch.pk).comparisons.filter(round_no=1).count()
    )


def test_the_sweeper_drives_a_round_whose_body_never_ran(owner, monkeypatch, settings):
    # The header runs, the body is lost (as when a worker dies or Redis drops the chord counter).
    settings.CJ_RELIABILITY_TARGET = 0.99  # the budget, not the reliability, ends this batch
    monkeypatch.setattr(rounds, "chord", lambda header: lambda body: [task.apply() for task in header])
    batch = services.batch_create(owner=owner, request={"essays": essays(6)})
    services.batch_start(batch_id=batch.pk)
    stuck = Batch.objects.get(pk=batch.pk)
    assert (stuck.state, stuck.current_round) == ("running", 1)
    assert stuck.comparisons.filter(status__in=["pending", "sent"]).count() == 0
    monkeypatch.undo()

    assert services.batch_sweep()["driven"] == []  # still within the grace period
    later = timezone.now() + timedelta(minutes=5)
    report = services.batch_sweep(now=later)
    assert report["driven"] == [batch.pk]
    done = Batch.objects.get(pk=batch.pk)
    assert (done.state, done.end_reason) == ("completed", "budget_exhausted")


def test_a_round_whose_scoring_fails_gives_its_claim_back_and_a_retry_scores_it(owner, monkeypatch):
    # The round's body: lost as above, then run by hand with scoring failing once (a deadlock).
    monkeypatch.setattr(rounds, "chord", lambda header: lambda body: [task.apply() for task in header])
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    monkeypatch.undo()

    def deadlock(**kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(rounds, "batch_score", deadlock)
    with pytest.raises(OperationalError):
        services.round_complete(batch_id=batch.pk, round_no=1)
    assert Batch.objects.get(pk=batch.pk).state == "running"  # not left in scoring
    monkeypatch.undo()
    services.round_complete(batch_id=batch.pk, round_no=1)  # the task's retry
    assert Batch.objects.get(pk=batch.pk).state == "completed"


def test_a_round_that_was_never_sent_is_sent_again_by_the_sweeper_in_seconds(owner, monkeypatch, settings):
    monkeypatch.setattr(rounds, "round_dispatch", lambda **kwargs: None)  # the sender died after the commit
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    monkeypatch.undo()
    assert services.batch_sweep()["unsent"] == []  # just planned: its sending may still be under way
    soon = timezone.now() + timedelta(seconds=settings.CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS + 1)
    assert services.batch_sweep(now=soon)["unsent"] == [batch.pk]
    done = Batch.objects.get(pk=batch.pk)
    assert done.state == "completed"
    assert done.comparisons_succeeded == done.comparisons_planned


def test_a_round_the_broker_refused_goes_back_to_pending_and_is_sent_again(owner, monkeypatch, settings):
    def broker_down(header):
        raise ConnectionError("broker unavailable")

    monkeypatch.setattr(rounds, "chord", broker_down)
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    refused = Batch.objects.get(pk=batch.pk)
    assert refused.state == "running"
    assert refused.comparisons.exclude(status="pending").count() == 0
    monkeypatch.undo()
    soon = timezone.now() + timedelta(seconds=settings.CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS + 1)
    assert services.batch_sweep(now=soon)["unsent"] == [batch.pk]
    done = Batch.objects.get(pk=batch.pk)
    assert done.state == "completed" and done.comparisons_succeeded == done.comparisons_planned


def test_the_sweeper_fails_a_batch_that_stopped_progressing(owner, monkeypatch, settings):
    monkeypatch.setattr(rounds, "round_dispatch", lambda **kwargs: None)  # nothing is ever sent
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    report = services.batch_sweep(now=timezone.now() + timedelta(seconds=settings.CJ_STALL_TIMEOUT_SECONDS + 1))
    assert report["failed"] == [batch.pk]
    failed = Batch.objects.get(pk=batch.pk)
    assert (failed.state, failed.end_reason) == ("failed", "stalled")
    assert "no progress" in failed.end_message
    assert failed.comparisons.exclude(status="cancelled").count() == 0


def test_students_get_genuine_grade_probabilities_from_the_anchors(owner, assignment):
    batch = _start(owner, n=8, assignment_id=assignment.pk, options={"comparisons_per_essay": 8})
    students = batch.essays.filter(role="student")
    for essay in students:
        assert essay.projected_grade in ("F", "E", "D", "C", "B", "A")
        assert sum(essay.grade_probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert essay.grade_probability == pytest.approx(essay.grade_probabilities[essay.projected_grade], abs=1e-4)
        assert essay.grade_confidence in ("high", "medium", "low")
    assert any(0.0 < p < 1.0 for e in students for p in e.grade_probabilities.values()), "probabilities must not be one-hot"
    assert batch.essays.filter(role="anchor").exclude(projected_grade="").count() == 0
    grading = batch.processing_metadata["grading"]
    assert grading["available"] is True
    assert grading["grades"] == ["F", "E", "D", "C", "B", "A"]
    alignment = batch.processing_metadata["anchor_alignment"]
    assert alignment["n_anchors"] == 3
    assert all(label.startswith("anchor:") for pair in alignment["inversions"] for label in pair)


def test_a_guest_batch_is_ranked_without_grades_and_says_why(owner):
    batch = _start(owner, n=6)
    assert batch.state == "completed"
    assert batch.essays.exclude(projected_grade="").count() == 0
    assert batch.processing_metadata["grading"] == {
        "available": False,
        "reason": "guest batch: no assignment, so no anchors and no grades",
    }


def test_a_batch_stops_early_once_the_reliability_target_is_reached(owner):
    batch = _start(owner, n=10, options={"comparisons_per_essay": 20, "reliability_target": 0.05, "min_comparisons_per_essay": 2})
    assert (batch.state, batch.end_reason) == ("completed", "reliability_reached")
    assert batch.comparisons_planned < batch.processing_metadata["comparison_budget"]["max_pairs_requested"]
    last = batch.processing_metadata["decisions"][-1]
    assert last["decision"] == "reliability_reached"
    assert last["reliability"] >= last["reliability_target"] == 0.05
    assert last["fewest_student_comparisons"] >= 2


def test_the_round_limit_ends_a_batch_with_max_rounds(owner):
    batch = _start(owner, n=6, options={"max_rounds": 1, "comparisons_per_essay": 10})
    assert (batch.state, batch.end_reason, batch.current_round) == ("completed", "max_rounds", 1)


def test_comparisons_that_fail_for_good_are_replaced_by_new_pairs_and_reported(owner, settings):
    settings.LLM_MOCK_BEHAVIOUR = MockBehaviour(error_rate=0.15)
    settings.LLM_MAX_ATTEMPTS = 1  # every injected 500 fails its comparison for good
    settings.LLM_BREAKER_FAILURE_THRESHOLD = 10_000  # ... and never opens the breaker (it would defer, not fail)
    settings.CJ_MIN_SUCCESS_RATE = 0.5
    settings.CJ_RELIABILITY_TARGET = 0.99  # the budget ends this batch
    batch = run_batch(owner, 10, options={"comparisons_per_essay": 8, "max_rounds": 6})
    budget = batch.processing_metadata["comparison_budget"]["max_pairs_requested"]
    last_round_failed = batch.comparisons.filter(status="failed", round_no=batch.current_round).count()
    assert batch.comparisons_failed > last_round_failed  # failures a later round could replace
    # Without replacement the judged comparisons would be the budget less every failure.
    assert batch.comparisons_succeeded == budget - last_round_failed
    assert batch.comparisons_planned == budget + batch.comparisons_failed - last_round_failed
    status = selectors.batch_status(batch=batch)
    assert status["comparisons"]["failed_by_reason"] == {"server_error": batch.comparisons_failed}


def test_a_judge_that_keeps_failing_ends_the_batch_after_the_round_instead_of_replacing_its_failures(owner, settings):
    settings.LLM_MOCK_BEHAVIOUR = MockBehaviour(error_rate=1.0)
    settings.LLM_MAX_ATTEMPTS = 1
    settings.LLM_BREAKER_FAILURE_THRESHOLD = 10_000
    batch = run_batch(owner, 10, options={"comparisons_per_essay": 8, "max_rounds": 6})
    # Round 1 alone resolves too few to tell; after round 2 the rate fails it, not after round 6.
    assert (batch.state, batch.end_reason, batch.current_round) == ("failed", "low_success_rate", 2)
    assert batch.comparisons_planned == batch.comparisons_failed >= 20
