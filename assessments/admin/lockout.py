"""Admin login lockout: after `ADMIN_LOGIN_MAX_FAILURES` failed logins for one username from one
client address, that pair is refused (429) for `ADMIN_LOGIN_LOCKOUT_SECONDS`. Counters are atomic
cache counters (Redis when there is one), so every web process sees the same count."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import BaseThrottle


def _key(request: HttpRequest) -> str:
    username = str(request.POST.get("username", "")).strip().lower()
    # The client address as the API's throttles see it (X-Forwarded-For only behind trusted proxies).
    who = f"{username}|{BaseThrottle().get_ident(request)}"  # type: ignore[arg-type]
    return "admin-login-failures:" + hashlib.sha256(who.encode()).hexdigest()


def locked_login(login: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def view(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method != "POST":
            return login(request, extra_context)
        key = _key(request)
        if (cache.get(key) or 0) >= settings.ADMIN_LOGIN_MAX_FAILURES:
            minutes = max(1, settings.ADMIN_LOGIN_LOCKOUT_SECONDS // 60)
            return HttpResponse(
                f"Too many failed logins for this username from your address: try again in {minutes} minutes.",
                status=429,
                content_type="text/plain; charset=utf-8",
                headers={"Retry-After": str(settings.ADMIN_LOGIN_LOCKOUT_SECONDS)},
            )
        response = login(request, extra_context)
        if not request.user.is_authenticated:  # the form came back: a failed login
            cache.add(key, 0, timeout=settings.ADMIN_LOGIN_LOCKOUT_SECONDS)
            cache.incr(key)
        return response

    return view


admin.site.login = locked_login(admin.site.login)  # type: ignore[method-assign]
