"""Writes of assignments and their anchor essays: create, change, delete, each checked against the scale."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from assessments.engine.scales import UnknownGradeError, get_scale
from assessments.models import AnchorEssay, Assignment, ContextOrigin
from cjproject.errors import Conflict, InvalidInput


def text_sha256(text: str) -> str:
    """The hex sha256 of a text, as essays and anchors store it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def assignment_create(
    *,
    owner: User,
    title: str,
    student_prompt: str,
    instructions: str = "",
    grade_scale: str = "swedish_a_f",
    custom_grades: Sequence[str] | None = None,
    context_origin: str = ContextOrigin.RESEARCH,
) -> Assignment:
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = ["must not be blank"]
    if not student_prompt.strip():
        errors["student_prompt"] = ["must not be blank"]
    if context_origin not in ContextOrigin.values:
        errors["context_origin"] = [f"{context_origin!r} is not allowed; choose one of: {', '.join(ContextOrigin.values)}"]
    try:
        get_scale(grade_scale, custom_grades)
    except UnknownGradeError as exc:
        errors["grade_scale"] = [str(exc)]
    if errors:
        raise InvalidInput("invalid assignment", fields=errors)
    return Assignment.objects.create(
        owner=owner,
        title=title.strip(),
        student_prompt=student_prompt,
        instructions=instructions,
        grade_scale=grade_scale,
        custom_grades=list(custom_grades or []),
        context_origin=context_origin,
    )


def anchor_register(*, assignment: Assignment, label: str, grade: str, text: str) -> AnchorEssay:
    """Add an anchor essay of known grade; the grade must belong to the assignment's scale."""
    errors: dict[str, list[str]] = {}
    if not label.strip():
        errors["label"] = ["must not be blank"]
    if not text.strip():
        errors["text"] = ["must not be blank"]
    try:
        assignment.scale.validate(grade)
    except UnknownGradeError as exc:
        errors["grade"] = [str(exc)]
    if errors:
        raise InvalidInput("invalid anchor", fields=errors)
    try:
        with transaction.atomic():
            return AnchorEssay.objects.create(
                assignment=assignment, label=label.strip(), grade=grade, text=text, text_sha256=text_sha256(text)
            )
    except IntegrityError:
        raise InvalidInput("invalid anchor", fields={"label": [f"{label!r} is already an anchor of this assignment"]}) from None


# Fields that shape what a judge is shown or how grades are read: fixed once a batch uses them.
ASSIGNMENT_CONTENT_FIELDS = ("student_prompt", "instructions", "grade_scale", "custom_grades", "context_origin")


def assignment_update(*, assignment: Assignment, changes: dict[str, Any]) -> Assignment:
    """Change an assignment. Its title may always change; its prompt, rubric, scale and origin only
    while no batch uses it (a batch's later rounds and continuations read them), and its scale
    only to one that holds every anchor's grade."""
    errors: dict[str, list[str]] = {}
    content = sorted(name for name in ASSIGNMENT_CONTENT_FIELDS if name in changes and changes[name] != getattr(assignment, name))
    if content and assignment.batches.exists():
        raise Conflict(
            "assignment in use",
            fields={name: ["cannot change once a batch uses the assignment; create a new assignment"] for name in content},
        )
    merged = {name: changes.get(name, getattr(assignment, name)) for name in ("title", *ASSIGNMENT_CONTENT_FIELDS)}
    if not str(merged["title"]).strip():
        errors["title"] = ["must not be blank"]
    if not str(merged["student_prompt"]).strip():
        errors["student_prompt"] = ["must not be blank"]
    if merged["context_origin"] not in ContextOrigin.values:
        allowed = ", ".join(ContextOrigin.values)
        errors["context_origin"] = [f"{merged['context_origin']!r} is not allowed; choose one of: {allowed}"]
    try:
        scale = get_scale(merged["grade_scale"], merged["custom_grades"])
        outside = sorted({a.grade for a in assignment.anchors.all()} - set(scale.grades))
        if outside:
            errors["grade_scale"] = [f"the anchors' grades {', '.join(outside)} are not on this scale"]
    except UnknownGradeError as exc:
        errors["grade_scale"] = [str(exc)]
    if errors:
        raise InvalidInput("invalid assignment", fields=errors)
    for name, value in merged.items():
        setattr(assignment, name, value.strip() if name == "title" else value)
    assignment.custom_grades = list(assignment.custom_grades or [])
    assignment.save()
    return assignment


def assignment_delete(*, assignment: Assignment) -> None:
    """Delete an assignment and its anchors; refused while a batch uses it (its results need it)."""
    used_by = assignment.batches.count()
    if used_by:
        raise Conflict("assignment in use", fields={"assignment": [f"{used_by} batch(es) use it; delete them first"]})
    assignment.delete()


def anchor_delete(*, anchor: AnchorEssay) -> None:
    """Remove an anchor from its assignment; batches keep their own copies of it."""
    anchor.delete()
