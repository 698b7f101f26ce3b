"""How a batch ends: its final state and end reason, the event, the metric and the webhook, once."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from assessments import metrics
from assessments.metadata import metadata_append
from assessments.models import TERMINAL_STATES, Batch, BatchState, EndReason
from assessments.services.scoring import BatchScore
from assessments.services.webhooks import batch_webhook_schedule

logger = logging.getLogger(__name__)


def batch_finish(*, batch: Batch, state: str, reason: str, message: str, details: dict[str, Any] | None = None) -> bool:
    """End a batch that has not ended yet: the one path for every end state (completed, failed,
    cancelled, stalled).

    A conditional UPDATE sets state, end reason, message and finish time; only the caller whose
    UPDATE changed the row goes on to append the event (with `details`), count
    `cj_batches_finished_total{state, end_reason}`, write one log line and schedule the webhook.
    Returns False when the batch had already ended (nothing is written).
    """
    now = timezone.now()
    finished = (
        Batch.objects.filter(pk=batch.pk)
        .exclude(state__in=TERMINAL_STATES)
        .update(state=state, end_reason=reason, end_message=message, finished_at=now, updated_at=now)
    )
    if not finished:
        return False
    started_at = Batch.objects.values_list("started_at", flat=True).get(pk=batch.pk)
    metrics.record(
        counters={"cj_batches_finished_total": {"state": state, "end_reason": reason}},
        durations={"cj_batch_duration_seconds": (now - started_at).total_seconds()} if started_at else None,
    )
    details = details or {}
    metadata_append(instance=batch, key="events", item={"at": now.isoformat(), "event": state, "end_reason": reason, **details})
    logger.info("Batch finished", extra={"batch_id": batch.pk, "state": state, "end_reason": reason, **details})
    batch_webhook_schedule(batch_id=batch.pk)
    return True


def batch_conclude(*, batch: Batch, reason: str, score: BatchScore | None, round_no: int) -> None:
    """Finish a batch the stopping rule ended: completed, unless too few judgements succeeded."""
    batch.refresh_from_db()
    resolved = batch.comparisons_succeeded + batch.comparisons_failed
    share = batch.comparisons_succeeded / resolved if resolved else 0.0
    if share < settings.CJ_MIN_SUCCESS_RATE:
        batch_finish(
            batch=batch,
            state=BatchState.FAILED,
            reason=EndReason.LOW_SUCCESS_RATE,
            message=(
                f"only {batch.comparisons_succeeded} of {resolved} judgements succeeded ({share:.0%}), below the required "
                f"{settings.CJ_MIN_SUCCESS_RATE:.0%}; the judge ({batch.comparisons_failed} failures) is not reliable enough "
                f"to rank this batch (the stopping rule had said: {reason})"
            ),
        )
        return
    reliability = score.population.reliability if score else float("nan")
    said = f"reliability {reliability:.2f}" if np.isfinite(reliability) else "reliability not estimable"
    batch_finish(
        batch=batch,
        state=BatchState.COMPLETED,
        reason=reason,
        message=f"{batch.comparisons_succeeded} comparisons judged in {round_no} rounds; {said}",
    )
