"""Shared fixtures: personas, in-process Celery for service tests, a small batch request, and
local webhook receivers.

`make test` points DATABASE_URL at PostgreSQL and REDIS_URL at Redis. Service tests run Celery
tasks in process (the flow is the same code); tests marked `worker` start a real worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


# --- Webhook receivers: real HTTP servers on loopback, which the tests allow webhooks to reach ---


class Receiver:
    """A local endpoint answering the given statuses in turn (then 204), recording each call;
    `location` is sent with a 3xx."""

    def __init__(self, statuses: list[int], location: str = "") -> None:
        self.statuses = list(statuses)
        self.location = location
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def serve(settings: Any) -> Iterator[Callable[..., Receiver]]:
    """Start receivers on loopback (which the test run's operator allows for webhooks)."""
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    started: list[Receiver] = []

    def start(statuses: list[int] | None = None, location: str = "") -> Receiver:
        receiver = Receiver(statuses or [], location)
        threading.Thread(target=receiver.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def receiver(serve: Callable[..., Receiver]) -> Receiver:
    return serve()
