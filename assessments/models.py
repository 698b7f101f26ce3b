"""The CJ domain's tables: assignments and their anchors, batches, essays and comparisons.

Models are thin: fields, database constraints and small properties. Writes go through
`assessments.services`; JSON metadata is merged through `assessments.metadata`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least

from assessments.engine.scales import BUILTIN_SCALES, CUSTOM_SCALE, GradeScale, get_scale


class ContextOrigin(models.TextChoices):
    RESEARCH = "research", "Research (prompt and rubric may be overridden)"
    CANONICAL = "canonical", "Canonical (rubric overrides are refused)"


GRADE_SCALE_CHOICES = [(name, name) for name in BUILTIN_SCALES] + [(CUSTOM_SCALE, "custom (own ordered list)")]


class Assignment(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    title = models.CharField(max_length=200)
    student_prompt = models.TextField(help_text="The task as the students saw it.")
    instructions = models.TextField(blank=True, help_text="Rubric and instructions for the judge.")
    grade_scale = models.CharField(max_length=40, choices=GRADE_SCALE_CHOICES, default="swedish_a_f")
    custom_grades = models.JSONField(default=list, blank=True, help_text="Ordered labels, lowest first (custom scale only).")
    context_origin = models.CharField(max_length=16, choices=ContextOrigin.choices, default=ContextOrigin.RESEARCH)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(name="assignment_context_origin_valid", condition=Q(context_origin__in=ContextOrigin.values)),
            models.CheckConstraint(
                name="assignment_grade_scale_valid",
                condition=Q(grade_scale__in=[name for name, _ in GRADE_SCALE_CHOICES]),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def scale(self) -> GradeScale:
        return get_scale(self.grade_scale, self.custom_grades)


class AnchorEssay(models.Model):
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="anchors")
    label = models.CharField(max_length=100)
    grade = models.CharField(max_length=20)
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assignment_id", "label"]
        constraints = [models.UniqueConstraint(fields=["assignment", "label"], name="anchor_label_unique_per_assignment")]

    def __str__(self) -> str:
        return f"{self.label} ({self.grade})"


class BatchState(models.TextChoices):
    CREATED = "created"
    RUNNING = "running"
    SCORING = "scoring"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED)


class EndReason(models.TextChoices):
    """Why a batch ended. The first six are the stopping rules of `engine.stopping.STOP_REASONS`
    (the engine names them, and cannot import this; tests/assessments/test_vocabulary.py keeps the
    two in step); the rest are the service's own ends."""

    RELIABILITY_REACHED = "reliability_reached"
    GRADES_SETTLED = "grades_settled"
    BUDGET_EXHAUSTED = "budget_exhausted"
    PAIRS_EXHAUSTED = "pairs_exhausted"
    MAX_ROUNDS = "max_rounds"
    INSUFFICIENT_ESSAYS = "insufficient_essays"
    LOW_SUCCESS_RATE = "low_success_rate"
    COST_LIMIT = "cost_limit"
    CANCELLED = "cancelled"
    RECOVERED = "recovered"
    STALLED = "stalled"
    HUMAN_DEADLINE = "human_deadline"


class JudgeMode(models.TextChoices):
    """Who judges a batch (README, "Teachers judge beside the LLM")."""

    LLM = "llm", "LLM only"
    HUMAN = "human", "People only (no LLM call)"
    HYBRID = "hybrid", "LLM rounds, plus a share of comparisons judged by people"
    MODERATION = "moderation", "LLM, with people re-judging a sample of its pairs blind"


# Modes in which invited graders judge.
HUMAN_JUDGE_MODES = (JudgeMode.HUMAN, JudgeMode.HYBRID, JudgeMode.MODERATION)
# A person's judge label is this prefix and their user id: opaque, never a name.
HUMAN_JUDGE_PREFIX = "human:"


class Batch(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batches")
    # Null: a guest batch, ranked without grades.
    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, null=True, blank=True, related_name="batches")
    language = models.CharField(max_length=16, default="en")
    course_code = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=BatchState.choices, default=BatchState.CREATED)
    end_reason = models.CharField(max_length=32, choices=EndReason.choices, blank=True)
    end_message = models.TextField(blank=True)
    current_round = models.PositiveIntegerField(default=0)
    comparisons_planned = models.PositiveIntegerField(default=0)
    comparisons_succeeded = models.PositiveIntegerField(default=0)
    comparisons_failed = models.PositiveIntegerField(default=0)
    processing_metadata = models.JSONField(default=dict, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # REST API: where to POST the signed notice when the batch finishes, and the client's
    # Idempotency-Key (unique per owner) with the digest of the body it was first sent with.
    webhook_url = models.URLField(max_length=2000, blank=True)
    idempotency_key = models.CharField(max_length=150, null=True, blank=True)
    idempotency_body_sha256 = models.CharField(max_length=64, blank=True)
    # Who judges (see JudgeMode); `human_share`: the share of the comparison budget asked of people
    # (hybrid, moderation); `human_deadline`: after it, human judging ends and the batch finishes.
    judge_mode = models.CharField(max_length=16, choices=JudgeMode.choices, default=JudgeMode.LLM)
    human_share = models.FloatField(default=0.0)
    human_deadline = models.DateTimeField(null=True, blank=True)
    # Its LLM rounds are done (or it has none) and it waits for people (services.judging).
    awaiting_people = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        indexes = [models.Index(fields=["state", "updated_at"])]
        constraints = [
            models.UniqueConstraint(fields=["owner", "idempotency_key"], name="batch_idempotency_key_unique_per_owner"),
            models.CheckConstraint(name="batch_state_valid", condition=Q(state__in=BatchState.values)),
            models.CheckConstraint(name="batch_end_reason_valid", condition=Q(end_reason__in=[*EndReason.values, ""])),
            # A finished batch says why; a live one has no end reason yet.
            models.CheckConstraint(
                name="batch_end_reason_iff_terminal",
                condition=(Q(state__in=TERMINAL_STATES) & ~Q(end_reason="")) | (~Q(state__in=TERMINAL_STATES) & Q(end_reason="")),
            ),
            models.CheckConstraint(name="batch_judge_mode_valid", condition=Q(judge_mode__in=JudgeMode.values)),
            models.CheckConstraint(name="batch_human_share_0_to_1", condition=Q(human_share__gte=0, human_share__lte=1)),
            models.CheckConstraint(
                name="batch_resolved_within_planned",
                condition=Q(comparisons_succeeded__lte=F("comparisons_planned") - F("comparisons_failed")),
            ),
        ]

    def __str__(self) -> str:
        return f"Batch {self.pk} ({self.state})"

    @property
    def budget_spent(self) -> int:
        """Comparisons that count against the budget: every one planned but those that failed
        for good (a later round replaces them, within the budget and the round limit)."""
        return self.comparisons_planned - self.comparisons_failed

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class EssayRole(models.TextChoices):
    STUDENT = "student"
    ANCHOR = "anchor"


class Essay(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="essays")
    external_id = models.CharField(max_length=200)
    role = models.CharField(max_length=16, choices=EssayRole.choices, default=EssayRole.STUDENT)
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    anchor_grade = models.CharField(max_length=20, null=True, blank=True)
    theta = models.FloatField(null=True, blank=True)
    se = models.FloatField(null=True, blank=True)
    comparison_count = models.PositiveIntegerField(default=0)
    wins = models.FloatField(default=0)
    infit = models.FloatField(null=True, blank=True)
    outfit = models.FloatField(null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True)
    projected_grade = models.CharField(max_length=20, blank=True)
    grade_probability = models.FloatField(null=True, blank=True, help_text="P(projected grade)")
    expected_grade = models.FloatField(null=True, blank=True, help_text="Probability-weighted grade index (0 = lowest)")
    grade_confidence = models.CharField(max_length=16, blank=True, help_text="high, medium, low (from P(projected grade))")
    grade_probabilities = models.JSONField(default=dict, blank=True)
    processing_metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["batch_id", "rank", "id"]
        constraints = [
            # The same essay in two batches is two rows; ids are unique only within a batch.
            models.UniqueConstraint(fields=["batch", "external_id"], name="essay_external_id_unique_per_batch"),
            models.CheckConstraint(name="essay_role_valid", condition=Q(role__in=EssayRole.values)),
            models.CheckConstraint(
                name="essay_anchor_grade_iff_anchor",
                condition=(Q(role=EssayRole.ANCHOR) & Q(anchor_grade__isnull=False))
                | (Q(role=EssayRole.STUDENT) & Q(anchor_grade__isnull=True)),
            ),
            models.CheckConstraint(name="essay_se_positive", condition=Q(se__isnull=True) | Q(se__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.external_id}"


class ComparisonStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_COMPARISON_STATES = (ComparisonStatus.PENDING, ComparisonStatus.SENT)


class Winner(models.TextChoices):
    A = "a", "Essay A (shown first)"
    B = "b", "Essay B (shown second)"


class Comparison(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="comparisons")
    round_no = models.PositiveIntegerField()
    # essay_a is shown first ("Essay A"), essay_b second.
    essay_a = models.ForeignKey(Essay, on_delete=models.CASCADE, related_name="+")
    essay_b = models.ForeignKey(Essay, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=ComparisonStatus.choices, default=ComparisonStatus.PENDING)
    winner = models.CharField(max_length=1, choices=Winner.choices, null=True, blank=True)
    confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    justification = models.TextField(blank=True)
    raw_response = models.JSONField(null=True, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=128, blank=True)
    judge = models.CharField(max_length=200, blank=True, help_text="Panel judge label (provider/model[, parameters]).")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    prompt_sha256 = models.CharField(max_length=64, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    error_category = models.CharField(max_length=32, blank=True)
    error_detail = models.TextField(blank=True)
    request_metadata = models.JSONField(default=dict, blank=True)
    llm_request = models.ForeignKey("llmgateway.LLMRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The worker process (hostname:pid) that received this comparison's call: while its heartbeat
    # is fresh the call is in hand; once it is stale the sweeper sends the comparison again.
    held_by = models.CharField(max_length=200, blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    # The batch's counters include this result (each result moves them once; see services.results).
    counted = models.BooleanField(default=False)
    # A human judge (an invited grader or the owner); None for an LLM's comparison. Its `judge`
    # label is opaque ("human:<user id>"), never a name.
    judge_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="judgements"
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time the human judge took (capped).")
    comment = models.TextField(blank=True, help_text="The human judge's optional short comment.")

    class Meta:
        ordering = ["batch_id", "round_no", "id"]
        indexes = [models.Index(fields=["batch", "round_no", "status"])]
        constraints = [
            models.CheckConstraint(name="comparison_status_valid", condition=Q(status__in=ComparisonStatus.values)),
            models.CheckConstraint(name="comparison_distinct_essays", condition=~Q(essay_a=F("essay_b"))),
            models.CheckConstraint(name="comparison_round_positive", condition=Q(round_no__gte=1)),
            # A judged comparison has a winner; nothing else has one (no silent default).
            models.CheckConstraint(
                name="comparison_winner_iff_succeeded",
                condition=(Q(status=ComparisonStatus.SUCCEEDED) & Q(winner__in=Winner.values))
                | (~Q(status=ComparisonStatus.SUCCEEDED) & Q(winner__isnull=True)),
            ),
            models.CheckConstraint(
                name="comparison_confidence_1_to_5",
                condition=Q(confidence__isnull=True) | Q(confidence__gte=1, confidence__lte=5),
            ),
            models.CheckConstraint(
                name="comparison_failure_has_category",
                condition=~Q(status=ComparisonStatus.FAILED) | ~Q(error_category=""),
            ),
            # A person judges a pair at most once, whichever essay was shown first.
            models.UniqueConstraint(
                F("batch"),
                F("judge_user"),
                Least("essay_a", "essay_b"),
                Greatest("essay_a", "essay_b"),
                condition=Q(judge_user__isnull=False),
                name="comparison_human_pair_once",
            ),
        ]

    def __str__(self) -> str:
        return f"Comparison {self.pk} r{self.round_no} ({self.status})"


class BatchJudge(models.Model):
    """An invitation: this user may judge this batch (its owner always may)."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="human_judges")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judging_invitations")
    invited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["batch_id", "invited_at"]
        constraints = [models.UniqueConstraint(fields=["batch", "user"], name="batch_judge_unique")]

    def __str__(self) -> str:
        return f"judge {self.user_id} of batch {self.batch_id}"


class LeaseStatus(models.TextChoices):
    OPEN = "open"
    RECORDED = "recorded"
    SKIPPED = "skipped"
    EXPIRED = "expired"


class JudgingLease(models.Model):
    """A pair handed to a person, until they answer, skip it or the lease expires.

    Not a Comparison row: an LLM round waits for every open comparison of its round, and the
    sweeper re-sends lost ones; a person's pending pair must do neither. The Comparison is
    created when the person answers (`comparison`).
    """

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="judging_leases")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judging_leases")
    # essay_a is shown first ("Essay A"), essay_b second (sides drawn at random).
    essay_a = models.ForeignKey(Essay, on_delete=models.CASCADE, related_name="+")
    essay_b = models.ForeignKey(Essay, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=LeaseStatus.choices, default=LeaseStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    comparison = models.OneToOneField(Comparison, on_delete=models.SET_NULL, null=True, blank=True, related_name="lease")

    class Meta:
        ordering = ["batch_id", "id"]
        indexes = [models.Index(fields=["batch", "status", "expires_at"], name="lease_batch_status_expiry")]
        constraints = [
            models.CheckConstraint(name="lease_status_valid", condition=Q(status__in=LeaseStatus.values)),
            models.CheckConstraint(name="lease_distinct_essays", condition=~Q(essay_a=F("essay_b"))),
            # One pair at a time per person and batch: a second request re-issues it.
            models.UniqueConstraint(
                fields=["batch", "user"], condition=Q(status=LeaseStatus.OPEN), name="lease_one_open_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"Lease {self.pk} ({self.status})"


class WorkerHeartbeat(models.Model):
    """A worker process's sign of life, written every few seconds while it runs (the sweeper
    re-sends the comparisons held by a worker whose heartbeat went stale)."""

    worker = models.CharField(max_length=200, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} at {self.beat_at:%H:%M:%S}"


class ApiToken(models.Model):
    """An API key, kept as a SHA-256 digest: the key itself is shown once, at creation, and never stored.

    `prefix` (the key's first characters) tells tokens apart in lists without revealing them.
    A token works while it is neither revoked nor past `expires_at`.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. the integrating platform.")
    prefix = models.CharField(max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
