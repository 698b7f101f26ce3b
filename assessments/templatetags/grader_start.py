"""`{% grader_start as start %}`: what the admin's start page shows a grader (`admin.views.grader_start`)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def grader_start(context: dict[str, Any]) -> dict[str, Any]:
    from assessments.admin.views import grader_start as start

    return start(user=context["request"].user)
