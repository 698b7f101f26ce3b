"""Thin Celery tasks of the gateway: fetch by id, call a service."""

from __future__ import annotations

from celery import shared_task

from llmgateway.models import LLMRequest
from llmgateway.services import comparison_deliver, comparison_execute


@shared_task(name="llmgateway.run_comparison", acks_late=True)
def run_comparison(request_id: int) -> dict[str, object]:
    """Call the model for one stored request and deliver the result to its callback."""
    result = comparison_execute(request_id=request_id)
    callback = LLMRequest.objects.values_list("callback", flat=True).get(pk=request_id)
    comparison_deliver(result=result, callback=callback)
    return {"request_id": request_id, "status": result.status}
