"""Personas of the graders' admin: two graders (staff, in the "Graders" group) and a superuser."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from assessments.graders import grader_add


def _grader(django_user_model: Any, username: str) -> Any:
    user = django_user_model.objects.create_user(username=username, password=f"{username}-pass-123")
    grader_add(user=user)
    return user


@pytest.fixture
def grader(django_user_model: Any) -> Any:
    return _grader(django_user_model, "grader")


@pytest.fixture
def other_grader(django_user_model: Any) -> Any:
    return _grader(django_user_model, "other_grader")


@pytest.fixture
def grader_client(grader: Any) -> Client:
    client = Client()
    client.force_login(grader)
    return client


@pytest.fixture
def other_client(other_grader: Any) -> Client:
    client = Client()
    client.force_login(other_grader)
    return client


def make_assignment(owner: Any, *, anchors: bool = True, title: str = "Role models") -> Any:
    from assessments import services

    assignment = services.assignment_create(
        owner=owner,
        title=title,
        student_prompt="Write about a role model.",
        instructions="Reward clear structure and precise language.",
        grade_scale="swedish_a_f",
    )
    if anchors:
        for label, grade, text in (
            ("low", "E", "A role model is good. I like them. They is nice."),
            ("mid", "C", "A role model shows us how to act when things are difficult, and my teacher did that every day."),
            ("high", "A", "The most convincing role models are rarely the loudest: they persuade by example, patiently."),
        ):
            services.anchor_register(assignment=assignment, label=label, grade=grade, text=text)
    return assignment


def finished_batch(owner: Any, assignment: Any = None, n: int = 5, **options: Any) -> Any:
    """A batch of `n` essays on the mock judge, run to the end in process."""
    from tests.conftest import run_batch

    request: dict[str, Any] = {"options": {"comparisons_per_essay": 4, **options}}
    if assignment is not None:
        request["assignment_id"] = assignment.pk
    return run_batch(owner, n=n, **request)
