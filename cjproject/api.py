"""What every HTTP API of the service shares: one error shape, idempotency keys, pagination.

Every error, 404, 405, 413, 429 and 500 included, is `{"error": {"code", "message", "fields"}}`:
`fields` maps a dotted field path (`essays.3.id`, or a header name) to its messages. Nothing else
leaks: no stack trace, no setting, no secret.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cjproject.errors import Conflict, InvalidInput

logger = logging.getLogger("cjproject.api")

API_PREFIX = "/api/"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 150


def request_user(request: HttpRequest | Request) -> User:
    """The signed-in user of a request whose view requires one (an anonymous user is refused)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def error_body(*, code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(*, code: str, message: str, http_status: int, fields: dict[str, list[str]] | None = None) -> Response:
    return Response(error_body(code=code, message=message, fields=fields), status=http_status)


class APIError(exceptions.APIException):
    """An API error with a code, a message and the fields it concerns."""

    def __init__(self, message: str, *, code: str, http_status: int, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = http_status
        self.error_code = code
        self.fields = fields or {}


class IdempotencyConflict(APIError):
    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was used with another body",
            code="idempotency_conflict",
            http_status=status.HTTP_409_CONFLICT,
            fields={IDEMPOTENCY_HEADER: ["reuse a key only to resend the same body"]},
        )


def payload_too_large() -> APIError:
    limit = settings.API_MAX_BODY_BYTES
    return APIError(
        f"the request body is larger than the limit of {limit:,} bytes (API_MAX_BODY_BYTES)",
        code="payload_too_large",
        http_status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        fields={"__body__": [f"at most {limit:,} bytes"]},
    )


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail → {"dotted.path": ["message", ...]}."""
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "__root__" if key == "non_field_errors" else str(key)
            fields.update(_flatten(value, f"{prefix}.{name}" if prefix else name))
        return fields
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        fields = {}
        for index, value in enumerate(detail):
            fields.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return fields
    messages = [str(item) for item in detail] if isinstance(detail, list) else [str(detail)]
    return {prefix or "__root__": messages} if messages else {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception a view raises becomes the one error shape.

    Headers DRF sets (WWW-Authenticate on 401, Retry-After on 429, Allow on 405) are kept; an
    unexpected exception is logged with its traceback and answered with a bare 500.
    """
    if isinstance(exc, Conflict):
        return error_response(code="conflict", message=exc.message, fields=exc.fields, http_status=409)
    if isinstance(exc, InvalidInput):
        return error_response(code="invalid", message=exc.message, fields=exc.fields, http_status=400)
    if isinstance(exc, RequestDataTooBig):
        exc = payload_too_large()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("Unhandled API error", extra={"view": type(view).__name__ if view else None})
        return error_response(code="server_error", message="internal server error", http_status=500)
    if isinstance(exc, APIError):
        code, message, fields = exc.error_code, str(exc.detail), exc.fields
    elif isinstance(exc, exceptions.ValidationError):
        code, message, fields = "invalid", "invalid input", _flatten(exc.detail)
    else:
        code = str(exc.default_code) if isinstance(exc, exceptions.APIException) else "error"
        detail = getattr(exc, "detail", "")
        message, fields = (detail if isinstance(detail, str) else "request refused"), {}
    response.data = error_body(code=code, message=str(message), fields=fields)
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


@csrf_exempt  # an unknown route answers 404 whatever the method; there is nothing to protect
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The catch-all of /api/: an unknown route is a JSON 404 (in debug mode too)."""
    return JsonResponse(error_body(code="not_found", message=f"no route {request.path}"), status=404)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body(code="server_error", message="internal server error"), status=500)
    return defaults.server_error(request)


# --- Idempotency --------------------------------------------------------------------------------


def body_sha256(body: Any) -> str:
    """A digest of a JSON body that does not depend on key order or spacing."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Idempotency:
    """The `Idempotency-Key` of a create request and the digest of its body.

    The same key with the same body replays the first response; the same key with another body is
    a 409. Keys are the client's own: callers store them per user.
    """

    key: str | None
    body_sha256: str

    @classmethod
    def of(cls, request: Request) -> Idempotency:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not 0 < len(key) <= IDEMPOTENCY_KEY_MAX:
            raise InvalidInput("invalid header", fields={IDEMPOTENCY_HEADER: [f"1 to {IDEMPOTENCY_KEY_MAX} characters"]})
        return cls(key=key, body_sha256=body_sha256(request.data))

    def check_replay(self, stored_body_sha256: str) -> None:
        """Raise a 409 unless the stored request had the same body."""
        if stored_body_sha256 != self.body_sha256:
            raise IdempotencyConflict()


# --- Pagination ---------------------------------------------------------------------------------


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


# --- OpenAPI: the error shape and its examples ----------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: invalid, not_found, idempotency_conflict ...")
    message = serializers.CharField(help_text="What was wrong, for a person.")
    # The error shape's key is `fields`, which shadows DRF's `Serializer.fields` (unused here).
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Dotted field path (or header) → its messages, e.g. `essays.3.id`.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERROR_EXAMPLES: dict[int, tuple[str, str, str, dict[str, list[str]]]] = {
    400: ("Invalid input", "invalid", "invalid batch request", {"essays.3.id": ["String should have at least 1 character"]}),
    401: ("Not authenticated", "not_authenticated", "Authentication credentials were not provided.", {}),
    403: ("Forbidden", "permission_denied", "You do not have permission to perform this action.", {}),
    404: ("Not found", "not_found", "no batch 42 of yours", {}),
    405: ("Method not allowed", "method_not_allowed", 'Method "PUT" not allowed.', {}),
    409: (
        "Conflict",
        "idempotency_conflict",
        "this Idempotency-Key was used with another body",
        {IDEMPOTENCY_HEADER: ["reuse a key only to resend the same body"]},
    ),
    413: (
        "Payload too large",
        "payload_too_large",
        "the request body is larger than the limit of 10,000,000 bytes (API_MAX_BODY_BYTES)",
        {"__body__": ["at most 10,000,000 bytes"]},
    ),
    429: ("Throttled", "throttled", "Request was throttled. Expected available in 12 seconds.", {}),
    500: ("Server error", "server_error", "internal server error", {}),
}
COMMON_ERRORS = (401, 403, 405, 429, 500)


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses in the one error shape, with an example each: the given codes and the
    ones every authenticated operation can answer (401, 403, 405, 429, 500)."""
    responses = {}
    for code in sorted({*codes, *COMMON_ERRORS}):
        summary, error_code, message, fields = _ERROR_EXAMPLES[code]
        responses[code] = OpenApiResponse(
            ErrorSerializer,
            description=summary,
            examples=[OpenApiExample(summary, value=error_body(code=error_code, message=message, fields=fields))],
        )
    return responses
