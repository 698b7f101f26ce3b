"""Issue #13, finding 6: notices follow the Standard Webhooks spec and are signed with the
owner's own secret, by one sender for both apps."""

from __future__ import annotations

import pytest

from cjproject.webhooks import webhook_post, webhook_signature
from tests.webhooks.conftest import standard_webhooks_verify
from webhooks import selectors, services

pytestmark = pytest.mark.django_db

# The example of the Standard Webhooks spec (and of its reference libraries' tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_follows_standard_webhooks(receiver, owner, owner_secret):
    assert (
        webhook_signature(secrets=[SPEC_SECRET], message_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY) == SPEC_SIGNATURE
    )

    assert webhook_post(url=receiver.url, body=b'{"a":1}', message_id="msg_1", secrets=[owner_secret]) == 204
    _, headers, body = receiver.calls[0]
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"].startswith("v1,") and "x-cj-signature" not in headers
    assert headers["content-type"] == "application/json"
    assert standard_webhooks_verify(owner_secret, headers, body) == {"a": 1}


def test_a_secret_is_whsec_and_base64_of_32_random_bytes(owner):
    import base64

    secret, value = services.webhook_secret_create(owner=owner)
    assert value.startswith("whsec_") and len(base64.b64decode(value.removeprefix("whsec_"))) == 32
    assert secret.prefix == value[:10] and value != services.webhook_secret_create(owner=owner)[1]


def test_a_notice_is_never_sent_unsigned(receiver):
    with pytest.raises(ValueError, match="unsigned"):
        webhook_post(url=receiver.url, body=b"{}", message_id="msg_1", secrets=[])
    assert receiver.calls == []


def test_during_a_rotation_notices_carry_a_signature_by_the_old_and_the_new_secret(receiver, owner):
    _, old = services.webhook_secret_create(owner=owner)
    _, new = services.webhook_secret_create(owner=owner)  # the old one signs for a day more
    assert selectors.webhook_signing_secrets(owner_id=owner.pk) == [new, old]
    webhook_post(url=receiver.url, body=b"{}", message_id="msg_1", secrets=selectors.webhook_signing_secrets(owner_id=owner.pk))
    _, headers, body = receiver.calls[0]
    assert len(headers["webhook-signature"].split()) == 2
    standard_webhooks_verify(old, headers, body)
    standard_webhooks_verify(new, headers, body)


def test_a_rotation_without_overlap_or_a_revocation_stops_the_old_secret_at_once(owner):
    from datetime import timedelta

    first, _ = services.webhook_secret_create(owner=owner)
    _, second = services.webhook_secret_create(owner=owner, overlap=timedelta(0))
    assert selectors.webhook_signing_secrets(owner_id=owner.pk) == [second]
    services.webhook_secret_revoke(secret=owner.webhook_secrets.get(secret=second))
    assert selectors.webhook_signing_secrets(owner_id=owner.pk) == []
    assert not selectors.webhook_secret_exists(owner=owner)
    first.refresh_from_db()
    assert first.expires_at is not None


def test_the_readmes_receiver_check_accepts_a_real_notice_and_refuses_a_changed_one(receiver, owner_secret):
    from tests.settings_docs import README

    text = README.read_text()
    snippet = text[text.index("or by hand (Python standard library):") :].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - the README's own example, run as a receiver would
    webhook_post(url=receiver.url, body=b'{"event":"batch.finished"}', message_id="msg_2", secrets=[owner_secret])
    _, headers, body = receiver.calls[0]
    assert namespace["verified"](body, headers, owner_secret) is True
    assert namespace["verified"](body.replace(b"finished", b"started!"), headers, owner_secret) is False
