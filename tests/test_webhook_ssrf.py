"""Issue #13, finding 5: the SSRF guard of every outbound webhook (cjproject.webhooks): resolved
at send time, no loopback/private/link-local/multicast/reserved/unspecified address in any
spelling, no credentials, no redirect followed; listed networks allowed by the operator."""

from __future__ import annotations

from typing import Any

import pytest

from cjproject import webhooks
from cjproject.webhooks import UnsafeWebhookURL, webhook_post, webhook_url_check, webhook_url_refusal

SECRET = "whsec_" + "c2VjcmV0LWtleS1vZi10aGUtdGVzdHM="

REFUSED = [
    "http://127.0.0.1:6379/",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://127.1/hook",
    "http://0.0.0.0/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://user:pass@example.org/hook",
    "ftp://example.org/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_finding_5_internal_addresses_in_any_spelling_are_refused_at_registration_and_at_send_time(url, settings):
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = []
    assert webhook_url_refusal(url)
    with pytest.raises(UnsafeWebhookURL):
        webhook_url_check(url)


def test_finding_5_a_name_that_resolves_to_a_private_address_is_refused_when_sent(monkeypatch, settings):
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = []
    monkeypatch.setattr(
        webhooks.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.216.34", 443)), (2, 1, 6, "", ("10.1.2.3", 443))]
    )
    assert webhook_url_refusal("https://rebinding.example/hook") is None  # a name: checked when sent
    with pytest.raises(UnsafeWebhookURL, match=r"10\.1\.2\.3 is a private address"):
        webhook_post(url="https://rebinding.example/hook", body=b"{}", message_id="msg_1", secrets=[SECRET])


def test_finding_5_a_public_address_passes(monkeypatch, settings):
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = []
    monkeypatch.setattr(webhooks.socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.216.34", 443))])
    assert webhook_url_check("https://school.example/hook")[1:] == (443, webhooks.ipaddress.ip_address("93.184.216.34"))


def test_finding_5_a_loopback_receiver_is_reached_only_when_the_operator_allows_it(serve, settings):
    receiver = serve()  # the fixture allows loopback; this test takes that back first
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(UnsafeWebhookURL):
        webhook_post(url=receiver.url, body=b'{"a":1}', message_id="msg_1", secrets=[SECRET])
    assert receiver.calls == []
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert webhook_post(url=f"{receiver.url}?x=1", body=b'{"a":1}', message_id="msg_1", secrets=[SECRET]) == 204
    assert receiver.calls[0][0] == "/hook?x=1"


def test_finding_5_a_redirect_is_not_followed_and_the_signature_goes_nowhere_else(serve):
    import urllib.error

    elsewhere = serve()
    redirecting = serve([302], location=f"{elsewhere.url}/stolen")
    with pytest.raises(urllib.error.HTTPError) as answered:
        webhook_post(url=redirecting.url, body=b'{"a":1}', message_id="msg_1", secrets=[SECRET])
    assert answered.value.code == 302
    assert len(redirecting.calls) == 1 and elsewhere.calls == []


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/batches", "/api/v1/comparison"])
def test_finding_5_both_apis_refuse_an_internal_webhook_url_with_a_400(path, settings, owner):
    from rest_framework.test import APIClient

    from webhooks.services import webhook_secret_create

    webhook_secret_create(owner=owner)
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = []
    client = APIClient()
    client.force_authenticate(owner)
    body: dict[str, Any] = {"webhook_url": "http://169.254.169.254/latest/meta-data/"}
    if path.endswith("batches"):
        body["essays"] = [{"id": "a", "text": "one"}, {"id": "b", "text": "two"}]
    else:
        from tests.llmgateway.test_api import BODY

        body = {**BODY, **body}
    response = client.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert "link-local" in response.json()["error"]["fields"]["webhook_url"][0]
