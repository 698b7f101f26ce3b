"""`Authorization: Token <key>` against hashed tokens (`assessments.services.tokens`)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from assessments.services.tokens import api_token_check


class HashedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token = api_token_check(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("user inactive or deleted")
        return token.user, token
