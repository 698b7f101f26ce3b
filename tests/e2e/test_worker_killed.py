"""A worker killed with SIGKILL in the middle of a round (its pool children too, nothing acknowledged)
and a new worker started: the batch completes and every comparison is counted exactly once.

Two ways back, each tested on its own: the sweeper (beat, simulated here past the comparisons'
lease) sends the lost comparisons again and drives the round; or Redis redelivers the dead
worker's unacknowledged tasks (after a visibility timeout shortened for the test: in production
it is longer than the lease, so the sweeper comes first).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.models import Batch
from llmgateway.models import LLMRequest
from tests.e2e.conftest import assert_counters_exact, batch_started, wait_for, wait_until_finished

pytestmark = pytest.mark.worker
# One task per call (per_request): the kill lands between results of one round, with calls in flight.
SLOW_JUDGE = {"LLM_MOCK_BEHAVIOUR": "latency_ms=300"}


def _kill_in_the_middle_of_round_one(celery_workers, batch_id):
    """Kill the worker once round 1 has results and still has comparisons in flight."""
    worker = celery_workers.start(env=SLOW_JUDGE)

    def mid_round():
        batch = Batch.objects.get(pk=batch_id)
        open_ = batch.comparisons.filter(round_no=1, status__in=["pending", "sent"]).count()
        # A call that started less than 100 ms ago is still waiting on the judge (300 ms).
        calling = LLMRequest.objects.filter(status="running", started_at__gt=timezone.now() - timedelta(milliseconds=100))
        return batch.current_round == 1 and batch.comparisons_succeeded >= 2 and open_ >= 4 and calling.exists()

    assert wait_for(mid_round, timeout=60, interval=0.05), "round 1 never got under way"
    celery_workers.kill(worker)
    return list(LLMRequest.objects.filter(status="running").values_list("pk", flat=True))


def test_a_worker_killed_mid_round_is_recovered_by_the_sweeper_and_counts_every_comparison_once(
    owner, assignment, celery_workers
):
    batch = batch_started(owner=owner, assignment=assignment, students=10, comparisons_per_essay=6, batching_mode="per_request")
    killed_in_flight = _kill_in_the_middle_of_round_one(celery_workers, batch.pk)
    assert killed_in_flight, "the kill caught no call in flight"
    celery_workers.start(env=SLOW_JUDGE)

    outcome = wait_until_finished([batch.pk], timeout=90, beat_when_quiet=2)

    batch = Batch.objects.get(pk=batch.pk)
    assert outcome.finished, f"batch still {batch.state} in round {batch.current_round}; beats: {outcome.beats}"
    assert batch.state == "completed" and batch.end_reason
    resent = sorted(c for b in outcome.beats for c in b["resent"])
    resent_requests = sorted(batch.comparisons.filter(pk__in=resent).values_list("llm_request_id", flat=True))
    assert set(killed_in_flight) <= set(resent_requests), "a call killed in flight was not sent again"
    # Round 1's body ran: its re-sent results closed it (or a simulated beat drove it first).
    assert_counters_exact(batch)
    assert batch.comparisons_succeeded == batch.comparisons_planned
    assert [d["round"] for d in batch.processing_metadata["decisions"]] == list(range(1, batch.current_round + 1))


def test_a_worker_killed_mid_round_is_recovered_by_redis_redelivery_and_counts_every_comparison_once(
    owner, assignment, celery_workers
):
    batch = batch_started(owner=owner, assignment=assignment, students=10, comparisons_per_essay=6, batching_mode="per_request")
    killed_in_flight = _kill_in_the_middle_of_round_one(celery_workers, batch.pk)
    assert killed_in_flight, "the kill caught no call in flight"
    celery_workers.start(app="tests.e2e.worker_app", env={**SLOW_JUDGE, "CJ_E2E_VISIBILITY_TIMEOUT": "3"})

    outcome = wait_until_finished([batch.pk], timeout=90)  # no beat: the broker alone brings it back

    batch = Batch.objects.get(pk=batch.pk)
    assert outcome.finished, f"batch still {batch.state} in round {batch.current_round}"
    assert batch.state == "completed" and batch.end_reason
    assert set(batch.comparisons.values_list("attempt", flat=True)) == {1}  # nothing was sent twice by the service
    assert LLMRequest.objects.filter(pk__in=killed_in_flight, status="succeeded").count() == len(killed_in_flight)
    assert_counters_exact(batch)
    assert batch.comparisons_succeeded == batch.comparisons_planned
    assert [d["round"] for d in batch.processing_metadata["decisions"]] == list(range(1, batch.current_round + 1))


def test_with_the_shipped_defaults_a_killed_worker_costs_seconds_not_the_lease(owner, assignment, celery_workers, settings):
    """The dead worker's heartbeat stops; beat's sweep (every few seconds, at the real time: no
    lease has expired) sends its comparisons again; the re-sent results close the round
    themselves, without the sweeper driving it; nothing is counted twice."""
    from assessments import services

    assert settings.CJ_COMPARISON_LEASE_SECONDS >= 1800  # the lease plays no part here
    batch = batch_started(owner=owner, assignment=assignment, students=10, comparisons_per_essay=6, batching_mode="per_request")
    killed_in_flight = _kill_in_the_middle_of_round_one(celery_workers, batch.pk)
    assert killed_in_flight, "the kill caught no call in flight"
    celery_workers.start(env=SLOW_JUDGE)

    beats = []
    finished = wait_for(
        lambda: beats.append(services.batch_sweep()) or Batch.objects.get(pk=batch.pk).is_terminal,
        # The bound: at most 90 s beyond one provider call (30 s of it is the heartbeat
        # timeout); the rest of the batch is judged within it even on a loaded machine.
        timeout=90,
        interval=settings.CJ_SWEEP_SECONDS / 5,
    )

    batch = Batch.objects.get(pk=batch.pk)
    assert finished, f"batch still {batch.state} in round {batch.current_round}"
    assert batch.state == "completed" and batch.end_reason
    resent = {c for b in beats for c in b["resent"]}
    resent_requests = set(batch.comparisons.filter(pk__in=resent).values_list("llm_request_id", flat=True))
    assert set(killed_in_flight) <= resent_requests, "a call killed in flight was not sent again"
    assert not [b for b in beats if b["driven"]], "the sweeper had to drive a round"
    assert_counters_exact(batch)
    assert batch.comparisons_succeeded == batch.comparisons_planned
