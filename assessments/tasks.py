"""Thin Celery tasks of the CJ flow: each fetches by id and calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from assessments import services


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
