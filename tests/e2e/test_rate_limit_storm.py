"""A 429 storm from the judge: most calls are refused with a Retry-After; the requests wait
(Celery countdowns, the shared token bucket) and retry, and the batch completes."""

import time

import pytest

from assessments.models import Batch
from llmgateway.models import LLMRequest
from tests.e2e.conftest import assert_counters_exact, batch_started, describe, wait_until_finished

pytestmark = pytest.mark.worker


def test_a_batch_completes_through_a_storm_of_429s(owner, assignment, celery_workers):
    worker = celery_workers.start(
        env={
            "LLM_MOCK_BEHAVIOUR": "rate_limit_rate=0.6,retry_after_s=0.2",
            "LLM_RETRY_BASE_DELAY": "0.1",
            "LLM_MAX_ATTEMPTS": "10",
            # The breaker stays out of this test: while it probes, other requests are deferred for
            # the whole probe window (test_a_request_deferred_while_the_breaker_probes_...).
            "LLM_BREAKER_FAILURE_THRESHOLD": "100000",
        }
    )
    batch = batch_started(owner=owner, assignment=assignment, students=8, comparisons_per_essay=6)

    outcome = wait_until_finished([batch.pk], timeout=90)

    batch = Batch.objects.get(pk=batch.pk)
    assert outcome.finished, describe(batch, worker)
    assert batch.state == "completed" and batch.end_reason
    assert_counters_exact(batch)
    refused = sum(
        1 for log in LLMRequest.objects.values_list("attempt_log", flat=True) for e in log if e.get("category") == "rate_limited"
    )
    # Draws depend on request ids, so the count varies from run to run; about 1.5 per comparison on average.
    assert refused >= batch.comparisons_planned // 2, "the storm refused too few calls to be a storm"
    # A comparison fails only when the storm refused all of its attempts.
    for request in LLMRequest.objects.filter(status="failed"):
        assert (request.attempts, request.error_category) == (10, "rate_limited")


def test_a_request_deferred_while_the_breaker_probes_is_asked_again_within_the_cooldown(settings, celery_workers):
    from llmgateway.breaker import breaker_allow, breaker_record

    settings.LLM_BREAKER_FAILURE_THRESHOLD = 1
    settings.LLM_BREAKER_COOLDOWN_SECONDS = 1
    assert breaker_record(provider="mock", model="storm", retryable_failures=1) == "open"
    time.sleep(1.1)  # the cooldown passes: the breaker half-opens
    probe = breaker_allow(provider="mock", model="storm")
    assert (probe.admitted, probe.state) == (True, "half_open")

    other = breaker_allow(provider="mock", model="storm")  # another request while the probe is out

    assert not other.admitted
    assert other.wait_seconds <= settings.LLM_BREAKER_COOLDOWN_SECONDS
