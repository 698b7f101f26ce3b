"""Views of the CJ API: parse the request, call one service or selector, shape the answer.

Every object is looked up among the caller's own (`selectors.*_visible`): another user's
assignment or batch is a 404, never a 403; superusers see all. Errors are the one JSON shape
(`cjproject.api.exception_handler`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from pydantic import ValidationError
from rest_framework import exceptions, generics, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assessments import selectors, services
from assessments.api import serializers as s
from assessments.api.contracts import (
    BatchCreate,
    JudgeExclusionIn,
    JudgeExclusionOut,
    JudgeInviteIn,
    JudgementOut,
    JudgeOut,
    JudgesOut,
    NextPairOut,
)
from assessments.api.judging import judge_out, judgement_answer, next_pair_answer
from assessments.models import AnchorEssay, Assignment, Batch, BatchState, ComparisonStatus
from assessments.results.building import comparison_entry
from assessments.results.schema import EXPORT_COLUMNS, SCHEMA_NAME, SCHEMA_VERSION, BatchResults, ComparisonEntry, ResultsSummary
from assessments.results.writers import batch_results_csv_stream, batch_results_json_stream
from assessments.schemas import HumanJudgementInput
from cjproject.api import IDEMPOTENCY_HEADER, APIError, Idempotency, error_responses, request_user
from cjproject.errors import Conflict, InvalidInput, fields_from_pydantic
from webhooks.selectors import webhook_registration_refusal

ASSIGNMENTS = "assignments"
BATCHES = "batches"
JUDGING = "judging"


def _validated(serializer_class: type[serializers.Serializer], data: Any, *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _one(queryset: QuerySet, pk: int, what: str) -> Any:
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise exceptions.NotFound(f"no {what} {pk} of yours")
    return found


def _created(data: dict[str, Any], location: str, **headers: str) -> Response:
    return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location, **headers})


# --- Assignments -------------------------------------------------------------------------------


@extend_schema(tags=[ASSIGNMENTS])
class AssignmentListCreateView(generics.ListCreateAPIView):
    """Assignments: the task, the rubric, the grade scale; anchors are nested under each."""

    serializer_class = s.AssignmentSerializer

    def get_queryset(self) -> QuerySet[Assignment]:
        return selectors.assignments_visible(user=self.request.user).order_by("-created_at", "-id")

    @extend_schema(summary="List your assignments", responses={200: s.AssignmentSerializer(many=True), **error_responses(404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create an assignment",
        request=s.AssignmentInputSerializer,
        responses={201: s.AssignmentSerializer, **error_responses(400)},
        examples=[
            OpenApiExample(
                "Role models (Swedish A–F)",
                request_only=True,
                value={
                    "title": "Role models",
                    "student_prompt": "Write about a role model.",
                    "instructions": "Reward clear structure and precise language.",
                    "grade_scale": "swedish_a_f",
                },
            )
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _validated(s.AssignmentInputSerializer, request.data)
        assignment = services.assignment_create(owner=request_user(request), **data)
        fresh = self.get_queryset().get(pk=assignment.pk)
        return _created(s.AssignmentSerializer(fresh).data, f"/api/v1/assignments/{fresh.pk}")


@extend_schema(tags=[ASSIGNMENTS])
class AssignmentDetailView(APIView):
    def _assignment(self, request: Request, assignment_id: int) -> Assignment:
        return _one(selectors.assignments_visible(user=request.user), assignment_id, "assignment")

    @extend_schema(summary="Read an assignment", responses={200: s.AssignmentSerializer, **error_responses(404)})
    def get(self, request: Request, assignment_id: int) -> Response:
        return Response(s.AssignmentSerializer(self._assignment(request, assignment_id)).data)

    @extend_schema(
        summary="Replace an assignment",
        description="The title may always change; prompt, rubric, scale and origin only while no batch uses it (else 409).",
        request=s.AssignmentInputSerializer,
        responses={200: s.AssignmentSerializer, **error_responses(400, 404, 409)},
    )
    def put(self, request: Request, assignment_id: int) -> Response:
        return self._update(request, assignment_id, partial=False)

    @extend_schema(
        summary="Change an assignment",
        description="The title may always change; prompt, rubric, scale and origin only while no batch uses it (else 409).",
        request=s.AssignmentInputSerializer(partial=True),
        responses={200: s.AssignmentSerializer, **error_responses(400, 404, 409)},
    )
    def patch(self, request: Request, assignment_id: int) -> Response:
        return self._update(request, assignment_id, partial=True)

    def _update(self, request: Request, assignment_id: int, *, partial: bool) -> Response:
        assignment = self._assignment(request, assignment_id)
        changes = _validated(s.AssignmentInputSerializer, request.data, partial=partial)
        services.assignment_update(assignment=assignment, changes=changes)
        return Response(s.AssignmentSerializer(self._assignment(request, assignment_id)).data)

    @extend_schema(
        summary="Delete an assignment and its anchors",
        description="Refused (409) while a batch uses the assignment.",
        responses={204: None, **error_responses(404, 409)},
    )
    def delete(self, request: Request, assignment_id: int) -> Response:
        services.assignment_delete(assignment=self._assignment(request, assignment_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=[ASSIGNMENTS])
class AnchorListCreateView(generics.ListCreateAPIView):
    serializer_class = s.AnchorSerializer

    def _assignment(self) -> Assignment:
        return _one(selectors.assignments_visible(user=self.request.user), self.kwargs["assignment_id"], "assignment")

    def get_queryset(self) -> QuerySet[AnchorEssay]:
        return self._assignment().anchors.order_by("label")

    @extend_schema(summary="List an assignment's anchors", responses={200: s.AnchorSerializer(many=True), **error_responses(404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Register an anchor essay of known grade",
        description="The grade must be on the assignment's scale (400 naming the valid grades).",
        request=s.AnchorInputSerializer,
        responses={201: s.AnchorSerializer, **error_responses(400, 404)},
        examples=[
            OpenApiExample(
                "A C-grade anchor",
                request_only=True,
                value={"label": "mid", "grade": "C", "text": "A role model shows us how to act when things are difficult."},
            )
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        assignment = self._assignment()
        anchor = services.anchor_register(assignment=assignment, **_validated(s.AnchorInputSerializer, request.data))
        return _created(s.AnchorSerializer(anchor).data, f"/api/v1/assignments/{assignment.pk}/anchors/{anchor.pk}")


@extend_schema(tags=[ASSIGNMENTS])
class AnchorDetailView(APIView):
    def _anchor(self, request: Request, assignment_id: int, anchor_id: int) -> AnchorEssay:
        assignment = _one(selectors.assignments_visible(user=request.user), assignment_id, "assignment")
        return _one(assignment.anchors.all(), anchor_id, "anchor")

    @extend_schema(summary="Read an anchor", responses={200: s.AnchorSerializer, **error_responses(404)})
    def get(self, request: Request, assignment_id: int, anchor_id: int) -> Response:
        return Response(s.AnchorSerializer(self._anchor(request, assignment_id, anchor_id)).data)

    @extend_schema(
        summary="Delete an anchor",
        description="Batches already created keep their own copy of it.",
        responses={204: None, **error_responses(404)},
    )
    def delete(self, request: Request, assignment_id: int, anchor_id: int) -> Response:
        services.anchor_delete(anchor=self._anchor(request, assignment_id, anchor_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Batches -----------------------------------------------------------------------------------

BATCH_EXAMPLE = {
    "assignment_id": 7,
    "essays": [
        {"id": "student-001", "text": "A role model need not be famous; the most influential people are often nearby."},
        {"id": "student-002", "text": "My grandmother taught me patience. She listened, she planned, she never gave up."},
    ],
    "options": {"comparisons_per_essay": 10, "reliability_target": 0.9, "cost_limit_usd": 5.0},
    "llm_config_overrides": {"provider_override": "anthropic", "model_override": "claude-sonnet-4-6"},
    "webhook_url": "https://school.example/cj-hooks",
}
GUEST_EXAMPLE = {
    "essays": [{"id": "a", "text": "First essay ..."}, {"id": "b", "text": "Second essay ..."}],
    "student_prompt": "Write about a role model.",
}
INLINE_ANCHORS_EXAMPLE = {
    "essays": [{"id": "a", "text": "First essay ..."}, {"id": "b", "text": "Second essay ..."}],
    "grade_scale": "swedish_a_f",
    "anchors": [
        {"label": "low", "grade": "E", "text": "A role model is good. I like them."},
        {"label": "high", "grade": "A", "text": "The most convincing role models are rarely the loudest ..."},
    ],
    "student_prompt": "Write about a role model.",
    "instructions": "Reward clear structure and precise language.",
    "options": {"judges": [{"provider_override": "mock", "model_override": "mock-heuristic-v1"}]},
}


def _batch_limits(data: dict[str, Any]) -> None:
    """Essays per batch and characters per essay: 400 naming the limit and the field."""
    fields: dict[str, list[str]] = {}
    most_essays, most_chars = settings.CJ_API_MAX_ESSAYS_PER_BATCH, settings.CJ_API_MAX_ESSAY_CHARS
    for key in ("essays", "anchors"):
        items = data.get(key)
        if not isinstance(items, list):
            continue
        if key == "essays" and len(items) > most_essays:
            fields["essays"] = [f"at most {most_essays} essays per batch (CJ_API_MAX_ESSAYS_PER_BATCH); got {len(items)}"]
        for index, item in enumerate(items):
            text = item.get("text") if isinstance(item, dict) else None
            if isinstance(text, str) and len(text) > most_chars:
                fields[f"{key}.{index}.text"] = [
                    f"at most {most_chars} characters per essay (CJ_API_MAX_ESSAY_CHARS); got {len(text)}"
                ]
    if fields:
        raise APIError("the batch is over a limit", code="limit_exceeded", http_status=400, fields=fields)


STATE_PARAMETER = OpenApiParameter("state", str, enum=BatchState.values, description="Only batches in this state.")


@extend_schema(tags=[BATCHES])
class BatchListCreateView(generics.ListCreateAPIView):
    serializer_class = s.BatchSerializer

    def get_queryset(self) -> QuerySet[Batch]:
        state = self.request.query_params.get("state") or None
        if state is not None and state not in BatchState.values:
            allowed = ", ".join(BatchState.values)
            raise InvalidInput("invalid query", fields={"state": [f"{state!r} is not a state; choose one of: {allowed}"]})
        return selectors.batches_visible(user=self.request.user, state=state).order_by("-created_at", "-id")

    @extend_schema(
        summary="List your batches",
        parameters=[STATE_PARAMETER],
        responses={200: s.BatchSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a batch and start judging it",
        description=(
            "The body is the batch contract `CJAssessmentRequestData` (plus `webhook_url`): essays inline (`id`, `text`), "
            "and an `assignment_id`, or inline `anchors` with a `grade_scale` (and `student_prompt`, `instructions`), "
            "or neither (a guest batch: ranked, not graded). Options: budget (`options.comparisons_per_essay`, "
            "`max_comparisons_override`), `llm_config_overrides`, `options.batching_mode`, `options.reliability_target`, "
            "`options.judges` (a panel), `options.cost_limit_usd`. Providers and models: `GET /api/v1/models`.\n\n"
            "Limits: `CJ_API_MAX_ESSAYS_PER_BATCH` essays, `CJ_API_MAX_ESSAY_CHARS` characters per essay (400), "
            "`API_MAX_BODY_BYTES` per body (413). With an `Idempotency-Key` header, the same key and body answer the "
            "same batch again (header `Idempotent-Replayed: true`); the same key with another body is a 409."
        ),
        request=BatchCreate,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, description="Up to 150 characters, your own per user."
            )
        ],
        responses={201: s.BatchDetailSerializer, **error_responses(400, 409, 413)},
        examples=[
            OpenApiExample("With an assignment, options and a webhook", value=BATCH_EXAMPLE, request_only=True),
            OpenApiExample("Guest batch (ranking only)", value=GUEST_EXAMPLE, request_only=True),
            OpenApiExample("Inline anchors and a judge panel", value=INLINE_ANCHORS_EXAMPLE, request_only=True),
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput("invalid batch request", fields={"__root__": ["the body must be a JSON object"]})
        idempotency = Idempotency.of(request)
        if idempotency.key and (replayed := self._replay(request, idempotency)):
            return replayed
        _batch_limits(request.data)
        try:
            body = BatchCreate.model_validate(request.data)
        except ValidationError as exc:
            raise InvalidInput("invalid batch request", fields=fields_from_pydantic(exc)) from None
        if body.webhook_url and (refused := webhook_registration_refusal(owner=request_user(request), url=str(body.webhook_url))):
            raise InvalidInput("webhook URL refused", fields={"webhook_url": [refused]})
        try:
            batch = services.batch_submit(
                owner=request_user(request),
                request=body.request_data(),
                webhook_url=str(body.webhook_url or ""),
                idempotency_key=idempotency.key,
                idempotency_body_sha256=idempotency.body_sha256 if idempotency.key else "",
            )
        except IntegrityError:  # the same key, sent twice at once: the other request won
            if idempotency.key and (replayed := self._replay(request, idempotency)):
                return replayed
            raise
        batch.refresh_from_db()
        return _created(s.BatchDetailSerializer(batch).data, f"/api/v1/batches/{batch.pk}")

    def _replay(self, request: Request, idempotency: Idempotency) -> Response | None:
        existing = Batch.objects.filter(owner=request_user(request), idempotency_key=idempotency.key).first()
        if existing is None:
            return None
        idempotency.check_replay(existing.idempotency_body_sha256)
        data = s.BatchDetailSerializer(existing).data
        return _created(data, f"/api/v1/batches/{existing.pk}", **{"Idempotent-Replayed": "true"})


class _BatchView(APIView):
    def _batch(self, request: Request, batch_id: int) -> Batch:
        return _one(selectors.batches_visible(user=request.user), batch_id, "batch")


@extend_schema(tags=[BATCHES])
class BatchDetailView(_BatchView):
    @extend_schema(
        summary="Read a batch: state, end reason, progress and an estimate of what remains",
        responses={200: s.BatchDetailSerializer, **error_responses(404)},
    )
    def get(self, request: Request, batch_id: int) -> Response:
        return Response(s.BatchDetailSerializer(self._batch(request, batch_id)).data)


# Essays per page of `GET .../results` (best first): the default and the most a client may ask for.
RESULTS_PAGE_SIZE = 1000
RESULTS_PAGE_MAX = 5000


def _page_params(params: Any) -> tuple[int, int]:
    """`offset` and `limit` from the query, checked (400 naming the field)."""
    values, fields = {}, {}
    for name, default, lowest, highest in (("offset", 0, 0, None), ("limit", RESULTS_PAGE_SIZE, 1, RESULTS_PAGE_MAX)):
        raw = params.get(name)
        if raw in (None, ""):
            values[name] = default
            continue
        value = int(raw) if raw.isascii() and raw.isdecimal() else None
        if value is None or value < lowest or (highest is not None and value > highest):
            fields[name] = [f"a whole number from {lowest}" + (f" to {highest}" if highest is not None else "")]
        else:
            values[name] = value
    if fields:
        raise InvalidInput("invalid query", fields=fields)
    return values["offset"], values["limit"]


@extend_schema(tags=[BATCHES])
class BatchResultsView(_BatchView):
    @extend_schema(
        summary="Results: per essay rank, θ, SE, 95% interval, fit, projected grade, P(grade); per batch reliability",
        description="Available while the batch runs (the latest scoring) and after it finishes; `scored` is false before. "
        f"Essays come best first, {RESULTS_PAGE_SIZE} a page by default (`limit` up to {RESULTS_PAGE_MAX}, `offset`); "
        "`essays_total` counts them all and `essays_next` links the next page. The exports hold every essay at once.",
        parameters=[
            OpenApiParameter("offset", int, description="Rank-order position of the first essay (from 0)."),
            OpenApiParameter(
                "limit", int, description=f"Essays in the page (1 to {RESULTS_PAGE_MAX}; default {RESULTS_PAGE_SIZE})."
            ),
        ],
        responses={200: ResultsSummary, **error_responses(400, 404)},
    )
    def get(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        offset, limit = _page_params(request.query_params)
        results = selectors.batch_results(batch=batch, offset=offset, limit=limit, page_url=f"/api/v1/batches/{batch.pk}/results")
        return Response(results.model_dump(mode="json"))


@extend_schema(tags=[BATCHES])
class BatchComparisonsView(generics.ListAPIView):
    serializer_class = serializers.Serializer  # pages of `ComparisonEntry` (pydantic); see `list`

    def get_queryset(self) -> QuerySet:
        batch = _one(selectors.batches_visible(user=self.request.user), self.kwargs["batch_id"], "batch")
        params = self.request.query_params
        fields: dict[str, list[str]] = {}
        status_ = params.get("status") or None
        if status_ is not None and status_ not in ComparisonStatus.values:
            fields["status"] = [f"{status_!r} is not a status; choose one of: {', '.join(ComparisonStatus.values)}"]
        round_no = params.get("round") or None
        if round_no is not None and not (round_no.isascii() and round_no.isdecimal() and int(round_no) >= 1):
            fields["round"] = ["a round number, 1 or more"]
        if fields:
            raise InvalidInput("invalid query", fields=fields)
        return selectors.batch_comparisons(
            batch=batch, status=status_, judge=params.get("judge") or None, round_no=int(round_no) if round_no else None
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            [
                comparison_entry(c, essay_a=c.essay_a.external_id, essay_b=c.essay_b.external_id).model_dump(mode="json")
                for c in page or []
            ]
        )

    @extend_schema(
        summary="A batch's comparisons, with each judge's verdict and justification",
        parameters=[
            OpenApiParameter("status", str, enum=ComparisonStatus.values),
            OpenApiParameter("judge", str, description="A panel judge's label, as in results.judges."),
            OpenApiParameter("round", int, description="Round number, from 1."),
        ],
        responses={200: ComparisonEntry, **error_responses(400, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


@extend_schema(tags=[BATCHES])
class BatchCancelView(_BatchView):
    @extend_schema(
        summary="Cancel a batch",
        description="Nothing more is sent; waiting comparisons are cancelled. 409 when it has already finished.",
        request=None,
        responses={200: s.BatchDetailSerializer, **error_responses(404, 409)},
    )
    def post(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        if not services.batch_cancel(batch_id=batch.pk):
            raise Conflict("batch already finished", fields={"state": [f"a {batch.state} batch cannot be cancelled"]})
        batch.refresh_from_db()
        return Response(s.BatchDetailSerializer(batch).data)


@extend_schema(tags=[BATCHES])
class BatchContinueView(_BatchView):
    @extend_schema(
        summary="Judge more comparisons for a finished batch",
        description="Only completed or failed batches continue (409 otherwise); the history is kept.",
        request=s.BatchContinueSerializer,
        responses={200: s.BatchDetailSerializer, **error_responses(400, 404, 409)},
        examples=[OpenApiExample("Fifty more", value={"additional_comparisons": 50}, request_only=True)],
    )
    def post(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        batch = services.batch_continue(batch_id=batch.pk, **_validated(s.BatchContinueSerializer, request.data))
        return Response(s.BatchDetailSerializer(batch).data)


@extend_schema(tags=[BATCHES])
class BatchRescoreView(_BatchView):
    @extend_schema(
        summary="Refit θ, SE and grades from the stored comparisons (no model is called)",
        request=None,
        responses={200: ResultsSummary, **error_responses(404)},
    )
    def post(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        services.batch_rescore(batch_id=batch.pk)
        batch.refresh_from_db()
        results = selectors.batch_results(
            batch=batch, offset=0, limit=RESULTS_PAGE_SIZE, page_url=f"/api/v1/batches/{batch.pk}/results"
        )
        return Response(results.model_dump(mode="json"))


class _AnyAccept(BaseContentNegotiation):
    """Exports answer their own media type whatever the client accepts; errors are JSON."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)


@extend_schema(tags=[BATCHES])
class BatchExportCSVView(_BatchView):
    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="Export the results as CSV (one row per essay)",
        description="Columns: " + ", ".join(EXPORT_COLUMNS) + ". Header `X-CJ-Export-Schema: cj-results/1`.",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row"),
            **error_responses(404),
        },
    )
    def get(self, request: Request, batch_id: int) -> StreamingHttpResponse:
        batch = self._batch(request, batch_id)
        response = StreamingHttpResponse(batch_results_csv_stream(batch=batch), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-results.csv"'
        response["X-CJ-Export-Schema"] = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
        return response


@extend_schema(tags=[BATCHES])
class BatchExportJSONView(_BatchView):
    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="Export the results and every comparison as one JSON document (schema cj-results, version 1)",
        description="The `cj-results` document: the batch, every comparison, the Bradley-Terry summary with every "
        "essay's score, grade projections, anchor alignment and costs by judge. The ENG5 research runner writes the "
        "same document as its artefact's `results`.",
        responses={200: BatchResults, **error_responses(404)},
    )
    def get(self, request: Request, batch_id: int) -> StreamingHttpResponse:
        batch = self._batch(request, batch_id)
        response = StreamingHttpResponse(batch_results_json_stream(batch=batch), content_type="application/json")
        response["X-CJ-Export-Schema"] = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
        return response


# --- People judging ----------------------------------------------------------------------------


class _JudgingView(APIView):
    def _batch(self, request: Request, batch_id: int) -> Batch:
        """Batches the caller owns or is invited to judge; any other is a 404."""
        return _one(selectors.batches_judgeable(user=request.user), batch_id, "batch")


@extend_schema(tags=[JUDGING])
class BatchNextPairView(_JudgingView):
    @extend_schema(
        summary="The pair you should judge now (owner or invited judge)",
        description=(
            "Hands you a pair chosen at this moment (the most informative one from the current scale; in a moderation "
            "batch, one the LLM judged, without its verdict) under opaque labels, leased to you for "
            "`CJ_JUDGING_LEASE_SECONDS`. Asking again returns the same pair until you answer or skip it. "
            "`pair` is null with a `reason` when there is nothing for you to judge."
        ),
        responses={200: NextPairOut, **error_responses(404)},
    )
    def get(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        offer = services.judging_next_pair(batch=batch, user=request_user(request))
        return Response(next_pair_answer(batch=batch, offer=offer).model_dump(mode="json"))


@extend_schema(tags=[JUDGING])
class BatchJudgementsView(_JudgingView):
    @extend_schema(
        summary="Record your judgement of the pair you were given",
        description=(
            "Idempotent: the same answer again returns the same comparison (`replayed: true`, nothing counted twice); "
            "another winner for an answered pair is a 409. `duration_ms` is capped by the time since the pair was "
            "handed out and by `CJ_JUDGING_MAX_DURATION_SECONDS`. `winner` `skip` passes on the pair (204): it is "
            "never offered to you again."
        ),
        request=HumanJudgementInput,
        responses={200: JudgementOut, 201: JudgementOut, 204: None, **error_responses(400, 404, 409)},
        examples=[
            OpenApiExample("Essay A is better", value={"lease_id": 12, "winner": "a", "duration_ms": 41000}, request_only=True)
        ],
    )
    def post(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        if not isinstance(request.data, dict):
            raise InvalidInput("invalid judgement", fields={"__root__": ["the body must be a JSON object"]})
        try:
            body = HumanJudgementInput.model_validate(request.data)
        except ValidationError as exc:
            raise InvalidInput("invalid judgement", fields=fields_from_pydantic(exc)) from None
        if body.winner == "skip":
            services.judging_skip(batch=batch, user=request_user(request), lease_id=body.lease_id)
            return Response(status=status.HTTP_204_NO_CONTENT)
        recorded = services.judging_record(
            batch=batch,
            user=request_user(request),
            lease_id=body.lease_id,
            winner=body.winner,
            comment=body.comment,
            duration_ms=body.duration_ms,
        )
        answer = judgement_answer(recorded)
        return Response(
            answer.model_dump(mode="json"), status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK
        )


def _contract(model: Any, data: Any, what: str) -> Any:
    """A request body checked against its pydantic contract (400 naming each field)."""
    if not isinstance(data, dict):
        raise InvalidInput(f"invalid {what}", fields={"__root__": ["the body must be a JSON object"]})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"invalid {what}", fields=fields_from_pydantic(exc)) from None


@extend_schema(tags=[JUDGING])
class BatchJudgesView(_BatchView):
    """People invited to judge one of your batches (you, its owner, may always judge)."""

    @extend_schema(summary="List the people invited to judge a batch", responses={200: JudgesOut, **error_responses(404)})
    def get(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        invited = batch.human_judges.select_related("user").order_by("invited_at", "pk")
        return Response(JudgesOut(judges=[judge_out(j) for j in invited]).model_dump(mode="json"))

    @extend_schema(
        summary="Invite a person to judge a batch",
        description="By user name; inviting someone twice returns the same invitation (200). They then see the batch "
        "in `next-pair` and `judgements`, and on the admin's judging page.",
        request=JudgeInviteIn,
        responses={201: JudgeOut, 200: JudgeOut, **error_responses(400, 404)},
        examples=[OpenApiExample("A colleague", value={"username": "teacher-2"}, request_only=True)],
    )
    def post(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        body = _contract(JudgeInviteIn, request.data, "invitation")
        invitation, created = services.batch_judge_invite_named(batch=batch, username=body.username)
        answer = judge_out(invitation).model_dump(mode="json")
        return Response(answer, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema(tags=[JUDGING])
class BatchExcludedJudgesView(_BatchView):
    @extend_schema(
        summary="Leave a judge's verdicts out of the fit (or bring them back) and rescore",
        description="`judge` is a label from the results' `judges` (an LLM's, or a person's `human:<user id>`); the "
        "verdicts stay stored and the batch is refitted at once.",
        request=JudgeExclusionIn,
        responses={200: JudgeExclusionOut, **error_responses(400, 404)},
        examples=[OpenApiExample("Exclude a person", value={"judge": "human:12", "excluded": True}, request_only=True)],
    )
    def post(self, request: Request, batch_id: int) -> Response:
        batch = self._batch(request, batch_id)
        body = _contract(JudgeExclusionIn, request.data, "exclusion")
        excluded = services.judge_exclude(batch=batch, judge=body.judge, excluded=body.excluded)
        return Response(JudgeExclusionOut(excluded_judges=excluded).model_dump(mode="json"))
