"""Writes of the webhooks app: secrets (created, rotated, revoked) and notices (stored, attempted,
retried under the one retry policy).

A notice is stored with its body when it is handed over (`webhook_notice_send`) and delivered by
the `webhooks.deliver` task on the `llm_batch` queue once the caller's transaction commits. Each
attempt is claimed with a conditional UPDATE, signed with the owner's live secrets, sent through
the SSRF guard and recorded; anything but a 2xx is tried again after `webhook_retry_delay`, up to
`CJ_WEBHOOK_MAX_ATTEMPTS` attempts in all. Beat's `webhooks.resend` sends again a notice whose
next attempt is long overdue (a lost task message, a worker killed during an attempt).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import secrets
import ssl
import time
import urllib.error
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cjproject.webhooks import SECRET_PREFIX, WEBHOOK_TIMEOUT_SECONDS, UnsafeWebhookURL, webhook_post
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSecret
from webhooks.selectors import webhook_signing_secrets

logger = logging.getLogger(__name__)

# An attempt in progress holds its notice this long (the POST times out well before): the sweep
# sends again only notices whose attempt is overdue by more, those of a lost task or a dead worker.
ATTEMPT_LEASE = timedelta(seconds=WEBHOOK_TIMEOUT_SECONDS * 6)
# How long the secrets a rotation replaces keep signing, unless the caller says otherwise.
ROTATION_OVERLAP = timedelta(hours=24)
ROTATION_OVERLAP_MAX = timedelta(days=7)
SECRET_BYTES = 32
SHOWN_PREFIX_CHARS = len(SECRET_PREFIX) + 4


# --- Secrets ------------------------------------------------------------------------------------


def webhook_secret_create(*, owner: Any, overlap: timedelta = ROTATION_OVERLAP) -> tuple[WebhookSecret, str]:
    """A new secret for `owner`, returned with its value: the only time the value leaves the server.

    The owner's other secrets keep signing for `overlap` (notices carry a signature by each, so a
    receiver can switch at leisure), then expire; `overlap` 0 stops them now (a leaked secret)."""
    if not timedelta(0) <= overlap <= ROTATION_OVERLAP_MAX:
        raise ValueError(f"overlap: from 0 to {ROTATION_OVERLAP_MAX}")
    value = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    ends = timezone.now() + overlap
    with transaction.atomic():
        WebhookSecret.objects.filter(owner=owner).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=ends)).update(
            expires_at=ends
        )
        secret = WebhookSecret.objects.create(owner=owner, secret=value, prefix=value[:SHOWN_PREFIX_CHARS])
    logger.info(
        "Webhook secret created", extra={"owner_id": owner.pk, "secret_id": secret.pk, "overlap_s": overlap.total_seconds()}
    )
    return secret, value


def webhook_secret_revoke(*, secret: WebhookSecret) -> None:
    """Stop a secret signing now (notices are then signed by the owner's others, if any)."""
    now = timezone.now()
    WebhookSecret.objects.filter(pk=secret.pk).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).update(expires_at=now)
    logger.info("Webhook secret revoked", extra={"owner_id": secret.owner_id, "secret_id": secret.pk})


# --- Notices ------------------------------------------------------------------------------------


def webhook_notice_send(
    *, owner: Any, url: str, event: str, subject_kind: str, subject_id: int, payload: dict[str, Any]
) -> WebhookDelivery:
    """Store a notice (its body fixed now) and deliver it once the current transaction commits."""
    delivery = WebhookDelivery.objects.create(
        owner=owner,
        message_id="msg_" + secrets.token_urlsafe(18),
        event=event,
        subject_kind=subject_kind,
        subject_id=subject_id,
        url=url,
        body=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        next_attempt_at=timezone.now(),
    )
    from webhooks.tasks import webhook_deliver

    # On the gateway's housekeeping queue (llm_batch): a slow receiver never holds up a round.
    transaction.on_commit(lambda: webhook_deliver.delay(delivery.pk))
    return delivery


def webhook_retry_delay(attempt: int) -> int:
    """Seconds from failed attempt `attempt` (from 1) to the next: CJ_WEBHOOK_RETRY_BASE_SECONDS,
    doubling each time, at most CJ_WEBHOOK_RETRY_MAX_SECONDS."""
    doubled = settings.CJ_WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(max(attempt - 1, 0), 30)
    return int(min(settings.CJ_WEBHOOK_RETRY_MAX_SECONDS, doubled))


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """One signed POST of the notice: (HTTP status, "") or (None, the error category)."""
    signing = webhook_signing_secrets(owner_id=delivery.owner_id)
    if not signing:
        return None, "no_secret"
    try:
        status = webhook_post(
            url=delivery.url,
            body=delivery.body.encode(),
            message_id=delivery.message_id,
            secrets=signing,
            headers={"X-CJ-Event": delivery.event},
        )
    except urllib.error.HTTPError as exc:  # an answer, but not a 2xx (a redirect included: never followed)
        return exc.code, ""
    except UnsafeWebhookURL:  # the SSRF guard: the reason (an address) stays in the server's hands
        return None, "refused_url"
    except TimeoutError:
        return None, "timeout"
    except ssl.SSLError:
        return None, "tls"
    except OSError:
        return None, "unreachable"
    except http.client.HTTPException:
        return None, "bad_response"
    return status, ""


def webhook_delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Make a pending notice's next attempt; returns the notice as it then stands, or None when
    there was nothing to do (delivered, given up, gone, or claimed by another worker).

    1. Claim attempt n+1 with a conditional UPDATE on (pending, n attempts): a redelivered task or
       a second worker changes nothing and sends nothing. The claim holds the notice for
       `ATTEMPT_LEASE` (its next attempt is due then if this worker dies).
    2. POST the stored body, signed with the owner's live secrets (none: error `no_secret`).
    3. Record the attempt. A 2xx: delivered. Otherwise the next attempt is due after
       `webhook_retry_delay(n+1)`, unless this was attempt `CJ_WEBHOOK_MAX_ATTEMPTS`: failed for good.
    """
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).first()
    if delivery is None:
        return None
    number = delivery.attempts + 1
    claimed = WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts)
    if not claimed.update(attempts=number, next_attempt_at=timezone.now() + ATTEMPT_LEASE):
        return None
    started = time.monotonic()
    status_code, error = _post(delivery)
    now = timezone.now()
    delivered = status_code is not None and 200 <= status_code < 300
    again = not delivered and number < settings.CJ_WEBHOOK_MAX_ATTEMPTS
    next_at = now + timedelta(seconds=webhook_retry_delay(number)) if again else None
    state = DeliveryStatus.DELIVERED if delivered else DeliveryStatus.PENDING if again else DeliveryStatus.FAILED
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            at=now,
            status_code=status_code,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
            delivered=delivered,
            next_attempt_at=next_at,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=state, next_attempt_at=next_at, finished_at=None if again else now
        )
    log = logger.info if delivered else logger.warning
    log(
        "Webhook attempt",
        extra={
            "delivery_id": delivery.pk,
            "event": delivery.event,
            "host": urlsplit(delivery.url).hostname,
            "attempt": number,
            "status_code": status_code,
            "error": error or None,
            "delivery_status": state,
            "next_attempt_at": next_at.isoformat() if next_at else None,
        },
    )
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_resend() -> list[int]:
    """Beat: send again the pending notices whose next attempt is overdue by more than
    `ATTEMPT_LEASE` (its task message was lost, or the worker died during an attempt; an attempt
    in progress is not overdue: its claim moved the time on). Returns their ids."""
    due = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=timezone.now() - ATTEMPT_LEASE)
    ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:500])
    from webhooks.tasks import webhook_deliver

    for pk in ids:
        webhook_deliver.delay(pk)
    if ids:
        logger.warning("Overdue webhook notices sent again", extra={"count": len(ids)})
    return ids
