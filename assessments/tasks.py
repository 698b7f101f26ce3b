"""Thin Celery tasks of the CJ flow: each is named as the service it calls, fetches by id and calls it."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from assessments import services


@shared_task(name="assessments.comparison_record", acks_late=True)
def comparison_record(result: dict[str, Any]) -> bool:
    """The gateway's callback: record one judge's result (idempotent)."""
    return services.comparison_record(result=result)


@shared_task(
    name="assessments.round_complete",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=5,
)
def round_complete(batch_id: int, round_no: int) -> None:
    """The body of a round's chord: score, then continue or finalize. A database error that
    passes (a deadlock, a dropped connection) is retried in seconds; the claim was given back."""
    services.round_complete(batch_id=batch_id, round_no=round_no)


@shared_task(name="assessments.batch_sweep", acks_late=True)
def batch_sweep() -> dict[str, list[int]]:
    """Beat, every minute: drive rounds whose body never ran; fail batches that stalled."""
    return services.batch_sweep()


@shared_task(name="assessments.batch_start", acks_late=True)
def batch_start(batch_id: int) -> bool:
    """Plan and send a created batch's first round (a second run does nothing)."""
    return services.batch_start(batch_id=batch_id)


@shared_task(
    name="assessments.judging_checkpoint",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=5,
)
def judging_checkpoint(batch_id: int) -> str | None:
    """Rescore a batch waiting for people and end it when their share, the deadline or its target
    says so. One transaction, so a database error that passes is retried in seconds."""
    return services.judging_checkpoint(batch_id=batch_id)
