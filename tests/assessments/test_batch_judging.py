"""Judging quality: judge panels, both orders, overrides that survive every round and retry,
lost comparisons re-sent by the sweeper, and the flow's metrics."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments import services
from assessments.models import Batch, Comparison
from assessments.services import rounds
from cjproject.errors import InvalidInput
from llmgateway.providers import mock
from llmgateway.providers.base import ProviderError
from tests.conftest import essays, run_batch

pytestmark = pytest.mark.django_db(transaction=True)

PANEL = [
    {"model_override": "mock-heuristic-v1", "temperature_override": 0.0},
    {"model_override": "mock-heuristic-v1", "temperature_override": 1.0},
]


def _run(owner, n=8, **request):
    return run_batch(owner, n, **request)


def test_a_judge_panel_shares_the_comparisons_and_each_judge_is_reported(owner):
    batch = _run(owner, n=10, options={"judges": PANEL})
    labels = ["mock/mock-heuristic-v1 (temperature 0)", "mock/mock-heuristic-v1 (temperature 1)"]
    for round_no in range(1, batch.current_round + 1):
        counts = [batch.comparisons.filter(round_no=round_no, judge=label).count() for label in labels]
        assert abs(counts[0] - counts[1]) <= 1, (round_no, counts)
    report = {row["judge"]: row for row in batch.processing_metadata["judges"]}
    assert set(report) == set(labels)
    assert sum(row["comparisons"] for row in report.values()) == batch.comparisons_succeeded
    for row in report.values():
        assert 0.0 <= row["agreement_with_consensus"] <= 1.0
        assert row["infit"] > 0
    temperatures = {c.judge: c.llm_request.overrides.get("temperature_override") for c in batch.comparisons.all()}
    assert temperatures == {labels[0]: 0.0, labels[1]: 1.0}


def test_an_unknown_panel_judge_is_refused_naming_it(owner):
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_create(
            owner=owner, request={"essays": essays(3), "options": {"judges": [PANEL[0], {"model_override": "gpt-9"}]}}
        )
    assert "options.judges.1.model_override" in excinfo.value.fields
    assert Batch.objects.count() == 0


def test_a_single_judge_is_reported_as_the_default_judge(owner):
    batch = _run(owner, n=5)
    assert [row["judge"] for row in batch.processing_metadata["judges"]] == ["default"]


def test_both_orders_judges_every_chosen_pair_as_a_b_and_b_a_in_the_same_round(owner):
    batch = _run(owner, n=8, options={"judge_both_orders": True})
    for round_no in range(1, batch.current_round + 1):
        shown = list(batch.comparisons.filter(round_no=round_no).values_list("essay_a_id", "essay_b_id"))
        assert sorted(shown) == sorted((b, a) for a, b in shown)


def test_a_single_student_with_anchors_is_still_graded(owner, assignment):
    batch = _run(owner, n=1, assignment_id=assignment.pk)
    assert batch.state == "completed"
    student = batch.essays.get(role="student")
    assert student.projected_grade in ("F", "E", "D", "C", "B", "A")
    assert sum(student.grade_probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def test_overrides_reach_the_provider_in_round_three_and_in_a_retry(owner, monkeypatch):
    seen = []
    original = mock.MockProvider.compare

    def recording(self, request, *, context):
        seen.append((context.metadata.get("comparison_iteration"), context.attempt, request))
        if len(seen) == 1:
            raise ProviderError("server_error", "injected 500 on the first call", retryable=True)
        return original(self, request, context=context)

    monkeypatch.setattr(mock.MockProvider, "compare", recording)
    overrides = {"temperature_override": 0.0, "max_tokens_override": 321, "system_prompt_override": "Judge strictly."}
    batch = _run(owner, n=8, llm_config_overrides=overrides, options={"comparisons_per_essay": 8, "max_rounds": 6})
    assert batch.current_round >= 3
    retried = [request for _, attempt, request in seen if attempt > 1]
    third_round = [request for round_no, _, request in seen if round_no == 3]
    assert retried and third_round
    for request in [*retried, *third_round]:
        assert request["system"] == "Judge strictly."
        assert request["temperature"] == 0.0
        assert request["max_tokens"] == 321


def test_the_sweeper_resends_comparisons_whose_lease_expired(owner, monkeypatch, settings):
    settings.CJ_RELIABILITY_TARGET = 0.99  # the budget, not the reliability, ends this batch
    monkeypatch.setattr(rounds, "chord", lambda header: lambda body: None)  # sent, then lost
    batch = services.batch_create(owner=owner, request={"essays": essays(6)})
    services.batch_start(batch_id=batch.pk)
    assert Comparison.objects.filter(batch=batch, status="sent").count() == Batch.objects.get(pk=batch.pk).comparisons_planned
    monkeypatch.undo()

    later = timezone.now() + timedelta(seconds=settings.CJ_COMPARISON_LEASE_SECONDS + 1)
    report = services.batch_sweep(now=later)
    assert len(report["resent"]) == Batch.objects.get(pk=batch.pk).comparisons_planned
    assert Comparison.objects.filter(batch=batch, round_no=1, status="succeeded").count() == len(report["resent"])
    assert set(Comparison.objects.filter(batch=batch, round_no=1).values_list("attempt", flat=True)) == {2}
    services.batch_sweep(now=later + timedelta(seconds=settings.CJ_SWEEP_GRACE_SECONDS + 1))  # drives the round on
    done = Batch.objects.get(pk=batch.pk)
    assert (done.state, done.end_reason) == ("completed", "budget_exhausted")
    assert done.comparisons_succeeded == done.comparisons.filter(status="succeeded").count()


def test_a_comparison_sent_too_often_fails_as_lost_and_is_counted(owner, monkeypatch, settings):
    monkeypatch.setattr(rounds, "chord", lambda header: lambda body: None)
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    Comparison.objects.filter(batch=batch).update(attempt=settings.CJ_MAX_SEND_ATTEMPTS)
    later = timezone.now() + timedelta(seconds=settings.CJ_COMPARISON_LEASE_SECONDS + 1)
    report = services.batch_sweep(now=later)
    planned = Batch.objects.get(pk=batch.pk).comparisons_planned
    assert len(report["lost"]) == planned
    assert Comparison.objects.filter(batch=batch, status="failed", error_category="lost").count() == planned
    assert Batch.objects.get(pk=batch.pk).comparisons_failed == planned


def test_metrics_count_rounds_decisions_and_batches_by_state(owner, client):
    from llmgateway.metrics import metrics_reset

    metrics_reset()
    batch = _run(owner, n=6)
    text = client.get("/metrics").content.decode()
    assert 'cj_batches{state="completed"} 1.0' in text
    assert f'cj_rounds_total{{decision="continue"}} {float(batch.current_round - 1)}' in text
    assert f'cj_decisions_total{{decision="{batch.end_reason}"}} 1.0' in text
    assert f'cj_comparisons_recorded_total{{status="succeeded"}} {float(batch.comparisons_succeeded)}' in text
    assert "cj_round_duration_seconds_count" in text
    assert f'cj_batches_finished_total{{end_reason="{batch.end_reason}",state="completed"}} 1.0' in text


def _stuck_in_a_provider_batch_job(owner, monkeypatch, *, polled_at):
    from llmgateway.models import LLMRequest, ProviderBatchJob

    monkeypatch.setattr(rounds, "chord", lambda header: lambda body: None)  # sent; results come later
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    monkeypatch.undo()
    job = ProviderBatchJob.objects.create(
        status="submitted",
        provider="mock",
        model="mock-heuristic-v1",
        provider_job_id="job-1",
        submitted_at=polled_at,
        last_polled_at=polled_at,
    )
    LLMRequest.objects.filter(pk__in=batch.comparisons.values("llm_request_id")).update(batch_job=job)
    return batch


def test_comparisons_in_a_provider_batch_job_still_polled_are_neither_resent_nor_stalled(owner, monkeypatch, settings):
    later = timezone.now() + timedelta(seconds=settings.CJ_STALL_TIMEOUT_SECONDS + 1)
    batch = _stuck_in_a_provider_batch_job(owner, monkeypatch, polled_at=later - timedelta(seconds=30))
    report = services.batch_sweep(now=later)
    assert (report["resent"], report["failed"], report["lost"]) == ([], [], [])
    assert Batch.objects.get(pk=batch.pk).state == "running"


def test_a_batch_whose_provider_job_is_no_longer_polled_is_failed_as_stalled(owner, monkeypatch, settings):
    batch = _stuck_in_a_provider_batch_job(owner, monkeypatch, polled_at=timezone.now())
    later = timezone.now() + timedelta(seconds=settings.CJ_STALL_TIMEOUT_SECONDS + 1)
    assert services.batch_sweep(now=later)["failed"] == [batch.pk]
    assert Batch.objects.get(pk=batch.pk).end_reason == "stalled"
