"""Webhook tables: an owner's signing secrets, one row per notice, one row per delivery attempt.

A notice keeps its body, its URL and the kind and id of what it is about as plain values, not
foreign keys: a batch deleted while a retry waits leaves its notice deliverable, and the log readable.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class WebhookSecret(models.Model):
    """A key that signs its owner's notices: `whsec_` and the base64 of 32 random bytes.

    The server needs the key itself to sign, so it is stored (unlike API tokens, which are kept as
    digests); it is shown once, when created, and never again by the admin, the API or a log.
    A secret signs until `expires_at` (none: until replaced): a rotation gives the old ones a
    short overlap, during which notices carry a signature by each.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secrets")
    secret = models.CharField(max_length=100, editable=False)
    prefix = models.CharField(max_length=16, editable=False, help_text="The secret's first characters, to tell secrets apart.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: signs until replaced.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook secret"

    def __str__(self) -> str:
        return f"{self.prefix}… of {self.owner}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # an attempt is due (the first one, or a retry at next_attempt_at)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt failed: given up for good


class WebhookDelivery(models.Model):
    """One notice to one URL, with its body as first sent (every retry sends the same bytes under
    the same `message_id`) and where its delivery stands."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_deliveries")
    message_id = models.CharField(max_length=64, unique=True, help_text="The webhook-id header: the same on every retry.")
    event = models.CharField(max_length=64)
    subject_kind = models.CharField(max_length=32, help_text="What the notice is about: batch or comparison.")
    subject_id = models.BigIntegerField()
    url = models.URLField(max_length=2000)
    body = models.TextField(help_text="The JSON body, byte for byte as every attempt sends it.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["owner", "subject_kind", "subject_id"], name="webhookdelivery_subject_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(name="webhookdelivery_status_valid", condition=Q(status__in=DeliveryStatus.values)),
            # A pending notice has its next attempt due at some time; a finished one has none.
            models.CheckConstraint(
                name="webhookdelivery_next_attempt_iff_pending",
                condition=(Q(status=DeliveryStatus.PENDING) & Q(next_attempt_at__isnull=False))
                | (~Q(status=DeliveryStatus.PENDING) & Q(next_attempt_at__isnull=True)),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} of {self.subject_kind} {self.subject_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a notice: the receiver's HTTP status, or why there was none (`error`)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(
        max_length=32, blank=True, help_text="refused_url, unreachable, timeout, tls, bad_response, no_secret"
    )
    duration_ms = models.PositiveIntegerField(default=0)
    delivered = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When it is tried again; empty: not again.")

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_number_unique_per_delivery"),
            models.CheckConstraint(name="webhookattempt_status_or_error", condition=Q(status_code__isnull=False) | ~Q(error="")),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"
