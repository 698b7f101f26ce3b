"""The notice a batch's URL receives when it finishes, through the API; signing, retries and the
delivery log are tested in tests/webhooks."""

from __future__ import annotations

import pytest

from tests.conftest import Receiver, essays
from tests.webhooks.conftest import standard_webhooks_verify
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def test_a_finished_batch_created_over_the_api_posts_a_signed_notice(as_owner, serve, django_capture_on_commit_callbacks):
    receiver: Receiver = serve()
    secret = as_owner.post("/api/v1/webhook-secrets", {}, format="json").json()["secret"]
    with django_capture_on_commit_callbacks(execute=True):
        created = as_owner.post("/api/v1/batches", {"essays": essays(4), "webhook_url": receiver.url}, format="json").json()
    _, headers, body = receiver.calls[0]
    notice = standard_webhooks_verify(secret, headers, body)
    assert notice["batch"]["id"] == created["id"] and notice["batch"]["state"] == "completed"
    assert notice["batch"]["results_url"] == f"/api/v1/batches/{created['id']}/results"
    log = as_owner.get(f"/api/v1/webhook-deliveries?batch={created['id']}").json()["results"]
    assert [(d["status"], d["attempts"], d["attempt_log"][0]["status_code"]) for d in log] == [("delivered", 1, 204)]


def test_a_cancelled_batch_notifies_too_and_one_without_a_url_sends_nothing(
    owner, as_owner, serve, django_capture_on_commit_callbacks
):
    from assessments import services
    from webhooks import services as hooks

    receiver: Receiver = serve()
    secret = hooks.webhook_secret_create(owner=owner)[1]
    with_hook = services.batch_create(owner=owner, request={"essays": essays(2)}, webhook_url=receiver.url)
    without = services.batch_create(owner=owner, request={"essays": essays(2)})
    with django_capture_on_commit_callbacks(execute=True):
        assert as_owner.post(f"/api/v1/batches/{without.pk}/cancel").status_code == 200
    assert receiver.calls == [] and not WebhookDelivery.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert as_owner.post(f"/api/v1/batches/{with_hook.pk}/cancel").status_code == 200
    _, headers, body = receiver.calls[0]
    assert standard_webhooks_verify(secret, headers, body)["batch"]["state"] == "cancelled"
