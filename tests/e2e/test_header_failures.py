"""Header tasks of a round that raise or whose judge keeps failing: every batch still ends in a
terminal state with an explicit end reason, and its counters equal its Comparison rows."""

import pytest

from assessments.models import Batch
from llmgateway.models import LLMRequest
from tests.e2e.conftest import assert_counters_exact, batch_started, comparison_counts, wait_until_finished

pytestmark = pytest.mark.worker
WORKER_APP = "tests.e2e.worker_app"


def test_a_header_task_that_raises_after_delivering_leaves_its_round_to_the_sweeper_and_the_batch_completes(
    owner, assignment, celery_workers
):
    celery_workers.start(app=WORKER_APP, env={"CJ_E2E_HEADER_FAULT": "raise_after_delivery"})
    batch = batch_started(owner=owner, assignment=assignment, students=8, comparisons_per_essay=6, batching_mode="per_request")

    outcome = wait_until_finished([batch.pk], timeout=60, beat_when_quiet=2)

    batch = Batch.objects.get(pk=batch.pk)
    assert outcome.finished, f"batch still {batch.state} in round {batch.current_round}; beats: {outcome.beats}"
    assert batch.state == "completed" and batch.end_reason
    # The failed header task errored its chord, so the chord's body never ran: the round closed on
    # its last result (or, failing that, the sweeper drove it), never twice.
    assert_counters_exact(batch)
    assert batch.comparisons_succeeded == batch.comparisons_planned
    assert [d["round"] for d in batch.processing_metadata["decisions"]] == list(range(1, batch.current_round + 1))


def test_a_header_task_that_raises_before_calling_the_judge_is_sent_again_by_the_sweeper_and_the_batch_completes(
    owner, assignment, celery_workers
):
    celery_workers.start(app=WORKER_APP, env={"CJ_E2E_HEADER_FAULT": "raise_before_delivery"})
    batch = batch_started(owner=owner, assignment=assignment, students=8, comparisons_per_essay=6, batching_mode="per_request")

    outcome = wait_until_finished([batch.pk], timeout=60, beat_when_quiet=2)

    batch = Batch.objects.get(pk=batch.pk)
    assert outcome.finished, f"batch still {batch.state} in round {batch.current_round}; beats: {outcome.beats}"
    assert batch.state == "completed" and batch.end_reason
    resent = [c for b in outcome.beats for c in b["resent"]]
    assert len(resent) == 1, outcome.beats  # the one comparison whose task raised, sent again once
    assert batch.comparisons.get(pk=resent[0]).attempt == 2
    # Its result, once re-sent, closed the round itself (the chord's body never ran): see #16.
    assert [d["round"] for d in batch.processing_metadata["decisions"]] == list(range(1, batch.current_round + 1))
    assert_counters_exact(batch)
    assert batch.comparisons_succeeded == batch.comparisons_planned


def test_a_judge_failing_beyond_the_retry_limit_fails_the_batch_with_low_success_rate(owner, assignment, celery_workers):
    celery_workers.start(
        env={
            "LLM_MOCK_BEHAVIOUR": "error_rate=1",
            "LLM_MAX_ATTEMPTS": "2",
            "LLM_RETRY_BASE_DELAY": "0.05",
            "LLM_BREAKER_FAILURE_THRESHOLD": "100000",  # this test is about retries, not the breaker
        }
    )
    batch = batch_started(owner=owner, assignment=assignment, students=6, comparisons_per_essay=4)

    outcome = wait_until_finished([batch.pk], timeout=60)

    batch = Batch.objects.get(pk=batch.pk)
    assert outcome.finished, f"batch still {batch.state} in round {batch.current_round}"
    assert (batch.state, batch.end_reason) == ("failed", "low_success_rate")
    assert "0 of" in batch.end_message
    assert_counters_exact(batch)
    assert batch.comparisons_failed == batch.comparisons_planned > 0
    assert set(batch.comparisons.values_list("error_category", flat=True)) == {"server_error"}
    assert set(LLMRequest.objects.values_list("attempts", flat=True)) == {2}


def test_a_judge_raising_an_unexpected_exception_fails_only_its_comparisons(owner, assignment, celery_workers):
    celery_workers.start(app=WORKER_APP, env={"CJ_E2E_MOCK_RAISES_EVERY": "10"})
    batch = batch_started(owner=owner, assignment=assignment, students=8, comparisons_per_essay=6, batching_mode="per_request")

    outcome = wait_until_finished([batch.pk], timeout=60)

    batch = Batch.objects.get(pk=batch.pk)
    assert outcome.finished, f"batch still {batch.state} in round {batch.current_round}"
    assert batch.state == "completed" and batch.end_reason
    assert_counters_exact(batch)
    counts = comparison_counts(batch)
    assert counts.get("failed", 0) > 0, counts
    # Not retried: an adapter's bug is a terminal `internal` failure, counted once.
    assert set(batch.comparisons.filter(status="failed").values_list("error_category", flat=True)) == {"internal"}
    assert set(LLMRequest.objects.filter(status="failed").values_list("attempts", flat=True)) == {1}
