"""Issue #13, finding 7: API tokens hashed at rest, with names, expiry, last use and revocation;
the key is shown once (command, admin) and never again."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from assessments import services
from assessments.models import ApiToken
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_finding_7_a_token_is_stored_as_a_digest_never_in_clear(owner):
    token, key = services.api_token_create(user=owner, name="school platform")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {str(value) for value in ApiToken.objects.values().get(pk=token.pk).values()}
    assert key.startswith(stored.prefix) and len(stored.prefix) < len(key) // 3


def test_finding_7_a_token_authenticates_and_notes_its_last_use(owner):
    token, key = services.api_token_create(user=owner, name="school platform")
    assert _client(key).get("/api/v1/batches").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_finding_7_a_revoked_or_expired_token_is_refused(owner):
    revoked, revoked_key = services.api_token_create(user=owner, name="old")
    services.api_token_revoke(token=revoked)
    _, expired_key = services.api_token_create(user=owner, name="short", expires_at=timezone.now() - timedelta(seconds=1))
    for key in (revoked_key, expired_key):
        response = _client(key).get("/api/v1/batches")
        assert response.status_code == 401 and error_of(response)["code"] == "authentication_failed"


def test_finding_7_the_command_prints_a_new_key_each_time_and_never_an_old_one(owner):
    keys = []
    for _ in range(2):
        out, err = StringIO(), StringIO()
        call_command("create_api_token", "owner", "--name", "lms", "--expires-days", "30", stdout=out, stderr=err)
        keys.append(out.getvalue().strip())
        assert keys[-1] not in err.getvalue()
    assert keys[0] != keys[1]
    assert ApiToken.objects.filter(user=owner, name="lms", expires_at__isnull=False).count() == 2


def test_finding_7_the_admin_shows_a_new_key_once_and_never_lists_keys(django_user_model, owner):
    admin = django_user_model.objects.create_superuser(username="root", password="root-pass-123")
    client = APIClient()
    client.force_login(admin)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404  # DRF's page of plain keys is gone
    added = client.post("/admin/assessments/apitoken/add/", {"user": owner.pk, "name": "lms"}, follow=True)
    assert added.status_code == 200
    token = ApiToken.objects.get(user=owner, name="lms")
    shown = [str(m) for m in added.context["messages"]]
    key = next(m.rsplit(" ", 1)[1] for m in shown if "shown this once" in m)
    assert hashlib.sha256(key.encode()).hexdigest() == token.digest
    assert _client(key).get("/api/v1/batches").status_code == 200
    for page in ("/admin/assessments/apitoken/", f"/admin/assessments/apitoken/{token.pk}/change/"):
        body = client.get(page).content.decode()
        assert token.prefix in body and key not in body and token.digest not in body


def test_finding_7_plain_tokens_are_hashed_by_the_migration(owner):
    from importlib import import_module

    from django.apps import apps
    from rest_framework.authtoken.models import Token

    plain = Token.objects.create(user=owner)
    import_module("assessments.migrations.0005_api_tokens").hash_plain_tokens(apps, None)
    assert not Token.objects.exists()
    assert _client(plain.key).get("/api/v1/batches").status_code == 200
