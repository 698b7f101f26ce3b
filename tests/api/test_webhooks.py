"""The signed webhook a batch's URL receives when it finishes, retried with backoff until delivered."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from assessments.models import Batch
from assessments.services import webhooks
from assessments.tasks import batch_webhook_deliver as send_batch_webhook
from tests.conftest import essays

pytestmark = pytest.mark.django_db

SECRET = "whsec-api-test"


class Receiver:
    """A local HTTP endpoint answering the given statuses in turn (then 204), recording each call."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver([])
    threading.Thread(target=hook.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture(autouse=True)
def _secret(settings: Any) -> None:
    settings.LLM_WEBHOOK_SECRET = SECRET
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the fake receiver listens on loopback


def _verified(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    timestamp, signature = (part.split("=", 1)[1] for part in headers["x-cj-signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    return json.loads(body)


def test_a_finished_batch_posts_a_signed_notice_without_essay_text(as_owner, receiver, django_capture_on_commit_callbacks):
    sent = essays(4)
    with django_capture_on_commit_callbacks(execute=True):
        created = as_owner.post("/api/v1/batches", {"essays": sent, "webhook_url": receiver.url}, format="json").json()
    assert len(receiver.calls) == 1
    headers, body = receiver.calls[0]
    notice = _verified(headers, body)
    assert headers["x-cj-event"] == "batch.finished" and headers["x-cj-batch-id"] == str(created["id"])
    assert notice["batch"]["id"] == created["id"] and notice["batch"]["state"] == "completed"
    assert notice["batch"]["results_url"] == f"/api/v1/batches/{created['id']}/results"
    assert not any(e["text"] in body.decode() for e in sent)
    attempts = Batch.objects.get(pk=created["id"]).processing_metadata["webhooks"]
    assert [(a["attempt"], a["delivered"], a["status"]) for a in attempts] == [(1, True, 204)]


def test_a_failed_delivery_is_retried_with_backoff_until_delivered(owner, receiver):
    from assessments import services

    receiver.statuses = [500, 503]

    batch = services.batch_create(owner=owner, request={"essays": essays(2)}, webhook_url=receiver.url)
    assert send_batch_webhook.apply(args=[batch.pk]).get() is True
    attempts = Batch.objects.get(pk=batch.pk).processing_metadata["webhooks"]
    assert [(a["attempt"], a.get("status"), a["delivered"]) for a in attempts] == [
        (1, 500, False),
        (2, 503, False),
        (3, 204, True),
    ]
    assert [webhooks.webhook_backoff_seconds(n) for n in range(9)] == [5, 10, 20, 40, 80, 160, 320, 600, 600]


def test_an_unreachable_receiver_is_given_up_after_the_last_attempt_without_breaking_anything(owner, monkeypatch):
    from assessments import services

    monkeypatch.setattr(send_batch_webhook, "max_retries", 2)
    batch = services.batch_create(owner=owner, request={"essays": essays(2)}, webhook_url="http://127.0.0.1:9/hook")
    assert send_batch_webhook.apply(args=[batch.pk]).get() is False
    attempts = Batch.objects.get(pk=batch.pk).processing_metadata["webhooks"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3] and all("error" in a for a in attempts)


def test_a_cancelled_batch_notifies_too_and_one_without_a_url_sends_nothing(
    owner, as_owner, receiver, django_capture_on_commit_callbacks
):
    from assessments import services

    with_hook = services.batch_create(owner=owner, request={"essays": essays(2)}, webhook_url=receiver.url)
    without = services.batch_create(owner=owner, request={"essays": essays(2)})
    with django_capture_on_commit_callbacks(execute=True):
        assert as_owner.post(f"/api/v1/batches/{without.pk}/cancel").status_code == 200
    assert receiver.calls == []
    with django_capture_on_commit_callbacks(execute=True):
        assert as_owner.post(f"/api/v1/batches/{with_hook.pk}/cancel").status_code == 200
    assert len(receiver.calls) == 1 and _verified(*receiver.calls[0])["batch"]["state"] == "cancelled"
