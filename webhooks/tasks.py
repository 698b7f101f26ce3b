"""Webhook tasks: make a notice's next attempt (and schedule the one after), and beat's resend of overdue notices."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from webhooks import services
from webhooks.models import DeliveryStatus


@shared_task(name="webhooks.deliver", acks_late=True, queue="llm_batch")
def webhook_deliver(delivery_id: int) -> str | None:
    """Attempt a notice; if it failed and may be tried again, send this task again for then.
    Returns the notice's status after this attempt (None: nothing to do)."""
    delivery = services.webhook_delivery_attempt(delivery_id=delivery_id)
    if delivery is None:
        return None
    if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None:
        countdown = max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds())
        webhook_deliver.apply_async(args=(delivery_id,), countdown=countdown)
    return delivery.status


@shared_task(name="webhooks.resend", acks_late=True, queue="llm_batch")
def webhook_deliveries_resend() -> list[int]:
    """Beat: send again the pending notices whose next attempt is long overdue."""
    return services.webhook_deliveries_resend()
