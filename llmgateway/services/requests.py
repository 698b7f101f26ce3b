"""Comparison requests: resolve the provider and model, store requests, and the signatures that run them.

The gateway knows nothing of essays or batches: a request holds prompt parts, overrides and
metadata to echo back, and the name of the caller's callback task. `comparison_request_submit`
is the external API's one write: store a request and send it once the transaction commits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from celery.canvas import Signature
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cjproject.errors import InvalidInput
from llmgateway.manifest import default_model, model_get
from llmgateway.models import LLMRequest, ProviderBatchJob
from llmgateway.providers import provider_get, provider_missing_setting
from llmgateway.providers.base import Provider
from llmgateway.schemas import LLMConfigOverrides, ManifestModel, PromptParts
from llmgateway.vocabulary import BATCHING_MODES, PER_REQUEST, SERIAL_BUNDLE
from webhooks.selectors import webhook_notice_exists
from webhooks.services import webhook_notice_send


def provider_resolve(*, overrides: LLMConfigOverrides | None) -> tuple[Provider, str]:
    """The provider and model a request will use; raises InvalidInput naming the bad field.

    The model defaults to the provider's default in the manifest; it must be in the manifest,
    accept the overrides given (temperature, reasoning effort), and its provider be configured.
    """
    provider, entry = _resolve(overrides or LLMConfigOverrides())
    return provider, entry.id


def _resolve(overrides: LLMConfigOverrides) -> tuple[Provider, ManifestModel]:
    name = overrides.provider_override or settings.LLM_DEFAULT_PROVIDER
    entry = model_get(provider=name, model=overrides.model_override or default_model(name).id)
    errors: dict[str, list[str]] = {}
    if overrides.temperature_override is not None and not entry.capabilities.temperature:
        errors["llm_config_overrides.temperature_override"] = [f"{entry.id} does not accept a temperature; leave it unset"]
    efforts = entry.capabilities.reasoning_effort
    if overrides.reasoning_effort is not None and overrides.reasoning_effort not in efforts:
        allowed = ", ".join(efforts) if efforts else "none (leave it unset)"
        errors["llm_config_overrides.reasoning_effort"] = [f"{entry.id} accepts: {allowed}"]
    if (variable := provider_missing_setting(name)) is not None:
        errors["llm_config_overrides.provider_override"] = [f"{name!r} is not configured on this server: set {variable}"]
    if errors:
        raise InvalidInput("invalid model settings", fields=errors)
    return provider_get(name), entry


def comparison_request_create(
    *,
    parts: PromptParts,
    overrides: LLMConfigOverrides | None,
    metadata: dict[str, Any],
    callback: str = "",
    batching_mode: str = PER_REQUEST,
    owner: Any = None,
    webhook_url: str = "",
    idempotency_key: str | None = None,
    idempotency_body_sha256: str = "",
) -> LLMRequest:
    """Store a request (prompt parts included) so that the task message carries only its id."""
    row = _request_row(parts=parts, overrides=overrides, metadata=metadata, callback=callback, batching_mode=batching_mode)
    for name, value in {
        "owner": owner,
        "webhook_url": webhook_url,
        "idempotency_key": idempotency_key,
        "idempotency_body_sha256": idempotency_body_sha256,
    }.items():
        setattr(row, name, value)
    row.save()
    return row


def comparison_requests_create(
    *,
    items: Sequence[tuple[PromptParts, LLMConfigOverrides | None, dict[str, Any]]],
    callback: str,
    batching_mode: str = PER_REQUEST,
) -> list[LLMRequest]:
    """Store many requests in one INSERT (a round's worth); each item is (parts, overrides, metadata)."""
    resolved: dict[str, tuple[Provider, str]] = {}
    rows = [
        _request_row(
            parts=parts, overrides=overrides, metadata=metadata, callback=callback, batching_mode=batching_mode, resolved=resolved
        )
        for parts, overrides, metadata in items
    ]
    return LLMRequest.objects.bulk_create(rows, batch_size=500)


def _request_row(
    *,
    parts: PromptParts,
    overrides: LLMConfigOverrides | None,
    metadata: dict[str, Any],
    callback: str,
    batching_mode: str,
    resolved: dict[str, tuple[Provider, str]] | None = None,
) -> LLMRequest:
    """An unsaved request row; the provider and model are resolved once per distinct overrides."""
    if batching_mode not in BATCHING_MODES:
        raise InvalidInput("invalid batching mode", fields={"batching_mode": [f"choose one of: {', '.join(BATCHING_MODES)}"]})
    stored_overrides = (overrides or LLMConfigOverrides()).model_dump(mode="json", exclude_none=True)
    cache_key = json.dumps(stored_overrides, sort_keys=True)
    if resolved is None or cache_key not in resolved:
        found = provider_resolve(overrides=overrides)
        if resolved is not None:
            resolved[cache_key] = found
    else:
        found = resolved[cache_key]
    provider, model = found
    return LLMRequest(
        provider=provider.name,
        model=model,
        overrides=stored_overrides,
        prompt_parts=parts.model_dump(mode="json"),
        metadata=metadata,
        callback=callback,
        batching_mode=batching_mode,
    )


# The error category of a request its caller withdrew before any call was made.
CANCELLED_CATEGORY = "cancelled"


def comparison_requests_cancel(*, request_ids: Sequence[int]) -> int:
    """Withdraw requests still waiting for their first call: they end as failed ("cancelled")
    without reaching the provider, so a queued task finds them finished and only delivers that.
    A request already running (its call in flight) is left to finish. Returns how many."""
    return LLMRequest.objects.filter(pk__in=list(request_ids), status=LLMRequest.Status.QUEUED, attempts=0).update(
        status=LLMRequest.Status.FAILED,
        error_category=CANCELLED_CATEGORY,
        error_detail="withdrawn by its caller before it was sent",
        finished_at=timezone.now(),
    )


def batching_mode_resolve(hint: str | None) -> str:
    """The caller's mode when hints are on and it gave one; otherwise `LLM_BATCHING_MODE`."""
    if settings.LLM_BATCHING_HINTS and hint in BATCHING_MODES:
        return hint
    return settings.LLM_BATCHING_MODE


def comparison_signatures(*, request_ids: Sequence[int], batching_mode: str | None = None) -> list[Signature]:
    """The Celery signatures that run these requests: a chord's header, flat.

    - `per_request`: one `run_comparison` per request;
    - `serial_bundle`: one `run_comparison_bundle` per `LLM_BUNDLE_SIZE` requests;
    - `provider_batch_api`: one job per provider/model on its batch API (an `await_provider_batch`
      task that submits it and waits with countdowns while beat polls it); providers without a
      batch API fall back to bundles.
    """
    from llmgateway.tasks import await_provider_batch, run_comparison, run_comparison_bundle

    mode = batching_mode_resolve(batching_mode)
    ids = list(request_ids)
    if not ids:
        return []
    LLMRequest.objects.filter(pk__in=ids).update(batching_mode=mode)
    if mode == PER_REQUEST:
        return [run_comparison.si(pk) for pk in ids]
    size = settings.LLM_BUNDLE_SIZE
    if mode == SERIAL_BUNDLE:
        return [run_comparison_bundle.si(ids[i : i + size]) for i in range(0, len(ids), size)]
    signatures: list[Signature] = []
    by_model: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, provider, model in LLMRequest.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "provider", "model"):
        by_model[(provider, model)].append(pk)
    for (provider, model), group in by_model.items():
        if model_get(provider=provider, model=model).capabilities.batch_api:
            job = ProviderBatchJob.objects.create(provider=provider, model=model, item_count=len(group))
            LLMRequest.objects.filter(pk__in=group).update(batch_job=job)
            signatures.append(await_provider_batch.si(job.pk))
        else:
            signatures += [run_comparison_bundle.si(group[i : i + size]) for i in range(0, len(group), size)]
    return signatures


def comparison_request_submit(
    *,
    parts: PromptParts,
    overrides: LLMConfigOverrides | None,
    metadata: dict[str, Any],
    owner: Any,
    webhook_url: str = "",
    idempotency_key: str | None = None,
    idempotency_body_sha256: str = "",
) -> LLMRequest:
    """Store an external client's request and run it (`per_request`) once the transaction commits.

    `idempotency_key` is unique per owner: a second request with it raises IntegrityError.
    """
    with transaction.atomic():
        llm_request = comparison_request_create(
            parts=parts,
            overrides=overrides,
            metadata=metadata,
            owner=owner,
            webhook_url=webhook_url,
            idempotency_key=idempotency_key,
            idempotency_body_sha256=idempotency_body_sha256,
        )
        pk = llm_request.pk
        transaction.on_commit(lambda: comparison_signatures(request_ids=[pk], batching_mode=PER_REQUEST)[0].apply_async())
    return llm_request


EVENT_COMPARISON_FINISHED = "comparison.finished"


def comparison_webhook_schedule(*, request_id: int) -> None:
    """Store a finished external request's notice (its result as `GET /comparison/{id}` shows it)
    and send it once the current transaction commits: signed with its owner's secret, retried and
    logged by the `webhooks` app."""
    from llmgateway.selectors import comparison_request_view

    request = LLMRequest.objects.filter(pk=request_id, owner__isnull=False).exclude(webhook_url="").first()
    if request is None or webhook_notice_exists(
        subject_kind="comparison", subject_id=request.pk, event=EVENT_COMPARISON_FINISHED
    ):
        return  # no webhook, or notified already (a finished request delivered again)
    webhook_notice_send(
        owner=request.owner,
        url=request.webhook_url,
        event=EVENT_COMPARISON_FINISHED,
        subject_kind="comparison",
        subject_id=request.pk,
        payload=comparison_request_view(request=request),
    )
