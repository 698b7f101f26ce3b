"""A batch's `batch.finished` notice: when it is sent and what it says.

The body is small and holds no essay text: the batch's id, state, end reason and where to read
its results. It is fixed when the batch finishes and handed to the `webhooks` app, which signs it
with the owner's secret, delivers it with the one retry policy and keeps every attempt in the
delivery log (`GET /api/v1/webhook-deliveries?batch=<id>`); a batch deleted meanwhile does not
stop its notice.
"""

from __future__ import annotations

from typing import Any

from assessments.models import Batch
from webhooks.services import webhook_notice_send

EVENT_BATCH_FINISHED = "batch.finished"


def batch_webhook_schedule(*, batch_id: int) -> None:
    """Store the finished batch's notice and send it once the current transaction commits."""
    batch = Batch.objects.filter(pk=batch_id).exclude(webhook_url="").first()
    if batch is None:
        return
    webhook_notice_send(
        owner=batch.owner,
        url=batch.webhook_url,
        event=EVENT_BATCH_FINISHED,
        subject_kind="batch",
        subject_id=batch.pk,
        payload=batch_webhook_body(batch=batch),
    )


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
