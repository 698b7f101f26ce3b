"""Reads of the webhooks app: the secrets that sign an owner's notices, and what an owner may see."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db.models import Q, QuerySet
from django.utils import timezone

from cjproject.webhooks import webhook_url_refusal
from webhooks.models import WebhookDelivery, WebhookSecret

# Signatures one notice carries at most (the newest secret and those still in a rotation's overlap).
MAX_SIGNATURES = 3


def webhook_secrets_live(*, owner_id: int) -> QuerySet[WebhookSecret]:
    """The owner's secrets that sign now, newest first."""
    now = timezone.now()
    return WebhookSecret.objects.filter(owner_id=owner_id).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def webhook_signing_secrets(*, owner_id: int) -> list[str]:
    """The secrets a notice of this owner is signed with now (empty: the owner has none)."""
    return list(
        webhook_secrets_live(owner_id=owner_id).order_by("-created_at", "-id").values_list("secret", flat=True)[:MAX_SIGNATURES]
    )


def webhook_secret_exists(*, owner: Any) -> bool:
    """Whether the owner's notices can be signed (a URL is accepted only then)."""
    return webhook_secrets_live(owner_id=owner.pk).exists()


def webhook_secrets_visible(*, user: Any) -> QuerySet[WebhookSecret]:
    """The user's own secrets (superusers: everyone's); never their values in a response."""
    return WebhookSecret.objects.all() if user.is_superuser else WebhookSecret.objects.filter(owner=user)


def webhook_notice_exists(*, subject_kind: str, subject_id: int, event: str) -> bool:
    """Whether this notice was already made (a result delivered twice notifies once)."""
    return WebhookDelivery.objects.filter(subject_kind=subject_kind, subject_id=subject_id, event=event).exists()


def webhook_deliveries_visible(*, user: Any) -> QuerySet[WebhookDelivery]:
    """The user's own notices (superusers: everyone's), with their attempts."""
    deliveries = WebhookDelivery.objects.all() if user.is_superuser else WebhookDelivery.objects.filter(owner=user)
    return deliveries.prefetch_related("attempt_log")


def webhook_endpoint(url: str) -> str:
    """A URL as the log shows it: scheme, host, port and path; never a query (it may hold the
    receiver's own token) nor credentials (refused anyway)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a port number: URLs are checked when registered, so never in practice
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def webhook_registration_refusal(*, owner: Any, url: str) -> str | None:
    """Why a webhook URL is refused for this owner now (None: accepted): the owner has no secret
    to sign with, or the URL fails the registration check of the SSRF guard."""
    if not webhook_secret_exists(owner=owner):
        return (
            "you have no webhook secret to sign your notices with: create one first "
            "(POST /api/v1/webhook-secrets; it is shown once)"
        )
    return webhook_url_refusal(url)
