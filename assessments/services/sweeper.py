"""Recovery, run by beat: drive rounds whose chord body never ran, fail stalled batches, re-send lost comparisons."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from assessments.models import (
    OPEN_COMPARISON_STATES,
    Batch,
    BatchState,
    Comparison,
    ComparisonStatus,
    EndReason,
    WorkerHeartbeat,
)
from assessments.services.endings import batch_finish
from assessments.services.judging import judging_deadlines_sweep
from assessments.services.results import batch_counters_refresh
from llmgateway.models import ProviderBatchJob
from llmgateway.services import comparison_signatures
from llmgateway.vocabulary import PER_REQUEST

logger = logging.getLogger(__name__)


def batch_sweep(*, now: Any = None) -> dict[str, list[int]]:
    """Drive on batches whose round body never ran, and fail batches that stopped progressing.

    1. A running batch whose current round has no open comparison, untouched for the grace
       period: its round body is run again (it claims the round, so a late real body is harmless).
    2. A batch left in `scoring` longer than a task may run (its worker died): back to running,
       and its body is run again.
    3. A running or scoring batch with no progress for `CJ_STALL_TIMEOUT_SECONDS`: failed, with
       end reason `stalled` and a message; its open comparisons are cancelled.
    4. A comparison held by a worker process whose heartbeat is older than
       `CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS` (the worker died), or sent longer ago than its lease
       (`CJ_COMPARISON_LEASE_SECONDS`: its task was lost) is sent again, the same request in the same order; after
       `CJ_MAX_SEND_ATTEMPTS` sends it fails with category `lost` and is counted.
    5. A round whose comparisons are still `pending` `CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS` after
       they were planned (never sent: the broker was down, or the sender died) is sent again.
    6. People's expired leases go back to the pool; a batch waiting for people whose deadline
       has passed is checked (`judging_checkpoint`), which ends it.
    A batch waiting for people (`awaiting_people`) is neither driven (1) nor stalled (3).
    """
    from assessments.tasks import round_complete

    now = now or timezone.now()
    report: dict[str, list[int]] = {"driven": [], "failed": [], "resent": [], "lost": [], "unsent": []}
    stalled_before = now - timedelta(seconds=settings.CJ_STALL_TIMEOUT_SECONDS)
    # A provider batch job may take hours (up to a day): while beat still polls it, its batch is
    # waiting, not stalled.
    live_jobs = _live_provider_jobs(since=stalled_before)
    waiting_on_a_live_job = Exists(
        Comparison.objects.filter(batch_id=OuterRef("pk"), status=ComparisonStatus.SENT, llm_request__batch_job__in=live_jobs)
    )
    # A batch waiting for people is not stalled: people come and go (its deadline ends it).
    stalled = (
        Batch.objects.filter(state__in=[BatchState.RUNNING, BatchState.SCORING], updated_at__lt=stalled_before)
        .exclude(waiting_on_a_live_job)
        .exclude(awaiting_people=True)
    )
    for batch in stalled:
        with transaction.atomic():
            # Locked and checked again: progress made since the query keeps the batch alive.
            locked = (
                Batch.objects.select_for_update()
                .filter(
                    pk=batch.pk,
                    state__in=[BatchState.RUNNING, BatchState.SCORING],
                    updated_at__lt=stalled_before,
                    awaiting_people=False,
                )
                .first()
            )
            if locked is None:
                continue
            cancelled = locked.comparisons.filter(status__in=OPEN_COMPARISON_STATES).update(
                status=ComparisonStatus.CANCELLED, completed_at=now
            )
            if batch_finish(
                batch=locked,
                state=BatchState.FAILED,
                reason=EndReason.STALLED,
                message=f"no progress for {settings.CJ_STALL_TIMEOUT_SECONDS} s; failed by the sweeper",
                details={"waiting_cancelled": cancelled},
            ):
                report["failed"].append(batch.pk)
    Batch.objects.filter(
        state=BatchState.SCORING, updated_at__lt=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    ).update(state=BatchState.RUNNING, updated_at=now)
    idle_before = now - timedelta(seconds=settings.CJ_SWEEP_GRACE_SECONDS)
    waiting = (
        Batch.objects.filter(state=BatchState.RUNNING, updated_at__lt=idle_before, current_round__gte=1, awaiting_people=False)
        .annotate(
            open=Count(
                "comparisons", filter=Q(comparisons__round_no=F("current_round"), comparisons__status__in=OPEN_COMPARISON_STATES)
            )
        )
        .filter(open=0)
        .values_list("pk", "current_round")
    )
    for batch_id, round_no in waiting:
        logger.warning("Sweeper drives a round whose body never ran", extra={"batch_id": batch_id, "round": round_no})
        transaction.on_commit(partial(round_complete.delay, batch_id, round_no))
        report["driven"].append(batch_id)
    _rounds_resend_unsent(now=now, report=report)
    _comparisons_resend_expired(now=now, report=report)
    report["people_deadline"] = judging_deadlines_sweep(now=now)
    return report


def _rounds_resend_unsent(*, now: Any, report: dict[str, list[int]]) -> None:
    """Send again a round whose sending never happened (the broker was down at publish, or the
    process died between the commit and the publish): its comparisons are still `pending` well
    after they were planned. `round_dispatch` locks and takes only pending rows, so a sending
    that was merely slow is not doubled."""
    from assessments.services import rounds

    planned_before = now - timedelta(seconds=settings.CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS)
    unsent = (
        Comparison.objects.filter(
            status=ComparisonStatus.PENDING,
            created_at__lt=planned_before,
            batch__state=BatchState.RUNNING,
            round_no=F("batch__current_round"),
        )
        .order_by("pk")
        .values_list("batch_id", "round_no", "pk")
    )
    rounds_unsent: dict[tuple[int, int], list[int]] = {}
    for batch_id, round_no, comparison_id in unsent:
        rounds_unsent.setdefault((batch_id, round_no), []).append(comparison_id)
    report.setdefault("unsent", [])
    for (batch_id, round_no), comparison_ids in rounds_unsent.items():
        logger.warning(
            "Sweeper sends a round that was never sent",
            extra={"batch_id": batch_id, "round": round_no, "comparisons": len(comparison_ids)},
        )
        transaction.on_commit(partial(rounds.round_dispatch, batch_id=batch_id, round_no=round_no, comparison_ids=comparison_ids))
        report["unsent"].append(batch_id)


def _live_provider_jobs(*, since: Any) -> Any:
    """Provider batch jobs not finished whose poller (beat) has touched them since `since`."""
    return (
        ProviderBatchJob.objects.filter(status__in=[ProviderBatchJob.Status.CREATED, ProviderBatchJob.Status.SUBMITTED])
        .annotate(seen=Coalesce("last_polled_at", "submitted_at", "created_at"))
        .filter(seen__gte=since)
        .values("pk")
    )


def _comparisons_resend_expired(*, now: Any, report: dict[str, list[int]]) -> None:
    """Re-send comparisons whose lease expired; fail those sent too often (category `lost`)."""
    lease_before = now - timedelta(seconds=settings.CJ_COMPARISON_LEASE_SECONDS)
    # Held by a worker process whose heartbeat stopped: it died with the call (or its countdown) in hand.
    alive = WorkerHeartbeat.objects.filter(
        worker=OuterRef("held_by"), beat_at__gte=now - timedelta(seconds=settings.CJ_WORKER_HEARTBEAT_TIMEOUT_SECONDS)
    )
    due = Q(sent_at__lt=lease_before) | (~Q(held_by="") & ~Exists(alive))
    expired = (
        Comparison.objects.filter(due, status=ComparisonStatus.SENT, batch__state=BatchState.RUNNING, llm_request__isnull=False)
        # Items of a provider batch job still being polled are not lost: sending them again
        # would pay for them twice.
        .exclude(llm_request__batch_job__in=_live_provider_jobs(since=lease_before))
        .values_list("pk", "batch_id", "llm_request_id", "attempt")
    )
    resend: list[int] = []
    for comparison_id, batch_id, request_id, attempt in expired:
        if attempt >= settings.CJ_MAX_SEND_ATTEMPTS:
            with transaction.atomic():
                lost = Comparison.objects.filter(pk=comparison_id, status=ComparisonStatus.SENT).update(
                    status=ComparisonStatus.FAILED,
                    error_category="lost",
                    error_detail=f"no result after {attempt} sends, each waited {settings.CJ_COMPARISON_LEASE_SECONDS} s",
                    completed_at=now,
                )
                if lost:
                    batch_counters_refresh(batch_id=batch_id)
                    report["lost"].append(comparison_id)
            continue
        renewed = Comparison.objects.filter(due, pk=comparison_id, status=ComparisonStatus.SENT).update(
            sent_at=now, held_by="", attempt=F("attempt") + 1
        )
        if renewed:
            resend.append(request_id)
            report["resent"].append(comparison_id)
    if resend:
        logger.warning("Sweeper re-sends comparisons whose lease expired", extra={"comparisons": len(resend)})
        signatures = comparison_signatures(request_ids=resend, batching_mode=PER_REQUEST)
        transaction.on_commit(lambda: [signature.delay() for signature in signatures])
