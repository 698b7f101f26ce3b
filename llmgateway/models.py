"""The gateway's own record of one comparison call to a model (it knows nothing of essays)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class LLMRequest(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=128)
    overrides = models.JSONField(default=dict, blank=True)
    # Prompt parts (static context and the two texts). Personal data: stored here so that task
    # messages carry only this row's id, never text; never logged.
    prompt_parts = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True, help_text="Echoed back unchanged with the result.")
    callback = models.CharField(max_length=200, blank=True, help_text="Celery task name that receives the result.")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    prompt_sha256 = models.CharField(max_length=64, blank=True)
    result = models.JSONField(null=True, blank=True)
    raw_response = models.JSONField(null=True, blank=True)
    error_category = models.CharField(max_length=32, blank=True)
    error_detail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(
                name="llmrequest_status_valid",
                condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
            ),
            models.CheckConstraint(
                name="llmrequest_success_has_result",
                condition=~Q(status="succeeded") | Q(result__isnull=False),
            ),
            models.CheckConstraint(
                name="llmrequest_failure_has_category",
                condition=~Q(status="failed") | ~Q(error_category=""),
            ),
        ]

    def __str__(self) -> str:
        return f"LLMRequest {self.pk} {self.provider}/{self.model} {self.status}"
