"""Webhook fixtures: the owners' secrets, and a Standard Webhooks verifier written from the spec
(the local receivers, `serve` and `receiver`, are tests/conftest.py's)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest


@pytest.fixture
def owner_secret(owner: Any) -> str:
    from webhooks import services

    return services.webhook_secret_create(owner=owner)[1]


@pytest.fixture
def other_secret(other_user: Any) -> str:
    from webhooks import services

    return services.webhook_secret_create(owner=other_user)[1]


def standard_webhooks_verify(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What a receiver does, from the Standard Webhooks spec: HMAC-SHA256 of `id.timestamp.body`
    with the base64-decoded secret, compared with each `v1,` signature of the header."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.split(",", 1) for part in headers["webhook-signature"].split()]
    if not any(version == "v1" and hmac.compare_digest(expected, signature) for version, signature in given):
        raise AssertionError("no valid signature")
    return json.loads(body)
