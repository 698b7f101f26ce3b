"""A real worker writes the project's JSON lines (Celery does not replace the logging): its ready
line and task lines at INFO, each task's lines with its task id, batch and round, and no essay text."""

import json

import pytest

from assessments import services
from assessments.models import Batch
from tests.conftest import essays
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.worker


def test_a_worker_writes_json_lines_with_the_task_batch_and_round(owner, celery_workers):
    worker = celery_workers.start(env={"LOG_LEVEL": "INFO"})
    texts = essays(4)
    batch = services.batch_create(owner=owner, request={"essays": texts})
    services.batch_start(batch_id=batch.pk)
    assert wait_for(lambda: Batch.objects.get(pk=batch.pk).is_terminal, timeout=60)
    celery_workers.stop_all()

    log = worker.log_path.read_text()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    plain = [line for line in log.splitlines() if line.strip() and not line.startswith("{")]
    # Only Celery's start-up banner (printed to stdout, not a log line) may be plain text.
    assert not [line for line in plain if "Task " in line or "ready" in line or "WARNING" in line], plain
    messages = [record["message"] for record in records]
    assert any(message.endswith(" ready.") for message in messages), messages[:20]
    received = [record for record in records if record["message"].endswith(" received")]
    assert received and all(record.get("task_id") and record.get("task_name") for record in received)
    assert any("succeeded in" in message for message in messages)
    decisions = [record for record in records if record["message"] == "Continuation decision evaluated"]
    assert decisions and all(
        (record["batch_id"], record.get("task_name")) == (batch.pk, "assessments.round_complete")
        and record["round"] >= 1
        and record.get("task_id")
        for record in decisions
    )
    calls = [record for record in records if record.get("task_name") == "llmgateway.run_comparison_bundle"]
    assert all(record.get("task_id") for record in calls)
    assert not [record for record in records if {"args", "kwargs", "return_value"} & set(record.get("data") or {})]
    assert not [essay["text"] for essay in texts if essay["text"] in log]
