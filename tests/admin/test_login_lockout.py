"""Issue #13, finding 7: the admin login locks a username out from one address after repeated failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_cache(settings: Any) -> Iterator[None]:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "lockout-tests"}}
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    cache.clear()
    yield
    cache.clear()


def _login(client: Client, password: str, username: str = "root") -> int:
    return client.post("/admin/login/", {"username": username, "password": password}).status_code


def test_finding_7_wrong_admin_passwords_lock_the_username_out_from_that_address(django_user_model):
    django_user_model.objects.create_superuser(username="root", password="root-pass-123")
    client = Client(REMOTE_ADDR="203.0.113.5")
    assert [_login(client, "wrong") for _ in range(4)] == [200, 200, 200, 429]
    assert _login(client, "root-pass-123") == 429  # even the right password, until the lockout ends
    assert _login(Client(REMOTE_ADDR="203.0.113.6"), "root-pass-123") == 302  # another address is not locked


def test_finding_7_a_successful_login_is_not_counted(django_user_model):
    django_user_model.objects.create_superuser(username="root", password="root-pass-123")
    for _ in range(5):
        client = Client(REMOTE_ADDR="203.0.113.5")
        assert _login(client, "root-pass-123") == 302
