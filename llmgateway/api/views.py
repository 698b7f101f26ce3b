"""The gateway's HTTP API: the model manifest, comparisons for external clients, usage, metrics.

Errors have one shape: `{"error": {"code", "message", "fields"}}`; fields name what was wrong and
what is allowed. Prompts, essays and keys never appear in a response other than the client's own.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from pydantic import ValidationError
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cjproject.errors import InvalidInput, fields_from_pydantic
from llmgateway import selectors, services
from llmgateway.metrics import EXTRA_COLLECTORS, RedisCollector
from llmgateway.models import LLMRequest
from llmgateway.schemas import ComparisonRequestIn, PromptParts

IDEMPOTENCY_KEY_MAX = 150
_TRUE, _FALSE = {"1", "true", "yes"}, {"0", "false", "no", ""}


def error_response(*, code: str, message: str, http_status: int, fields: dict[str, list[str]] | None = None) -> Response:
    return Response({"error": {"code": code, "message": message, "fields": fields or {}}}, status=http_status)


class GatewayAPIView(APIView):
    """Every error in the one JSON shape."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, InvalidInput):
            return error_response(code="invalid", message=exc.message, fields=exc.fields, http_status=400)
        if isinstance(exc, exceptions.APIException):
            response = super().handle_exception(exc)
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            return error_response(code=str(exc.default_code), message=detail, http_status=response.status_code)
        raise exc


class ModelsView(GatewayAPIView):
    """`GET /api/v1/models?provider=&include_deprecated=`: models grouped by provider."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raw = request.query_params.get("include_deprecated", "").lower()
        if raw not in _TRUE | _FALSE:
            raise InvalidInput("invalid query", fields={"include_deprecated": ["use true or false"]})
        provider = request.query_params.get("provider") or None
        return Response(selectors.models_list(provider=provider, include_deprecated=raw in _TRUE))


class ComparisonCreateView(GatewayAPIView):
    """`POST /api/v1/comparison`: 202 with a Location; `Idempotency-Key` honoured."""

    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput("invalid comparison request", fields={"__root__": ["the body must be a JSON object"]})
        try:
            body = ComparisonRequestIn.model_validate(request.data)
        except ValidationError as exc:
            raise InvalidInput("invalid comparison request", fields=fields_from_pydantic(exc)) from None
        if body.webhook_url and not settings.LLM_WEBHOOK_SECRET:
            raise InvalidInput(
                "webhooks are off", fields={"webhook_url": ["this server signs no webhooks (LLM_WEBHOOK_SECRET unset)"]}
            )
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= IDEMPOTENCY_KEY_MAX:
            raise InvalidInput("invalid header", fields={"Idempotency-Key": [f"1 to {IDEMPOTENCY_KEY_MAX} characters"]})
        stored_key = f"{request.user.pk}:{key}" if key else None
        digest = services.body_sha256(request.data)
        if stored_key and (existing := LLMRequest.objects.filter(idempotency_key=stored_key).first()):
            return self._replay(existing, digest)
        try:
            with transaction.atomic():
                llm_request = services.comparison_request_create(
                    parts=PromptParts(
                        student_prompt=body.student_prompt,
                        instructions=body.instructions,
                        essay_a=body.essay_a,
                        essay_b=body.essay_b,
                    ),
                    overrides=body.llm_config_overrides,
                    metadata=body.metadata,
                    owner=request.user,
                    webhook_url=str(body.webhook_url or ""),
                    idempotency_key=stored_key,
                    idempotency_body_sha256=digest,
                )
                pk = llm_request.pk
                transaction.on_commit(
                    lambda: services.comparison_signatures(request_ids=[pk], batching_mode="per_request")[0].apply_async()
                )
        except IntegrityError:  # the same key, sent twice at once: the other one won
            return self._replay(LLMRequest.objects.get(idempotency_key=stored_key), digest)
        return self._accepted(llm_request)

    def _replay(self, existing: LLMRequest, digest: str) -> Response:
        if existing.idempotency_body_sha256 != digest:
            return error_response(
                code="idempotency_conflict",
                message="this Idempotency-Key was used with another body",
                fields={"Idempotency-Key": ["reuse a key only to resend the same body"]},
                http_status=409,
            )
        return self._accepted(existing)

    def _accepted(self, llm_request: LLMRequest) -> Response:
        location = reverse("llmgateway:comparison-detail", kwargs={"request_id": llm_request.pk})
        return Response(
            {"id": llm_request.pk, "status": llm_request.status, "location": location},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


class ComparisonDetailView(GatewayAPIView):
    """`GET /api/v1/comparison/{id}`: the request's status and, once finished, its result."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request, request_id: int) -> Response:
        llm_request = selectors.comparison_request_get(user=request.user, request_id=request_id)
        if llm_request is None:
            return error_response(code="not_found", message=f"no comparison {request_id} of yours", http_status=404)
        return Response(selectors.comparison_request_view(request=llm_request))


class UsageView(GatewayAPIView):
    """`GET /api/v1/usage?provider=&model=`: tokens and cost by provider and model."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        provider = request.query_params.get("provider") or None
        if provider is not None:
            selectors.models_list(provider=provider)  # 400 naming the valid providers
        rows = selectors.usage_summary(user=request.user, provider=provider, model=request.query_params.get("model") or None)
        return Response({"usage": rows})


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: Prometheus text format, the figures of every worker process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector())
    for collector in EXTRA_COLLECTORS:
        registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
