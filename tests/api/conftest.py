"""Personas of the REST API as clients: the owner, another user, staff and an anonymous caller.

Each test starts with empty throttle counters (an in-memory cache of its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _own_cache(settings: Any) -> Iterator[None]:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-tests"}}
    cache.clear()
    yield
    cache.clear()


def client_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def as_owner(owner: Any) -> APIClient:
    return client_for(owner)


@pytest.fixture
def as_other(other_user: Any) -> APIClient:
    return client_for(other_user)


@pytest.fixture
def as_staff(staff: Any) -> APIClient:
    return client_for(staff)


@pytest.fixture
def as_anonymous() -> APIClient:
    return client_for(None)


def error_of(response: Any) -> dict[str, Any]:
    """The one error shape, checked: code, message and fields, nothing else."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


@pytest.fixture
def finished_batch(django_capture_on_commit_callbacks: Any) -> Any:
    """Run a batch to its end, tasks in process (the on-commit sends executed as they come)."""
    from tests.conftest import run_batch

    def run(owner: Any, **request: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            batch = run_batch(owner, **request)
        batch.refresh_from_db()
        return batch

    return run
