"""Issue #13, finding 6: one signed sender and one retry policy for the batches' and the
gateway's notices, each owner's signed with their own secret, every attempt logged."""

from __future__ import annotations

import logging

import pytest

from assessments import services as cj
from assessments.models import Batch
from tests.conftest import essays
from tests.webhooks.conftest import standard_webhooks_verify
from webhooks import services
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.tasks import webhook_deliver

pytestmark = pytest.mark.django_db


def _notice(owner, url, subject_id=1):
    return services.webhook_notice_send(
        owner=owner, url=url, event="batch.finished", subject_kind="batch", subject_id=subject_id, payload={"batch": {"id": 1}}
    )


def _finished_batch(owner, url, capture):
    """A batch with a webhook, cancelled (so finished); its notice is stored, not yet sent."""
    batch = cj.batch_create(owner=owner, request={"essays": essays(2)}, webhook_url=url)
    with capture(execute=False):
        assert cj.batch_cancel(batch_id=batch.pk)
    return batch, WebhookDelivery.objects.get(subject_kind="batch", subject_id=batch.pk)


def test_one_owner_cannot_forge_another_owners_notice(
    serve, owner, other_user, owner_secret, other_secret, django_capture_on_commit_callbacks
):
    owners_receiver, others_receiver = serve(), serve()
    for who, hook in ((owner, owners_receiver), (other_user, others_receiver)):
        with django_capture_on_commit_callbacks(execute=True):
            batch = cj.batch_create(owner=who, request={"essays": essays(2)}, webhook_url=hook.url)
            cj.batch_cancel(batch_id=batch.pk)
    (_, owners_headers, owners_body), (_, others_headers, others_body) = owners_receiver.calls[0], others_receiver.calls[0]
    assert standard_webhooks_verify(owner_secret, owners_headers, owners_body)["batch"]["state"] == "cancelled"
    standard_webhooks_verify(other_secret, others_headers, others_body)
    # The other integrator's secret signs only their own notices: the owner's receiver refuses them.
    with pytest.raises(AssertionError, match="no valid signature"):
        standard_webhooks_verify(owner_secret, others_headers, others_body)
    with pytest.raises(AssertionError, match="no valid signature"):
        standard_webhooks_verify(other_secret, owners_headers, owners_body)


def test_a_finished_batch_notice_is_signed_and_logged_without_essay_text(
    receiver, owner, owner_secret, django_capture_on_commit_callbacks
):
    sent = essays(2)
    with django_capture_on_commit_callbacks(execute=True):
        batch = cj.batch_create(owner=owner, request={"essays": sent}, webhook_url=receiver.url)
        cj.batch_cancel(batch_id=batch.pk)
    _, headers, body = receiver.calls[0]
    notice = standard_webhooks_verify(owner_secret, headers, body)
    assert notice["event"] == "batch.finished" and notice["batch"]["id"] == batch.pk
    assert headers["x-cj-event"] == "batch.finished"
    assert not any(e["text"] in body.decode() for e in sent)
    delivery = WebhookDelivery.objects.get(subject_kind="batch", subject_id=batch.pk)
    assert (delivery.status, delivery.attempts, delivery.message_id) == (DeliveryStatus.DELIVERED, 1, headers["webhook-id"])
    assert [(a.number, a.status_code, a.delivered) for a in delivery.attempt_log.all()] == [(1, 204, True)]


def test_a_redirect_is_not_followed_with_the_signature(serve, owner, owner_secret):
    elsewhere = serve()
    redirecting = serve([302], location=elsewhere.url)
    delivery = services.webhook_delivery_attempt(delivery_id=_notice(owner, redirecting.url).pk)
    assert len(redirecting.calls) == 1 and elsewhere.calls == []
    attempt = delivery.attempt_log.get()
    assert (attempt.status_code, attempt.delivered, delivery.status) == (302, False, DeliveryStatus.PENDING)


def test_a_failed_delivery_is_retried_with_backoff_until_delivered(serve, owner, owner_secret):
    receiver = serve([500, 503])
    delivery = _notice(owner, receiver.url)
    webhook_deliver.apply(args=[delivery.pk])  # in process: each retry runs at once
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.next_attempt_at is None
    attempts = list(delivery.attempt_log.all())
    assert [(a.number, a.status_code, a.delivered) for a in attempts] == [(1, 500, False), (2, 503, False), (3, 204, True)]
    waits = [round((a.next_attempt_at - a.at).total_seconds()) for a in attempts[:2]]
    assert waits == [5, 10] and attempts[2].next_attempt_at is None
    assert len({headers["webhook-id"] for _, headers, _ in receiver.calls}) == 1  # one notice, retried
    assert len({body for _, _, body in receiver.calls}) == 1


def test_the_one_retry_policy_doubles_up_to_its_cap_from_the_settings(settings):
    assert [services.webhook_retry_delay(n) for n in range(1, 10)] == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    settings.CJ_WEBHOOK_RETRY_BASE_SECONDS, settings.CJ_WEBHOOK_RETRY_MAX_SECONDS = 1, 3
    assert [services.webhook_retry_delay(n) for n in range(1, 5)] == [1, 2, 3, 3]
    assert services.webhook_retry_delay(10_000) == 3


def test_an_unreachable_receiver_is_given_up_after_the_last_attempt(owner, owner_secret, settings):
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.CJ_WEBHOOK_MAX_ATTEMPTS = 3
    delivery = _notice(owner, "http://127.0.0.1:9/hook")
    webhook_deliver.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 3, None)
    assert delivery.finished_at is not None
    assert [(a.error, a.status_code) for a in delivery.attempt_log.all()] == [("unreachable", None)] * 3


def test_a_refused_url_is_logged_as_refused_without_the_reason(owner, owner_secret, settings):
    settings.CJ_WEBHOOK_ALLOWED_NETWORKS = []
    delivery = services.webhook_delivery_attempt(delivery_id=_notice(owner, "http://127.0.0.1:9/hook").pk)
    assert delivery.attempt_log.get().error == "refused_url"


def test_a_notice_of_an_owner_without_a_secret_is_not_sent(receiver, owner):
    delivery = services.webhook_delivery_attempt(delivery_id=_notice(owner, receiver.url).pk)
    assert receiver.calls == [] and delivery.attempt_log.get().error == "no_secret"


def test_deleting_a_batch_with_a_pending_retry_does_not_crash(serve, owner, owner_secret, django_capture_on_commit_callbacks):
    receiver = serve([500])
    batch, delivery = _finished_batch(owner, receiver.url, django_capture_on_commit_callbacks)
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk).status == DeliveryStatus.PENDING
    assert cj.batch_delete(batch_id=batch.pk) and not Batch.objects.filter(pk=batch.pk).exists()

    assert webhook_deliver.apply(args=[delivery.pk]).get() == DeliveryStatus.DELIVERED  # the retry, after the deletion
    first, second = receiver.calls
    assert first[2] == second[2] and standard_webhooks_verify(owner_secret, second[1], second[2])["batch"]["id"] == batch.pk


def test_a_second_run_of_the_same_attempt_sends_nothing(receiver, owner, owner_secret):
    delivery = _notice(owner, receiver.url)
    assert webhook_deliver.apply(args=[delivery.pk]).get() == DeliveryStatus.DELIVERED
    assert webhook_deliver.apply(args=[delivery.pk]).get() is None  # a redelivered task
    assert len(receiver.calls) == 1


def test_the_gateways_notice_goes_through_the_same_sender_retries_and_log(
    serve, owner, owner_secret, django_capture_on_commit_callbacks
):
    from rest_framework.test import APIClient

    from tests.llmgateway.test_api import BODY

    receiver = serve([503])
    client = APIClient()
    client.force_authenticate(owner)
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post("/api/v1/comparison", {**BODY, "webhook_url": receiver.url}, format="json").json()
    delivery = WebhookDelivery.objects.get(subject_kind="comparison", subject_id=created["id"])
    assert (delivery.event, delivery.status, delivery.attempts) == ("comparison.finished", DeliveryStatus.DELIVERED, 2)
    _, headers, body = receiver.calls[-1]
    assert standard_webhooks_verify(owner_secret, headers, body)["status"] == "succeeded"


def test_secrets_never_reach_the_logs(receiver, owner, caplog):
    with caplog.at_level(logging.DEBUG):
        _, value = services.webhook_secret_create(owner=owner)
        webhook_deliver.apply(args=[_notice(owner, receiver.url).pk])
    assert caplog.records and value not in caplog.text
    assert not any(value in str(v) for record in caplog.records for v in vars(record).values())
    key = value.removeprefix("whsec_")
    assert not any(key in str(v) for record in caplog.records for v in vars(record).values())


def test_a_notice_whose_task_was_lost_is_sent_again_by_beat(receiver, owner, owner_secret):
    from datetime import timedelta

    from django.utils import timezone

    lost = _notice(owner, receiver.url)  # its task message never ran (not captured here)
    in_hand = _notice(owner, receiver.url, subject_id=2)
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=10))
    assert services.webhook_deliveries_resend() == [lost.pk]
    lost.refresh_from_db()
    in_hand.refresh_from_db()
    assert lost.status == DeliveryStatus.DELIVERED and in_hand.attempts == 0 and len(receiver.calls) == 1
