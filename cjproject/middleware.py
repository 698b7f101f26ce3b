"""A request body sent in chunks (Transfer-Encoding: chunked, no Content-Length) is refused with a
411 rather than read as empty: Django reads a body by its Content-Length, so such a body would
otherwise reach a view as nothing at all (a batch "without essays"). Under /api/ the answer is
the one error shape."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from cjproject.api import API_PREFIX, error_body

LENGTH_REQUIRED = "send the request body with a Content-Length header: a chunked body (Transfer-Encoding: chunked) is not read"


def _chunked_without_length(request: HttpRequest) -> bool:
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked and not request.META.get("CONTENT_LENGTH")


class LengthRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _chunked_without_length(request):
            return self.get_response(request)
        if request.path.startswith(API_PREFIX):
            body = error_body(code="length_required", message=LENGTH_REQUIRED, fields={"Content-Length": ["required"]})
            return JsonResponse(body, status=411)
        return HttpResponse(LENGTH_REQUIRED, status=411, content_type="text/plain; charset=utf-8")
