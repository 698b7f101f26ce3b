"""HTTP shapes of the CJ API that have no pydantic contract: assignments, anchors, a batch and its
progress (type checks only; the services hold the rules). The batch request is the pydantic
contract (`contracts.BatchCreate`); results, comparisons and exports are `assessments.results.schema`'s."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assessments import selectors
from assessments.models import (
    GRADE_SCALE_CHOICES,
    AnchorEssay,
    Assignment,
    Batch,
    ContextOrigin,
    EndReason,
)
from assessments.results.schema import RELIABILITY_HELP
from assessments.schemas import PROMPT_MAX_CHARS

# --- Assignments and anchors -------------------------------------------------------------------


class AssignmentInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    student_prompt = serializers.CharField(max_length=PROMPT_MAX_CHARS, help_text="The task as the students saw it.")
    instructions = serializers.CharField(
        max_length=PROMPT_MAX_CHARS, required=False, allow_blank=True, default="", help_text="Rubric for the judge."
    )
    grade_scale = serializers.ChoiceField(choices=GRADE_SCALE_CHOICES, default="swedish_a_f")
    custom_grades = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, default=list, max_length=50,
        help_text="Ordered labels, lowest first (grade_scale `custom` only).",
    )  # fmt: skip
    context_origin = serializers.ChoiceField(
        choices=ContextOrigin.choices, default=ContextOrigin.RESEARCH,
        help_text="`canonical` refuses rubric overrides in batches.",
    )  # fmt: skip


class AssignmentSerializer(serializers.ModelSerializer):
    grades = serializers.SerializerMethodField(help_text="The scale's grades, lowest first.")
    anchor_count = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = (
            "id",
            "url",
            "owner",
            "title",
            "student_prompt",
            "instructions",
            "grade_scale",
            "custom_grades",
            "grades",
            "context_origin",
            "anchor_count",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_grades(self, obj: Assignment) -> list[str]:
        return list(obj.scale.grades)

    def get_url(self, obj: Assignment) -> str:
        return f"/api/v1/assignments/{obj.pk}"


class AnchorInputSerializer(serializers.Serializer):
    # An anchor's field is called `label`, which shadows DRF's `Field.label` (unused here).
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]
    grade = serializers.CharField(max_length=20, help_text="One of the assignment's grades.")
    text = serializers.CharField(max_length=settings.CJ_API_MAX_ESSAY_CHARS)


class AnchorSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnchorEssay
        fields = ("id", "assignment", "label", "grade", "text", "text_sha256", "created_at")
        read_only_fields = fields


# --- Batches -----------------------------------------------------------------------------------


class BatchSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    end_reason = serializers.ChoiceField(
        choices=EndReason.choices, allow_blank=True, read_only=True, help_text="Why it finished; empty while it runs."
    )
    rounds = serializers.IntegerField(source="current_round", read_only=True)
    cost_usd = serializers.FloatField(read_only=True)
    webhook_url = serializers.CharField(read_only=True, help_text="Empty: no webhook.")

    class Meta:
        model = Batch
        fields: tuple[str, ...] = (
            "id",
            "url",
            "owner",
            "assignment",
            "language",
            "course_code",
            "state",
            "end_reason",
            "end_message",
            "rounds",
            "comparisons_planned",
            "comparisons_succeeded",
            "comparisons_failed",
            "cost_usd",
            "webhook_url",
            "judge_mode",
            "human_share",
            "human_deadline",
            "awaiting_people",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_url(self, obj: Batch) -> str:
        return f"/api/v1/batches/{obj.pk}"


class ComparisonCountsSerializer(serializers.Serializer):
    budget = serializers.IntegerField(help_text="Comparisons the batch may use in all.")
    budget_note = serializers.CharField(
        allow_null=True, help_text="Set when the server's ceiling lowered the budget below what the request asked for."
    )
    planned = serializers.IntegerField()
    sent = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Failed for good; they do not count against the budget.")
    failed_by_reason = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=(
            "Comparisons failed for good, by error category (e.g. server_error, rate_limited, invalid_answer, lost). "
            "A later round replaces them with new pairs while the budget and the round limit allow."
        ),
    )
    waiting = serializers.IntegerField(help_text="Pending or sent, without a result yet.")
    cancelled = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()


class EstimateSerializer(serializers.Serializer):
    comparisons_remaining_at_most = serializers.IntegerField()
    cost_usd_remaining_at_most = serializers.FloatField(
        allow_null=True, help_text="At the mean cost so far; null before any result."
    )


class ProgressSerializer(serializers.Serializer):
    rounds = serializers.IntegerField()
    comparisons = ComparisonCountsSerializer()
    reliability = serializers.FloatField(allow_null=True, help_text=RELIABILITY_HELP)
    reliability_note = serializers.CharField(allow_null=True, help_text="Why there is no reliability figure yet.")
    cost_usd = serializers.FloatField()
    estimate = EstimateSerializer()


class BatchDetailSerializer(BatchSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(BatchSerializer.Meta):
        fields = (*BatchSerializer.Meta.fields, "progress")
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, obj: Batch) -> dict[str, Any]:
        return ProgressSerializer(selectors.batch_status(batch=obj)).data


class BatchContinueSerializer(serializers.Serializer):
    additional_comparisons = serializers.IntegerField(min_value=1, help_text="How many more comparisons to judge.")
    reliability_target = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.0, max_value=1.0,
        help_text="Stop early once the reliability reaches it (below 1); without it the new budget is spent in full.",
    )  # fmt: skip
