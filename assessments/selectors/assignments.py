"""Reads of assignments: the ones a user may see, and how well their anchors cover the scale."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from assessments.models import Assignment


def assignments_visible(*, user: Any) -> QuerySet[Assignment]:
    """The user's own assignments; superusers see all (graders are staff but see their own)."""
    queryset = Assignment.objects.annotate(anchor_count=Count("anchors"))
    return queryset if user.is_superuser else queryset.filter(owner=user)


def assignment_anchor_coverage(*, assignment: Assignment) -> list[dict[str, Any]]:
    """Each grade of the scale, best first, with how many anchors it has."""
    counts = dict(assignment.anchors.values_list("grade").annotate(n=Count("pk")).values_list("grade", "n"))
    return [{"grade": g, "count": counts.get(g, 0)} for g in reversed(assignment.scale.grades)]
