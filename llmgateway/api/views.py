"""The gateway's HTTP API: the model manifest, comparisons for external clients, usage, metrics.

Errors have one shape, `{"error": {"code", "message", "fields"}}` (`cjproject.api`); fields name
what was wrong and what is allowed. Prompts, essays and keys never appear in a response other than
the client's own.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from pydantic import ValidationError
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cjproject.api import IDEMPOTENCY_HEADER, Idempotency, error_body, error_response, error_responses
from cjproject.errors import InvalidInput, fields_from_pydantic
from llmgateway import selectors, services
from llmgateway.collector import RedisCollector
from llmgateway.metrics import EXTRA_COLLECTORS
from llmgateway.models import LLMRequest
from llmgateway.schemas import ComparisonRequestIn, PromptParts
from webhooks.selectors import webhook_registration_refusal

_TRUE, _FALSE = {"1", "true", "yes"}, {"0", "false", "no", ""}


class GatewayAPIView(APIView):
    """A view of the gateway; its errors take the one shape through `cjproject.api.exception_handler`."""


ACCEPTED = inline_serializer(
    "ComparisonAccepted",
    {"id": serializers.IntegerField(), "status": serializers.CharField(), "location": serializers.CharField()},
)
USAGE = inline_serializer("Usage", {"usage": serializers.ListField(child=serializers.DictField())})
GATEWAY = ["llm gateway"]


class ModelsView(GatewayAPIView):
    """`GET /api/v1/models?provider=&include_deprecated=`: models grouped by provider."""

    permission_classes = [AllowAny]

    @extend_schema(
        tags=GATEWAY,
        summary="The model manifest: valid providers and models, with prices and capabilities",
        parameters=[
            OpenApiParameter("provider", str, description="One provider (400 lists the valid ones); `mock` only when named."),
            OpenApiParameter("include_deprecated", str, enum=["true", "false"]),
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                examples=[
                    OpenApiExample(
                        "Anthropic",
                        value={"providers": {"anthropic": {"default_model": "claude-sonnet-4-6", "models": [{"id": "..."}]}}},
                    )
                ],
            ),
            **error_responses(400),
        },
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("include_deprecated", "").lower()
        if raw not in _TRUE | _FALSE:
            raise InvalidInput("invalid query", fields={"include_deprecated": ["use true or false"]})
        provider = request.query_params.get("provider") or None
        return Response(selectors.models_list(provider=provider, include_deprecated=raw in _TRUE))


class ComparisonCreateView(GatewayAPIView):
    """`POST /api/v1/comparison`: 202 with a Location; `Idempotency-Key` honoured."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=GATEWAY,
        summary="Ask for one comparison of two texts (202, then poll its Location)",
        request=ComparisonRequestIn,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER)],
        responses={202: ACCEPTED, **error_responses(400, 409, 413)},
        examples=[
            OpenApiExample(
                "Two essays",
                request_only=True,
                value={
                    "student_prompt": "Write about a role model.",
                    "essay_a": "...",
                    "essay_b": "...",
                    "metadata": {"ref": "x-1"},
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput("invalid comparison request", fields={"__root__": ["the body must be a JSON object"]})
        try:
            body = ComparisonRequestIn.model_validate(request.data)
        except ValidationError as exc:
            raise InvalidInput("invalid comparison request", fields=fields_from_pydantic(exc)) from None
        if body.webhook_url and (refused := webhook_registration_refusal(owner=request.user, url=str(body.webhook_url))):
            raise InvalidInput("webhook URL refused", fields={"webhook_url": [refused]})
        idempotency = Idempotency.of(request)
        if idempotency.key and (
            existing := selectors.comparison_request_by_key(owner=request.user, idempotency_key=idempotency.key)
        ):
            return self._replay(existing, idempotency)
        try:
            llm_request = services.comparison_request_submit(
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
                idempotency_key=idempotency.key,
                idempotency_body_sha256=idempotency.body_sha256,
            )
        except IntegrityError:  # the same key, sent twice at once: the other one won
            existing = selectors.comparison_request_by_key(owner=request.user, idempotency_key=idempotency.key or "")
            if existing is None:
                raise
            return self._replay(existing, idempotency)
        return self._accepted(llm_request)

    def _replay(self, existing: LLMRequest, idempotency: Idempotency) -> Response:
        idempotency.check_replay(existing.idempotency_body_sha256)  # another body: 409
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

    @extend_schema(
        tags=GATEWAY,
        summary="A comparison's status, result, usage and cost (never the texts)",
        responses={200: OpenApiTypes.OBJECT, **error_responses(404)},
    )
    def get(self, request: Request, request_id: int) -> Response:
        llm_request = selectors.comparison_request_get(user=request.user, request_id=request_id)
        if llm_request is None:
            return error_response(code="not_found", message=f"no comparison {request_id} of yours", http_status=404)
        return Response(selectors.comparison_request_view(request=llm_request))


class UsageView(GatewayAPIView):
    """`GET /api/v1/usage?provider=&model=`: tokens and cost by provider and model."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=GATEWAY,
        summary="Requests, tokens and cost by provider and model (yours; staff: all)",
        parameters=[OpenApiParameter("provider", str), OpenApiParameter("model", str)],
        responses={200: USAGE, **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        provider = request.query_params.get("provider") or None
        if provider is not None:
            selectors.models_list(provider=provider)  # 400 naming the valid providers
        rows = selectors.usage_summary(user=request.user, provider=provider, model=request.query_params.get("model") or None)
        return Response({"usage": rows})


def _metrics_allowed(request: HttpRequest) -> bool:
    """`METRICS_TOKEN` set: `Authorization: Bearer <it>`; unset: only a caller on this host (loopback)."""
    if settings.METRICS_TOKEN:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {settings.METRICS_TOKEN}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: Prometheus text format, the figures of every worker process (token counts,
    cost and volume by model): behind `METRICS_TOKEN`, or to this host only without one."""
    if not _metrics_allowed(request):
        return JsonResponse(
            error_body(code="permission_denied", message="metrics need METRICS_TOKEN (Authorization: Bearer ...)"),
            status=403,
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector())
    for collector in EXTRA_COLLECTORS:
        registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
