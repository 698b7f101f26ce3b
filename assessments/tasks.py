"""Thin Celery tasks of the CJ flow: each fetches by id and calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from assessments import services, webhooks


@shared_task(name="assessments.comparison_result_received", acks_late=True)
def comparison_result_received(result: dict[str, Any]) -> bool:
    """The gateway's callback: record one judge's result (idempotent)."""
    return services.comparison_record(result=result)


@shared_task(name="assessments.round_completed", acks_late=True)
def round_completed(batch_id: int, round_no: int) -> None:
    """The body of a round's chord: score, then continue or finalize."""
    services.round_complete(batch_id=batch_id, round_no=round_no)


@shared_task(name="assessments.sweep_batches", acks_late=True)
def sweep_batches() -> dict[str, list[int]]:
    """Beat, every minute: drive rounds whose body never ran; fail batches that stalled."""
    return services.batch_sweep()


@shared_task(name="assessments.start_batch", acks_late=True)
def start_batch(batch_id: int) -> bool:
    """A batch created over the API: plan and send its first round (a second run does nothing)."""
    return services.batch_start(batch_id=batch_id)


@shared_task(bind=True, name="assessments.send_batch_webhook", acks_late=True, max_retries=webhooks.WEBHOOK_MAX_ATTEMPTS - 1)
def send_batch_webhook(self: Any, batch_id: int) -> Any:
    """POST a finished batch's signed notice; retried with exponential backoff until delivered."""
    delivered = webhooks.batch_webhook_deliver(batch_id=batch_id, attempt=self.request.retries + 1)
    if delivered or self.request.retries >= self.max_retries:
        return delivered
    countdown = webhooks.webhook_backoff_seconds(self.request.retries)
    if self.request.is_eager:  # tasks in process: returning the Retry makes apply() run it now
        return self.retry(countdown=countdown, throw=False)
    raise self.retry(countdown=countdown)
