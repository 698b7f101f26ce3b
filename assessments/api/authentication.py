"""`Authorization: Token <key>` against hashed tokens (`assessments.services.tokens`); failed
attempts are counted per client address (an atomic counter in the cache) and answered 429 past
`API_AUTH_FAILURES_PER_MINUTE`, so keys cannot be guessed at the request rate."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from assessments.services.tokens import api_token_check

WINDOW_SECONDS = 60


def _failures_key(request: Request) -> str:
    # The client address as DRF's throttles see it: X-Forwarded-For only behind API_TRUSTED_PROXY_COUNT proxies.
    window = int(time.time()) // WINDOW_SECONDS
    return f"api-auth-failures:{BaseThrottle().get_ident(request)}:{window}"


class HashedTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        key = _failures_key(request)
        if (cache.get(key) or 0) >= settings.API_AUTH_FAILURES_PER_MINUTE:
            raise exceptions.Throttled(wait=WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
            cache.incr(key)  # atomic in Redis and in the local-memory cache
            raise

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token = api_token_check(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("user inactive or deleted")
        return token.user, token
