"""The gateway's own records: one comparison call to a model, and one provider batch job.

It knows nothing of essays: a request holds prompt parts, overrides and metadata to echo back.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from llmgateway.vocabulary import BATCHING_MODES, PER_REQUEST

# Labels as Django derives them from the names ("Per Request"), so the migration state is unchanged.
BATCHING_MODE_CHOICES = [(mode, mode.replace("_", " ").title()) for mode in BATCHING_MODES]


class ProviderBatchJob(models.Model):
    """A job on a provider's batch API (Anthropic Message Batches, OpenAI Batch API)."""

    class Status(models.TextChoices):
        CREATED = "created"  # rows linked, not yet sent
        SUBMITTED = "submitted"  # the provider has it; beat polls it on the llm_batch queue
        COMPLETED = "completed"  # every item's outcome stored (and delivered, or left to retry)
        FAILED = "failed"  # could not be submitted: its items run one by one instead

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=128)
    provider_job_id = models.CharField(max_length=200, blank=True)
    item_count = models.PositiveIntegerField(default=0)
    polls = models.PositiveIntegerField(default=0)
    error_detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "last_polled_at"])]
        constraints = [
            models.CheckConstraint(
                name="providerbatchjob_status_valid", condition=Q(status__in=["created", "submitted", "completed", "failed"])
            ),
            models.CheckConstraint(
                name="providerbatchjob_submitted_has_id", condition=~Q(status="submitted") | ~Q(provider_job_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"ProviderBatchJob {self.pk} {self.provider}/{self.model} {self.status}"


class LLMRequest(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"  # waiting for a call (first, retried or deferred)
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
    # External API: who asked (None: an in-process caller), where to notify, and idempotency.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    webhook_url = models.URLField(max_length=2000, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    idempotency_body_sha256 = models.CharField(max_length=64, blank=True)
    batching_mode = models.CharField(max_length=24, choices=BATCHING_MODE_CHOICES, default=PER_REQUEST)
    batch_job = models.ForeignKey(ProviderBatchJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests")
    prompt_sha256 = models.CharField(max_length=64, blank=True)
    result = models.JSONField(null=True, blank=True)
    raw_response = models.JSONField(null=True, blank=True)
    error_category = models.CharField(max_length=32, blank=True)
    error_detail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Provider calls made (deferrals are not calls).")
    attempt_log = models.JSONField(default=list, blank=True, help_text="One entry per failed attempt or deferral.")
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
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["provider", "model"]),
            models.Index(fields=["owner", "created_at"]),
        ]
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
            models.CheckConstraint(
                name="llmrequest_batching_mode_valid",
                condition=Q(batching_mode__in=list(BATCHING_MODES)),
            ),
            # The same scheme as a batch's: a client's key is its own, unique per owner.
            models.UniqueConstraint(fields=["owner", "idempotency_key"], name="llmrequest_idempotency_key_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return f"LLMRequest {self.pk} {self.provider}/{self.model} {self.status}"
