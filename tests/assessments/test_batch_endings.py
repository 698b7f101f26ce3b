"""Every end state (completed, failed, cancelled, stalled) goes through one `batch_finish`: the
state, end reason and message, the event, the `cj_batches_finished_total` metric, one log line and
the webhook, written once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments import services
from assessments.models import Batch
from assessments.services import endings, rounds
from tests.conftest import essays, run_batch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def webhooks(monkeypatch):
    scheduled: list[int] = []
    monkeypatch.setattr(endings, "batch_webhook_schedule", lambda *, batch_id: scheduled.append(batch_id))
    return scheduled


def _completed(owner, monkeypatch, settings):
    return run_batch(owner, 6)


def _failed(owner, monkeypatch, settings):
    settings.LLM_MOCK_BEHAVIOUR = {**settings.LLM_MOCK_BEHAVIOUR, "malformed_rate": 1.0}
    return run_batch(owner, 6)


def _never_sent(owner, monkeypatch):
    monkeypatch.setattr(rounds, "round_dispatch", lambda **kwargs: None)  # round 1 planned, never sent
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    return batch


def _cancelled(owner, monkeypatch, settings):
    batch = _never_sent(owner, monkeypatch)
    assert services.batch_cancel(batch_id=batch.pk) is True
    return Batch.objects.get(pk=batch.pk)


def _stalled(owner, monkeypatch, settings):
    batch = _never_sent(owner, monkeypatch)
    # Nothing progresses, and nothing is re-sent (the round's sending keeps failing).
    report = services.batch_sweep(now=timezone.now() + timedelta(seconds=settings.CJ_STALL_TIMEOUT_SECONDS + 1))
    assert report["failed"] == [batch.pk]
    return Batch.objects.get(pk=batch.pk)


@pytest.mark.parametrize(
    ("end", "state", "reason"),
    [
        (_completed, "completed", None),
        (_failed, "failed", "low_success_rate"),
        (_cancelled, "cancelled", "cancelled"),
        (_stalled, "failed", "stalled"),
    ],
)
def test_every_end_state_goes_through_batch_finish_once(
    owner, monkeypatch, settings, client, caplog, webhooks, end, state, reason
):
    from llmgateway.metrics import metrics_reset

    metrics_reset()
    caplog.set_level("INFO", logger="assessments.services.endings")
    batch = end(owner, monkeypatch, settings)

    assert batch.state == state
    assert batch.end_reason and (reason is None or batch.end_reason == reason)
    assert batch.end_message and batch.finished_at is not None
    assert batch.comparisons.filter(status__in=["pending", "sent"]).count() == 0
    ends = [event for event in batch.processing_metadata["events"] if event.get("end_reason")]
    assert [(event["event"], event["end_reason"]) for event in ends] == [(state, batch.end_reason)]
    text = client.get("/metrics").content.decode()
    assert f'cj_batches_finished_total{{end_reason="{batch.end_reason}",state="{state}"}} 1.0' in text
    lines = [record for record in caplog.records if record.getMessage() == "Batch finished"]
    assert [(line.batch_id, line.state, line.end_reason) for line in lines] == [(batch.pk, state, batch.end_reason)]
    assert webhooks == [batch.pk]


def test_a_batch_that_already_ended_is_not_finished_again(owner, webhooks):
    batch = run_batch(owner, 6)
    before = Batch.objects.get(pk=batch.pk)
    assert endings.batch_finish(batch=batch, state="failed", reason="stalled", message="late") is False
    after = Batch.objects.get(pk=batch.pk)
    assert (after.state, after.end_reason, after.end_message) == (before.state, before.end_reason, before.end_message)
    assert webhooks == [batch.pk]  # the first ending's webhook only
