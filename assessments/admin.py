"""A first admin for the CJ domain: browse assignments, batches, essays and comparisons.

The graders' interface (uploads, progress, plots, actions) builds on this in its own issue.
"""

from __future__ import annotations

from django.contrib import admin

from assessments.models import AnchorEssay, Assignment, Batch, Comparison, Essay


class AnchorInline(admin.TabularInline):
    model = AnchorEssay
    extra = 0
    fields = ("label", "grade", "text")


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("title", "grade_scale", "context_origin", "owner", "created_at")
    search_fields = ("title",)
    inlines = [AnchorInline]


class EssayInline(admin.TabularInline):
    model = Essay
    extra = 0
    fields = (
        "rank",
        "external_id",
        "role",
        "anchor_grade",
        "theta",
        "se",
        "comparison_count",
        "projected_grade",
        "grade_probability",
    )
    readonly_fields = fields
    ordering = ("rank",)
    can_delete = False
    show_change_link = True


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "assignment",
        "owner",
        "state",
        "end_reason",
        "current_round",
        "comparisons_planned",
        "comparisons_succeeded",
        "comparisons_failed",
        "cost_usd",
        "created_at",
    )
    list_filter = ("state", "end_reason")
    readonly_fields = [f.name for f in Batch._meta.fields]
    inlines = [EssayInline]


@admin.register(Essay)
class EssayAdmin(admin.ModelAdmin):
    list_display = (
        "external_id",
        "batch",
        "role",
        "rank",
        "theta",
        "se",
        "projected_grade",
        "grade_probability",
        "grade_confidence",
    )
    list_filter = ("role",)
    search_fields = ("external_id",)
    readonly_fields = [f.name for f in Essay._meta.fields]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ("id", "batch", "round_no", "essay_a", "essay_b", "status", "winner", "confidence", "judge", "error_category")
    list_filter = ("status", "winner", "judge", "error_category")
    readonly_fields = [f.name for f in Comparison._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
