"""Actions on a batch: cancel, rescore, continue; and a judge too unreliable to rank with."""

import pytest

from assessments import services
from assessments.models import Batch, Comparison
from assessments.services import rounds
from cjproject.errors import InvalidInput
from llmgateway.models import LLMRequest
from tests.conftest import essays, run_batch

pytestmark = pytest.mark.django_db(transaction=True)


def _finished(owner, n=6, **request):
    return run_batch(owner, n, **request)


def test_cancel_stops_sending_and_cancels_waiting_comparisons(owner, monkeypatch):
    monkeypatch.setattr(rounds, "round_dispatch", lambda **kwargs: None)  # round 1 planned, never sent
    batch = services.batch_create(owner=owner, request={"essays": essays(6)})
    services.batch_start(batch_id=batch.pk)
    assert services.batch_cancel(batch_id=batch.pk) is True
    batch.refresh_from_db()
    assert (batch.state, batch.end_reason) == ("cancelled", "cancelled")
    assert batch.comparisons.exclude(status="cancelled").count() == 0
    assert services.batch_cancel(batch_id=batch.pk) is False
    services.round_complete(batch_id=batch.pk, round_no=1)  # a late chord body changes nothing
    assert Batch.objects.get(pk=batch.pk).state == "cancelled"


def test_cancel_withdraws_queued_calls_before_they_reach_the_provider(owner, monkeypatch):
    from llmgateway.services import comparison_execute

    monkeypatch.setattr(rounds, "chord", lambda header: lambda body: None)  # round 1's calls queued, not run yet
    batch = services.batch_create(owner=owner, request={"essays": essays(6)})
    services.batch_start(batch_id=batch.pk)
    request_ids = list(batch.comparisons.values_list("llm_request_id", flat=True))
    running = request_ids[0]  # one call already in flight: it is left to finish
    LLMRequest.objects.filter(pk=running).update(status="running", attempts=1)
    assert services.batch_cancel(batch_id=batch.pk)
    withdrawn = LLMRequest.objects.filter(pk__in=request_ids[1:])
    assert set(withdrawn.values_list("status", "error_category")) == {("failed", "cancelled")}
    assert LLMRequest.objects.get(pk=running).status == "running"
    assert Batch.objects.get(pk=batch.pk).processing_metadata["events"][-1]["calls_withdrawn"] == len(request_ids) - 1
    # The queued task runs later: it finds the request finished and makes no call.
    comparison_execute(request_id=request_ids[1])
    assert LLMRequest.objects.get(pk=request_ids[1]).attempts == 0
    assert batch.comparisons.exclude(status="cancelled").count() == 0


def test_a_result_arriving_after_cancel_is_ignored(owner):
    batch = _finished(owner)
    comparison = batch.comparisons.first()
    Comparison.objects.filter(pk=comparison.pk).update(status="sent", winner=None, confidence=None)
    Batch.objects.filter(pk=batch.pk).update(state="running", end_reason="")
    assert services.batch_cancel(batch_id=batch.pk)
    from llmgateway.services import comparison_execute

    result = comparison_execute(request_id=comparison.llm_request_id)
    assert services.comparison_record(result=result) is False
    assert Comparison.objects.get(pk=comparison.pk).status == "cancelled"


def test_a_finished_batch_cannot_be_cancelled(owner):
    batch = _finished(owner)
    assert services.batch_cancel(batch_id=batch.pk) is False
    assert Batch.objects.get(pk=batch.pk).state == "completed"


def test_rescore_refits_from_stored_comparisons_without_calling_a_model(owner):
    batch = _finished(owner)
    before = dict(batch.essays.values_list("external_id", "theta"))
    calls = LLMRequest.objects.count()
    batch.essays.update(theta=None, se=None, rank=None)
    services.batch_rescore(batch_id=batch.pk)
    assert dict(batch.essays.values_list("external_id", "theta")) == pytest.approx(before)
    assert LLMRequest.objects.count() == calls
    assert Batch.objects.get(pk=batch.pk).processing_metadata["events"][-1]["event"] == "rescored"


def test_continue_judges_more_pairs_and_keeps_the_history(owner):
    batch = _finished(owner, n=8, options={"comparisons_per_essay": 4})
    used, rounds = batch.comparisons_planned, batch.current_round
    continued = services.batch_continue(batch_id=batch.pk, additional_comparisons=12)
    continued = Batch.objects.get(pk=continued.pk)
    assert (continued.state, continued.end_reason) == ("completed", "budget_exhausted")
    assert continued.comparisons_planned == used + 12
    assert continued.comparisons.filter(round_no__gt=rounds).count() == 12
    assert continued.processing_metadata["comparison_budget"] == {
        "max_pairs_requested": used + 12,
        "source": "runner_override",
        "capped_from": None,
    }
    history = continued.processing_metadata["continuations"]
    assert history[0]["from"] == {"state": "completed", "end_reason": "budget_exhausted", "round": rounds}
    assert continued.comparisons_succeeded == used + 12


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"additional_comparisons": 0}, "additional_comparisons"),
        ({"additional_comparisons": 5, "reliability_target": 1.5}, "reliability_target"),
    ],
)
def test_continue_refuses_bad_input_naming_the_field(owner, kwargs, field):
    batch = _finished(owner)
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_continue(batch_id=batch.pk, **kwargs)
    assert field in excinfo.value.fields


def test_a_running_batch_cannot_be_continued(owner, monkeypatch):
    monkeypatch.setattr(rounds, "round_dispatch", lambda **kwargs: None)
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_continue(batch_id=batch.pk, additional_comparisons=5)
    assert "a running batch" in excinfo.value.fields["state"][0]


def test_a_batch_whose_judge_mostly_fails_ends_with_low_success_rate(owner, settings):
    settings.LLM_MOCK_BEHAVIOUR = {**settings.LLM_MOCK_BEHAVIOUR, "malformed_rate": 1.0}
    batch = _finished(owner, n=6)
    assert (batch.state, batch.end_reason) == ("failed", "low_success_rate")
    assert batch.comparisons_succeeded == 0
    assert "below the required 80%" in batch.end_message
    assert batch.comparisons.filter(status="failed", error_category="invalid_response").count() == batch.comparisons_failed > 0
