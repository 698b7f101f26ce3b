"""Signed webhooks, for both apps: the signature (`X-CJ-Signature`) and the one POST that sends them.

`X-CJ-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body" with LLM_WEBHOOK_SECRET>`. The
gateway's comparison notices and the batches' `batch.finished` notices are sent through here.

The SSRF guard: a URL's host is resolved at send time and every address it resolves to must be a
public one (no loopback, private, link-local, multicast, reserved or unspecified address, IPv4
mapped into IPv6 included) unless `CJ_WEBHOOK_ALLOWED_NETWORKS` lists it; the POST goes to the
address that was checked (no second lookup for DNS to change), and a redirect is never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
import urllib.error
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

# Seconds a receiver has to answer one notice.
WEBHOOK_TIMEOUT_SECONDS = 10


def webhook_signature(*, body: bytes, timestamp: str) -> str:
    """HMAC-SHA256 of `timestamp.body` with `LLM_WEBHOOK_SECRET`, hex: `X-CJ-Signature: t=..,v1=..`."""
    digest = hmac.new(settings.LLM_WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


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


def webhook_post(*, url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> int:
    """POST `payload` as compact JSON, signed (`X-CJ-Signature`), with the caller's headers.

    Returns the HTTP status of a 2xx answer; raises `urllib.error.HTTPError` for any other answer
    (a redirect is not followed: the signature goes to the URL given and nowhere else), `OSError`
    when the receiver cannot be reached and `UnsafeWebhookURL` (a ValueError) for a refused URL.
    """
    host, port, address = webhook_url_check(url)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload, separators=(",", ":")).encode()
    signed = {"X-CJ-Signature": webhook_signature(body=body, timestamp=str(int(time.time())))}
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, str(address), timeout)
    try:
        connection.request("POST", target, body=body, headers={"Content-Type": "application/json", **signed, **headers})
        response = connection.getresponse()
        status = int(response.status)
        response.read(65536)  # a receiver's answer is not used; read a little so the connection closes cleanly
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise urllib.error.HTTPError(url, status, f"webhook answered {status}", Message(), None)
    return status
