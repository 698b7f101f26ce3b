"""A real Celery worker: bundles with injected 429s and 500s retry through countdowns, and every
round's chord completes only after each final result was delivered."""

import pytest

from assessments import services as cj_services
from assessments.models import Batch
from llmgateway.models import LLMRequest
from tests.conftest import essays
from tests.e2e.conftest import celery_worker_process, wait_for

pytestmark = pytest.mark.worker
__all__ = ["celery_worker_process"]


@pytest.fixture
def faulty_mock(monkeypatch):
    """Read by the worker process at start-up."""
    monkeypatch.setenv("LLM_MOCK_BEHAVIOUR", "rate_limit_rate=0.15,retry_after_s=0.3,error_rate=0.15,latency_ms=20")
    monkeypatch.setenv("LLM_RETRY_BASE_DELAY", "0.2")
    monkeypatch.setenv("LLM_BUNDLE_SIZE", "10")
    monkeypatch.setenv("LLM_MAX_ATTEMPTS", "8")


def test_a_worker_completes_a_batch_through_retried_bundles(faulty_mock, owner, assignment, celery_worker_process):
    batch = cj_services.batch_create(
        owner=owner, request={"essays": essays(10), "assignment_id": assignment.pk, "options": {"batching_mode": "serial_bundle"}}
    )
    cj_services.batch_start(batch_id=batch.pk)

    finished = wait_for(lambda: Batch.objects.get(pk=batch.pk).is_terminal, timeout=120)

    batch = Batch.objects.get(pk=batch.pk)
    assert finished, f"batch still {batch.state} in round {batch.current_round}"
    assert batch.state == "completed"
    # Every comparison was recorded exactly once, before its round's body ran.
    assert batch.comparisons_succeeded == batch.comparisons.filter(status="succeeded").count()
    assert batch.comparisons_failed == batch.comparisons.filter(status="failed").count()
    assert batch.comparisons_succeeded + batch.comparisons_failed == batch.comparisons_planned
    assert LLMRequest.objects.filter(attempts__gt=1).exists(), "the injected faults caused no retry"
    # A failure is a request that used up its attempts, never a deferral or a lost retry.
    for request in LLMRequest.objects.filter(status="failed"):
        assert request.attempts == 8 and request.error_category in ("rate_limited", "server_error")
