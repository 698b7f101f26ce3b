"""Webhooks in the graders' admin: a secret shown once, when added, and never again; the delivery
log, each grader seeing only their own notices."""

from __future__ import annotations

import re

import pytest

from webhooks import services
from webhooks.models import WebhookSecret
from webhooks.selectors import webhook_secret_exists

pytestmark = pytest.mark.django_db


def _notice(owner, subject_id):
    return services.webhook_notice_send(
        owner=owner,
        url="https://school.example/hook",
        event="batch.finished",
        subject_kind="batch",
        subject_id=subject_id,
        payload={"batch": {"id": subject_id}},
    )


def test_the_admin_shows_a_new_secret_once_and_never_again(grader, grader_client):
    added = grader_client.post("/admin/webhooks/webhooksecret/add/", {"overlap_hours": 24}, follow=True)
    assert added.status_code == 200
    shown = re.search(r"whsec_[A-Za-z0-9+/=]+", added.content.decode())
    assert shown, "the new secret is shown once"
    secret = WebhookSecret.objects.get(owner=grader)
    assert secret.secret == shown.group(0)
    for page in ("/admin/webhooks/webhooksecret/", f"/admin/webhooks/webhooksecret/{secret.pk}/change/"):
        response = grader_client.get(page)
        assert response.status_code == 200 and secret.secret not in response.content.decode()
        assert secret.prefix in response.content.decode()


def test_a_grader_sees_only_their_own_secrets_and_deliveries(grader, other_grader, grader_client):
    services.webhook_secret_create(owner=other_grader)
    theirs_secret = WebhookSecret.objects.get(owner=other_grader)
    mine, theirs = _notice(grader, 11), _notice(other_grader, 12)

    listed = grader_client.get("/admin/webhooks/webhookdelivery/").content.decode()
    assert "batch 11" in listed and "batch 12" not in listed
    assert grader_client.get(f"/admin/webhooks/webhookdelivery/{mine.pk}/change/").status_code == 200
    for page in (
        f"/admin/webhooks/webhookdelivery/{theirs.pk}/change/",
        f"/admin/webhooks/webhooksecret/{theirs_secret.pk}/change/",
    ):
        assert grader_client.get(page, follow=True).redirect_chain, page  # "does not exist": back to the list
    assert theirs_secret.prefix not in grader_client.get("/admin/webhooks/webhooksecret/").content.decode()


def test_the_revoke_action_stops_a_secret(grader, grader_client):
    secret, _ = services.webhook_secret_create(owner=grader)
    response = grader_client.post(
        "/admin/webhooks/webhooksecret/", {"action": "revoke", "_selected_action": [secret.pk]}, follow=True
    )
    assert response.status_code == 200
    assert not webhook_secret_exists(owner=grader)
