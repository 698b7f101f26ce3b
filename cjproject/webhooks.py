"""Signed webhooks, for both apps: the signature (Standard Webhooks) and the one POST that sends them.

Every notice carries the three headers of the Standard Webhooks spec, so that a receiver can check
it with an existing library (`standardwebhooks`, `svix`) or by hand:

    webhook-id: msg_...                 (the same on every retry of one notice: deduplicate on it)
    webhook-timestamp: <unix seconds>   (of this attempt: refuse one too old, e.g. 5 minutes)
    webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">

The key is the owner's secret, `whsec_<base64 of the key bytes>`; during a rotation the notice is
signed with each live secret (space-separated signatures), so a receiver holding either verifies
it. Secrets, deliveries and retries are the `webhooks` app's; the gateway's comparison notices and
the batches' `batch.finished` notices are both sent through `webhook_post`.

The SSRF guard: a URL's host is resolved at send time and every address it resolves to must be a
public one (no loopback, private, link-local, multicast, reserved or unspecified address, IPv4
mapped into IPv6 included) unless `CJ_WEBHOOK_ALLOWED_NETWORKS` lists it; the POST goes to the
address that was checked (no second lookup for DNS to change), and a redirect is never followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
import urllib.error
from collections.abc import Sequence
from email.message import Message
from urllib.parse import urlsplit

from django.conf import settings

# Seconds a receiver has to answer one notice.
WEBHOOK_TIMEOUT_SECONDS = 10


SECRET_PREFIX = "whsec_"  # noqa: S105 - the format of a secret, not one
USER_AGENT = "cj-service-webhooks/1"


def webhook_secret_key(secret: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def webhook_signature(*, secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each
    secret, space-separated (Standard Webhooks)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(webhook_secret_key(secret), signed, hashlib.sha256).digest()).decode()
        for secret in secrets
    )


class UnsafeWebhookURL(ValueError):
    """A webhook URL the server refuses to call: the message says why (never sent to the receiver)."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.CJ_WEBHOOK_ALLOWED_NETWORKS]


def _refusal(address: IPAddress) -> str | None:
    """Why this address may not receive a webhook (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _allowed_networks()):
        return None
    for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):  # most specific first
        if getattr(address, f"is_{kind}"):
            return f"{address} is a {kind.replace('_', '-')} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself: `::1`, `10.0.0.1`, and the odd IPv4 forms the C resolver
    accepts (`2130706433`, `0x7f000001`, `127.1`); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def webhook_url_refusal(url: str) -> str | None:
    """Why a webhook URL is refused at registration, without a DNS lookup (None: accepted for now).

    The send-time check (`webhook_url_check`) is the one that counts: a name's addresses can change."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http or https URL with a host"
    if parts.username is not None or parts.password is not None:
        return "credentials in a webhook URL are refused"
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "localhost is a loopback address"
    address = _literal_address(host)
    return _refusal(address) if address is not None else None


def webhook_url_check(url: str) -> tuple[str, int, IPAddress]:
    """Check a webhook URL and resolve it now: (host, port, the one address to connect to).

    Raises `UnsafeWebhookURL` for another scheme than http(s), credentials in the URL, or a host
    that resolves to any address `_refusal` refuses (all of them are checked: a host with one
    private address among public ones is refused)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookURL("an http or https URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookURL("credentials in a webhook URL are refused")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise UnsafeWebhookURL(f"the host does not resolve ({type(exc).__name__})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        if (reason := _refusal(address)) is not None:
            raise UnsafeWebhookURL(f"{reason} (CJ_WEBHOOK_ALLOWED_NETWORKS allows listed networks)")
    return parts.hostname, port, addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address, whatever the host name resolves to by then."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def webhook_post(
    *,
    url: str,
    body: bytes,
    message_id: str,
    secrets: Sequence[str],
    headers: dict[str, str] | None = None,
    timeout: float = WEBHOOK_TIMEOUT_SECONDS,
) -> int:
    """POST `body` (JSON) to `url`, signed with `secrets` (Standard Webhooks), with the caller's headers.

    The URL passes the SSRF guard first (`webhook_url_check`: resolved now, every address public
    unless allowed, the connection made to the checked address). Returns the HTTP status of a 2xx
    answer; raises `urllib.error.HTTPError` for any other answer (a redirect is not followed: the
    signature goes to the URL given and nowhere else), `OSError` when the receiver cannot be
    reached and `UnsafeWebhookURL` (a ValueError) for a refused URL.
    """
    if not secrets:
        raise ValueError("a webhook is never sent unsigned")
    host, port, address = webhook_url_check(url)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timestamp = int(time.time())
    signed = {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(secrets=secrets, message_id=message_id, timestamp=timestamp, body=body),
    }
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, str(address), timeout)
    try:
        sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {}), **signed}
        connection.request("POST", target, body=body, headers=sent)
        response = connection.getresponse()
        status = int(response.status)
        response.read(65536)  # a receiver's answer is not used; read a little so the connection closes cleanly
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise urllib.error.HTTPError(url, status, f"webhook answered {status}", Message(), None)
    return status
