"""The webhooks' API: a secret shown once, rotated and revoked by its owner; the delivery log each
owner reads, and nobody else's (another user's id is a 404)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import _own_cache, client_for, error_of  # noqa: F401 - _own_cache: fresh throttle counters
from tests.conftest import essays
from webhooks import selectors, services
from webhooks.models import WebhookSecret

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_owner(owner):
    return client_for(owner)


@pytest.fixture
def as_other(other_user):
    return client_for(other_user)


def _notice(owner, url="https://school.example/hook?token=receivers-own", subject_id=7):
    return services.webhook_notice_send(
        owner=owner, url=url, event="batch.finished", subject_kind="batch", subject_id=subject_id, payload={"batch": {}}
    )


def test_a_secret_is_shown_once_at_creation_and_never_again(as_owner):
    created = as_owner.post("/api/v1/webhook-secrets", {}, format="json")
    assert created.status_code == 201, created.content
    value = created.json()["secret"]
    assert value.startswith("whsec_") and created["Location"] == f"/api/v1/webhook-secrets/{created.json()['id']}"
    listed = as_owner.get("/api/v1/webhook-secrets")
    one = as_owner.get(created["Location"])
    for response in (listed, one):
        assert response.status_code == 200 and value not in response.content.decode() and b'"secret"' not in response.content
    assert one.json()["prefix"] == value[:10] and one.json()["signing"] is True


def test_rotating_keeps_the_old_secret_signing_for_the_overlap_only(as_owner):
    first = as_owner.post("/api/v1/webhook-secrets", {}, format="json").json()
    as_owner.post("/api/v1/webhook-secrets", {"overlap_seconds": 3600}, format="json")
    old = as_owner.get(f"/api/v1/webhook-secrets/{first['id']}").json()
    assert old["signing"] is True
    ends = WebhookSecret.objects.get(pk=first["id"]).expires_at
    assert timedelta(minutes=59) < ends - timezone.now() <= timedelta(hours=1)
    as_owner.post("/api/v1/webhook-secrets", {"overlap_seconds": 0}, format="json")
    assert [s["signing"] for s in as_owner.get("/api/v1/webhook-secrets").json()] == [True, False, False]
    too_long = as_owner.post("/api/v1/webhook-secrets", {"overlap_seconds": 8 * 86400}, format="json")
    assert too_long.status_code == 400 and "overlap_seconds" in error_of(too_long)["fields"]


def test_a_secret_is_revoked_by_its_owner_only(as_owner, as_other, other_user, owner):
    mine = as_owner.post("/api/v1/webhook-secrets", {}, format="json").json()
    _, theirs_value = services.webhook_secret_create(owner=other_user)
    theirs = WebhookSecret.objects.get(owner=other_user)
    for method in ("get", "delete"):
        response = getattr(as_owner, method)(f"/api/v1/webhook-secrets/{theirs.pk}")
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert theirs_value not in as_owner.get("/api/v1/webhook-secrets").content.decode()
    assert as_owner.delete(f"/api/v1/webhook-secrets/{mine['id']}").status_code == 204
    assert as_owner.get(f"/api/v1/webhook-secrets/{mine['id']}").json()["signing"] is False
    assert selectors.webhook_secret_exists(owner=other_user)


def test_a_webhook_url_needs_the_owners_secret(as_owner):
    body = {"essays": essays(2), "webhook_url": "https://school.example/hook"}
    refused = as_owner.post("/api/v1/batches", body, format="json")
    assert refused.status_code == 400 and "webhook secret" in error_of(refused)["fields"]["webhook_url"][0]
    as_owner.post("/api/v1/webhook-secrets", {}, format="json")
    assert as_owner.post("/api/v1/batches", body, format="json").status_code == 201


def test_the_delivery_log_shows_each_attempt_and_hides_other_owners_notices(as_owner, owner, other_user, settings, monkeypatch):
    from cjproject import webhooks as sender

    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = []
    monkeypatch.setattr(sender.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.0.0.1", 443))])
    services.webhook_secret_create(owner=owner)
    mine = _notice(owner)
    services.webhook_delivery_attempt(delivery_id=mine.pk)  # school.example resolves to a private address: refused
    theirs = _notice(other_user, subject_id=8)

    listed = as_owner.get("/api/v1/webhook-deliveries").json()
    assert [d["id"] for d in listed["results"]] == [mine.pk]
    shown = listed["results"][0]
    assert shown["endpoint"] == "https://school.example/hook"  # never the query (the receiver's own token)
    assert "receivers-own" not in str(listed)
    assert (shown["event"], shown["subject_kind"], shown["subject_id"], shown["attempts"]) == ("batch.finished", "batch", 7, 1)
    attempt = shown["attempt_log"][0]
    assert (attempt["number"], attempt["error"], attempt["status_code"]) == (1, "refused_url", None)
    assert "10.0.0.1" not in str(listed)  # why it was refused stays on the server
    assert shown["status"] == "pending" and attempt["next_attempt_at"] == shown["next_attempt_at"] is not None

    assert as_owner.get(f"/api/v1/webhook-deliveries/{mine.pk}").json()["message_id"] == mine.message_id
    other = as_owner.get(f"/api/v1/webhook-deliveries/{theirs.pk}")
    assert other.status_code == 404 and error_of(other)["code"] == "not_found"
    assert as_owner.get("/api/v1/webhook-deliveries?batch=8").json()["results"] == []
    assert [d["id"] for d in as_owner.get("/api/v1/webhook-deliveries?batch=7&status=pending").json()["results"]] == [mine.pk]


@pytest.mark.parametrize("query", ["batch=x", "comparison=²", "status=lost"])
def test_a_bad_delivery_log_query_is_a_400_naming_the_field(as_owner, query):
    response = as_owner.get(f"/api/v1/webhook-deliveries?{query}")
    assert response.status_code == 400 and query.split("=")[0] in error_of(response)["fields"]


def test_the_webhook_api_needs_a_login():
    for path in ("/api/v1/webhook-secrets", "/api/v1/webhook-deliveries"):
        assert client_for(None).get(path).status_code == 401
