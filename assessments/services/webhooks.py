"""A batch's `batch.finished` notice: when it is sent, what it says, and each delivery attempt.

The body is small and holds no essay text: the batch's id, state, end reason and where to read
its results. Signing and sending are `cjproject.webhooks`'. Delivery is the Celery task
`batch_webhook_deliver`, retried with exponential backoff; every attempt is recorded in the
batch's `processing_metadata["webhooks"]`.
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
from typing import Any

from django.db import transaction
from django.utils import timezone

from assessments.metadata import metadata_append
from assessments.models import Batch
from cjproject.webhooks import WEBHOOK_TIMEOUT_SECONDS, webhook_post

logger = logging.getLogger(__name__)

EVENT_BATCH_FINISHED = "batch.finished"
# Attempts in all (the first one and its retries); waits double from 5 s up to 10 minutes.
WEBHOOK_MAX_ATTEMPTS = 8


def batch_webhook_schedule(*, batch_id: int) -> None:
    """Send the batch's webhook once the current transaction commits (if it has one)."""
    if not Batch.objects.filter(pk=batch_id).exclude(webhook_url="").exists():
        return
    from assessments.tasks import batch_webhook_deliver as batch_webhook_deliver_task
    from cjproject.celery import QUEUE_LLM_BATCH

    # The gateway's housekeeping queue carries webhooks: a slow receiver never holds up a round.
    transaction.on_commit(lambda: batch_webhook_deliver_task.apply_async(args=(batch_id,), queue=QUEUE_LLM_BATCH))


def batch_webhook_body(*, batch: Batch) -> dict[str, Any]:
    url = f"/api/v1/batches/{batch.pk}"
    return {
        "event": EVENT_BATCH_FINISHED,
        "batch": {
            "id": batch.pk,
            "state": batch.state,
            "end_reason": batch.end_reason,
            "end_message": batch.end_message,
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
            "comparisons_succeeded": batch.comparisons_succeeded,
            "comparisons_failed": batch.comparisons_failed,
            "reliability": batch.processing_metadata.get("scoring", {}).get("reliability"),
            "cost_usd": str(batch.cost_usd),
            "url": url,
            "results_url": f"{url}/results",
        },
    }


def batch_webhook_deliver(*, batch_id: int, attempt: int) -> bool:
    """POST the signed notice once; True when the receiver answered 2xx. Records the attempt."""
    batch = Batch.objects.get(pk=batch_id)
    outcome: dict[str, Any] = {"at": timezone.now().isoformat(), "attempt": attempt, "state": batch.state}
    try:
        outcome["status"] = webhook_post(
            url=batch.webhook_url,
            payload=batch_webhook_body(batch=batch),
            headers={"X-CJ-Event": EVENT_BATCH_FINISHED, "X-CJ-Batch-Id": str(batch.pk)},
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
    except urllib.error.HTTPError as exc:
        outcome["status"] = exc.code
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, unreachable, timed out, garbled
        outcome["error"] = type(exc).__name__
    delivered = 200 <= outcome.get("status", 0) < 300
    metadata_append(instance=batch, key="webhooks", item={**outcome, "delivered": delivered})
    log = logger.info if delivered else logger.warning
    log("Batch webhook attempt", extra={"batch_id": batch_id, **outcome, "delivered": delivered})
    return delivered


def webhook_backoff_seconds(retries: int) -> int:
    """5, 10, 20 ... seconds, at most 10 minutes."""
    return min(600, 5 * 2**retries)
