"""Signed webhooks, for both apps: the signature (`X-CJ-Signature`) and the one POST that sends them.

`X-CJ-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" with LLM_WEBHOOK_SECRET>`. The
gateway's comparison notices and the batches' `batch.finished` notices are sent through here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from typing import Any

from django.conf import settings

# Seconds a receiver has to answer one notice.
WEBHOOK_TIMEOUT_SECONDS = 10


def webhook_signature(*, body: bytes, timestamp: str) -> str:
    """HMAC-SHA256 of `timestamp.body` with `LLM_WEBHOOK_SECRET`, hex: `X-CJ-Signature: t=..,v1=..`."""
    digest = hmac.new(settings.LLM_WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_post(*, url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> int:
    """POST `payload` as compact JSON, signed (`X-CJ-Signature`), with the caller's headers.

    Returns the HTTP status; raises `urllib.error.HTTPError` for a 4xx/5xx answer and `OSError`
    when the receiver cannot be reached.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    signed = {"X-CJ-Signature": webhook_signature(body=body, timestamp=str(int(time.time())))}
    notice = urllib.request.Request(  # noqa: S310 - the URL was validated as http(s) at intake
        url, data=body, method="POST", headers={"Content-Type": "application/json", **signed, **headers}
    )
    with urllib.request.urlopen(notice, timeout=timeout) as response:  # noqa: S310
        return int(response.status)
