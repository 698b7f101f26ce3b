"""API tokens: created (the key shown once), revoked, checked; stored as a SHA-256 digest only.

A key is 40 random bytes (URL-safe base64, `cj_` before it); a digest of that much randomness
needs no salt or slow hash (no dictionary reaches it), and lets a request be checked with one
indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone

from assessments.models import ApiToken

KEY_PREFIX = "cj_"
SHOWN_PREFIX_CHARS = 10
# last_used_at is written at most this often per token (not one UPDATE per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: User, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token of `user`; returns it and its key (the only time the key exists in clear)."""
    key = KEY_PREFIX + secrets.token_urlsafe(40)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:SHOWN_PREFIX_CHARS], digest=token_digest(key), expires_at=expires_at
    )
    return token, key


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_check(*, key: str) -> ApiToken | None:
    """The live token with this key (not revoked, not expired), its last use noted; None otherwise."""
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(key), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
