"""Shared fixtures: personas, in-process Celery for service tests, and a small batch request.

`make test` points DATABASE_URL at PostgreSQL and REDIS_URL at Redis. Service tests run Celery
tasks in process (the flow is the same code); tests marked `worker` start a real worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cjproject.celery import app as celery_app


@pytest.fixture(autouse=True)
def _celery_in_process() -> Iterator[None]:
    """Run tasks in process unless a test starts a real worker (it switches this off itself)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="owner", password="owner-pass-123")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="other", password="other-pass-123")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    # "Staff" who see everything are superusers: graders are is_staff too (for the admin) but see only their own.
    return django_user_model.objects.create_user(username="staff", password="staff-pass-123", is_staff=True, is_superuser=True)


ESSAY_TEXTS = [
    "Role models matter. " * 3,
    "I think a good role model is someone who works hard and helps other people in the community. " * 2,
    "My grandmother taught me patience.\n\nShe listened, she planned, and she never gave up on anyone around her.",
    "Athletes are not always the best examples, because fame rewards visibility rather than character or kindness.",
    "i like my coach he is nice and he help me alot",
    "A role model need not be famous; the most influential people are often the quiet, consistent ones nearby.",
]


def essays(n: int = 6) -> list[dict[str, str]]:
    return [{"id": f"e{i + 1}", "text": f"{ESSAY_TEXTS[i % len(ESSAY_TEXTS)]} (draft {i})"} for i in range(n)]


@pytest.fixture
def assignment(owner: Any) -> Any:
    from assessments import services

    assignment = services.assignment_create(
        owner=owner,
        title="Role models",
        student_prompt="Write about a role model.",
        instructions="Reward clear structure and precise language.",
        grade_scale="swedish_a_f",
    )
    for label, grade, text in (
        ("low", "E", "A role model is good. I like them. They is nice."),
        ("mid", "C", "A role model shows us how to act when things are difficult, and my teacher did that every day."),
        (
            "high",
            "A",
            "The most convincing role models are rarely the loudest: they persuade by example, patiently and consistently.",
        ),
    ):
        services.anchor_register(assignment=assignment, label=label, grade=grade, text=text)
    return assignment


def run_batch(owner: Any, n: int = 6, **request: Any) -> Any:
    """Create and start a batch of `n` test essays (tasks in process), and return it finished."""
    from assessments import services
    from assessments.models import Batch

    batch = services.batch_create(owner=owner, request={"essays": essays(n), **request})
    services.batch_start(batch_id=batch.pk)
    return Batch.objects.get(pk=batch.pk)


def body_of(response: Any) -> bytes:
    """A response's body, whole or streamed (the exports stream)."""
    return b"".join(response.streaming_content) if response.streaming else response.content
