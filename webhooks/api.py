"""The webhooks' HTTP API: your signing secrets (the value shown once, at creation) and the log of
your notices' deliveries. Another user's secret or notice is a 404; superusers see all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cjproject.api import error_responses, request_user
from cjproject.errors import InvalidInput
from webhooks import selectors, services
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSecret

WEBHOOKS = ["webhooks"]


class WebhookSecretSerializer(serializers.ModelSerializer):
    signing = serializers.SerializerMethodField(help_text="Whether it signs notices now.")

    class Meta:
        model = WebhookSecret
        fields = ["id", "prefix", "created_at", "expires_at", "signing"]

    def get_signing(self, secret: WebhookSecret) -> bool:
        return secret.expires_at is None or secret.expires_at > self.context["now"]


class WebhookSecretCreatedSerializer(WebhookSecretSerializer):
    """The answer to a creation, the one response that carries a secret's value."""

    secret = serializers.SerializerMethodField(help_text="`whsec_...`: shown this once; store it with your receiver.")

    class Meta(WebhookSecretSerializer.Meta):
        fields = [*WebhookSecretSerializer.Meta.fields, "secret"]

    def get_secret(self, secret: WebhookSecret) -> str:
        return str(self.context["value"])


class WebhookSecretCreateSerializer(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=int(services.ROTATION_OVERLAP_MAX.total_seconds()),
        default=int(services.ROTATION_OVERLAP.total_seconds()),
        help_text="How long your other secrets keep signing (0: they stop now).",
    )


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "at", "status_code", "error", "duration_ms", "delivered", "next_attempt_at"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.SerializerMethodField(help_text="Where it is sent: scheme, host, port and path (no query).")
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "message_id",
            "event",
            "subject_kind",
            "subject_id",
            "endpoint",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "finished_at",
            "attempt_log",
        ]

    def get_endpoint(self, delivery: WebhookDelivery) -> str:
        return selectors.webhook_endpoint(delivery.url)


def _now_context() -> dict[str, Any]:
    return {"now": timezone.now()}


@extend_schema(tags=WEBHOOKS)
class WebhookSecretListCreateView(APIView):
    @extend_schema(
        summary="Your webhook secrets (never their values)",
        responses={200: WebhookSecretSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        secrets = selectors.webhook_secrets_visible(user=request.user).order_by("-created_at", "-id")
        return Response(WebhookSecretSerializer(secrets, many=True, context=_now_context()).data)

    @extend_schema(
        summary="Create (or rotate) your webhook secret: the value is shown this once",
        description=(
            "Your notices are signed with it from now on (Standard Webhooks: `webhook-id`, `webhook-timestamp`, "
            "`webhook-signature`). Your other secrets keep signing for `overlap_seconds` (default one day: each notice "
            "carries a signature by each), then stop."
        ),
        request=WebhookSecretCreateSerializer,
        responses={201: WebhookSecretCreatedSerializer, **error_responses(400)},
        examples=[OpenApiExample("Rotate, old secret valid one more hour", value={"overlap_seconds": 3600}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise InvalidInput("invalid request", fields={"__root__": ["the body must be a JSON object (or empty)"]})
        given = WebhookSecretCreateSerializer(data=data)
        given.is_valid(raise_exception=True)
        overlap = timedelta(seconds=given.validated_data["overlap_seconds"])
        secret, value = services.webhook_secret_create(owner=request_user(request), overlap=overlap)
        body = WebhookSecretCreatedSerializer(secret, context={**_now_context(), "value": value}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": f"/api/v1/webhook-secrets/{secret.pk}"})


@extend_schema(tags=WEBHOOKS)
class WebhookSecretDetailView(APIView):
    def _secret(self, request: Request, secret_id: int) -> WebhookSecret:
        secret = selectors.webhook_secrets_visible(user=request.user).filter(pk=secret_id).first()
        if secret is None:
            raise exceptions.NotFound(f"no webhook secret {secret_id} of yours")
        return secret

    @extend_schema(
        summary="One of your webhook secrets (never its value)", responses={200: WebhookSecretSerializer, **error_responses(404)}
    )
    def get(self, request: Request, secret_id: int) -> Response:
        return Response(WebhookSecretSerializer(self._secret(request, secret_id), context=_now_context()).data)

    @extend_schema(
        summary="Revoke a webhook secret now (a leaked one)",
        responses={204: None, **error_responses(404)},
    )
    def delete(self, request: Request, secret_id: int) -> Response:
        services.webhook_secret_revoke(secret=self._secret(request, secret_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _id_param(params: Any, name: str, fields: dict[str, list[str]]) -> int | None:
    raw = params.get(name) or None
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdecimal()):
        fields[name] = ["an id: a whole number"]
        return None
    return int(raw)


@extend_schema(tags=WEBHOOKS)
class WebhookDeliveryListView(generics.ListAPIView):
    serializer_class = WebhookDeliverySerializer

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        params = self.request.query_params
        fields: dict[str, list[str]] = {}
        deliveries = selectors.webhook_deliveries_visible(user=self.request.user)
        for kind in ("batch", "comparison"):
            if (subject_id := _id_param(params, kind, fields)) is not None:
                deliveries = deliveries.filter(subject_kind=kind, subject_id=subject_id)
        state = params.get("status") or None
        if state is not None and state not in DeliveryStatus.values:
            fields["status"] = [f"{state!r} is not a status; choose one of: {', '.join(DeliveryStatus.values)}"]
        if fields:
            raise InvalidInput("invalid query", fields=fields)
        return (deliveries.filter(status=state) if state else deliveries).order_by("-created_at", "-id")

    @extend_schema(
        summary="Your webhook notices and every delivery attempt: HTTP status or error, next try, delivered or failed",
        parameters=[
            OpenApiParameter("batch", int, description="Only the notices of this batch."),
            OpenApiParameter("comparison", int, description="Only the notices of this comparison (POST /comparison)."),
            OpenApiParameter("status", str, enum=DeliveryStatus.values),
        ],
        responses={200: WebhookDeliverySerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


@extend_schema(tags=WEBHOOKS)
class WebhookDeliveryDetailView(APIView):
    @extend_schema(
        summary="One webhook notice with its attempts", responses={200: WebhookDeliverySerializer, **error_responses(404)}
    )
    def get(self, request: Request, delivery_id: int) -> Response:
        delivery = selectors.webhook_deliveries_visible(user=request.user).filter(pk=delivery_id).first()
        if delivery is None:
            raise exceptions.NotFound(f"no webhook delivery {delivery_id} of yours")
        return Response(WebhookDeliverySerializer(delivery).data)
