"""Batches over HTTP: create (validated by the batch contract), list, read, results, comparisons,
actions and exports; owners see their own, staff see all, anyone else gets a 404."""

from __future__ import annotations

import csv
import io
import json

import pytest

from assessments import services
from assessments.models import Batch, BatchState, EssayRole
from assessments.results.schema import BatchResults
from tests.api.conftest import error_of
from tests.conftest import body_of, essays

pytestmark = pytest.mark.django_db


def test_the_owner_creates_a_batch_with_an_assignment_and_gets_its_location(as_owner, assignment):
    response = as_owner.post("/api/v1/batches", {"assignment_id": assignment.pk, "essays": essays(4)}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["Location"] == f"/api/v1/batches/{body['id']}" == body["url"]
    assert body["state"] == "created" and body["assignment"] == assignment.pk
    assert body["progress"]["comparisons"]["budget"] > 0
    batch = Batch.objects.get(pk=body["id"])
    assert batch.essays.filter(role=EssayRole.ANCHOR).count() == 3
    assert batch.processing_metadata["original_request"]["user_id"] == batch.owner_id


def test_a_created_batch_is_started_once_the_request_commits(as_owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_owner.post("/api/v1/batches", {"essays": essays(4)}, format="json")
    assert response.status_code == 201
    assert Batch.objects.get(pk=response.json()["id"]).state == BatchState.COMPLETED  # tasks run in process


def test_a_guest_batch_and_one_with_inline_anchors_are_accepted(as_owner):
    guest = as_owner.post("/api/v1/batches", {"essays": essays(3)}, format="json")
    assert guest.status_code == 201 and guest.json()["assignment"] is None
    inline = as_owner.post(
        "/api/v1/batches",
        {
            "essays": essays(3),
            "grade_scale": "swedish_a_f",
            "anchors": [{"label": "low", "grade": "E", "text": "Short."}, {"label": "high", "grade": "A", "text": "Long."}],
            "options": {"comparisons_per_essay": 4, "reliability_target": 0.8, "cost_limit_usd": 1.5},
        },
        format="json",
    )
    assert inline.status_code == 201 and inline.json()["assignment"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"essays": [{"id": "", "text": "x"}]}, "essays.0.id"),
        ({"essays": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, "essays"),
        ({"essays": []}, "essays"),
        ({"essays": [{"id": "a", "text": "x"}], "surprise": 1}, "surprise"),
        (
            {
                "essays": [{"id": "a", "text": "x"}],
                "grade_scale": "swedish_a_f",
                "anchors": [{"label": "l", "grade": "Z", "text": "t"}],
            },
            "anchors.0.grade",
        ),
        (
            {"essays": [{"id": "a", "text": "x"}], "llm_config_overrides": {"model_override": "gpt-9"}},
            "llm_config_overrides.model_override",
        ),
        (
            {"essays": [{"id": "a", "text": "x"}], "options": {"judges": [{"model_override": "nope"}]}},
            "options.judges.0.model_override",
        ),
        ({"essays": [{"id": "a", "text": "x"}], "webhook_url": "ftp://example.org/hook"}, "webhook_url"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(as_owner, body, field):
    response = as_owner.post("/api/v1/batches", body, format="json")
    assert response.status_code == 400
    assert field in error_of(response)["fields"], response.json()
    assert not Batch.objects.exists()


def test_an_unknown_provider_lists_the_valid_ones(as_owner):
    response = as_owner.post(
        "/api/v1/batches", {"essays": essays(2), "llm_config_overrides": {"provider_override": "gemini"}}, format="json"
    )
    message = " ".join(error_of(response)["fields"]["llm_config_overrides.provider_override"])
    assert "anthropic" in message and "openai" in message


def test_a_rubric_override_on_a_canonical_assignment_is_a_400(as_owner, assignment):
    assignment.context_origin = "canonical"
    assignment.save()
    response = as_owner.post(
        "/api/v1/batches",
        {"assignment_id": assignment.pk, "essays": essays(2), "llm_config_overrides": {"rubric_override": "Be kind."}},
        format="json",
    )
    assert response.status_code == 400 and "llm_config_overrides.rubric_override" in error_of(response)["fields"]


def test_another_users_assignment_cannot_be_used(as_other, assignment):
    response = as_other.post("/api/v1/batches", {"assignment_id": assignment.pk, "essays": essays(2)}, format="json")
    assert response.status_code == 400 and "assignment_id" in error_of(response)["fields"]


def test_a_webhook_needs_the_owners_own_secret_to_sign_it(as_owner):
    response = as_owner.post("/api/v1/batches", {"essays": essays(2), "webhook_url": "https://example.org/h"}, format="json")
    assert response.status_code == 400 and "webhook secret" in error_of(response)["fields"]["webhook_url"][0]


# --- Limits ------------------------------------------------------------------------------------


def test_too_many_essays_is_a_400_naming_the_limit(as_owner, settings):
    settings.CJ_API_MAX_ESSAYS_PER_BATCH = 3
    response = as_owner.post("/api/v1/batches", {"essays": essays(4)}, format="json")
    error = error_of(response)
    assert response.status_code == 400 and error["code"] == "limit_exceeded"
    assert "CJ_API_MAX_ESSAYS_PER_BATCH" in error["fields"]["essays"][0] and "at most 3" in error["fields"]["essays"][0]


def test_a_budget_lowered_by_the_ceiling_is_said_in_the_create_response(as_owner, settings):
    settings.CJ_MAX_COMPARISONS_CEILING = 5
    created = as_owner.post("/api/v1/batches", {"essays": essays(4), "options": {"comparisons_per_essay": 10}}, format="json")
    comparisons = created.json()["progress"]["comparisons"]
    assert created.status_code == 201 and comparisons["budget"] == 5
    assert "CJ_MAX_COMPARISONS_CEILING" in comparisons["budget_note"] and "asked for 20" in comparisons["budget_note"]
    uncapped = as_owner.post("/api/v1/batches", {"essays": essays(4), "options": {"comparisons_per_essay": 2}}, format="json")
    assert uncapped.json()["progress"]["comparisons"]["budget_note"] is None


def test_a_too_long_essay_is_a_400_naming_the_limit_and_the_essay(as_owner, settings):
    settings.CJ_API_MAX_ESSAY_CHARS = 100
    body = {"essays": [{"id": "a", "text": "x" * 50}, {"id": "b", "text": "y" * 101}]}
    error = error_of(as_owner.post("/api/v1/batches", body, format="json"))
    assert list(error["fields"]) == ["essays.1.text"] and "CJ_API_MAX_ESSAY_CHARS" in error["fields"]["essays.1.text"][0]


def test_a_body_over_the_size_limit_is_a_413_naming_the_limit(as_owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.API_MAX_BODY_BYTES = 2048
    response = as_owner.post("/api/v1/batches", {"essays": [{"id": "a", "text": "x" * 5000}]}, format="json")
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large" and "API_MAX_BODY_BYTES" in error["message"] and "2,048" in error["message"]


# --- Idempotency -------------------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_answers_the_same_batch(as_owner):
    body = {"essays": essays(3)}
    first = as_owner.post("/api/v1/batches", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = as_owner.post("/api/v1/batches", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and Batch.objects.count() == 1
    assert again["Idempotent-Replayed"] == "true" and again["Location"] == first["Location"]


def test_the_same_idempotency_key_with_another_body_is_a_409(as_owner):
    as_owner.post("/api/v1/batches", {"essays": essays(3)}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = as_owner.post("/api/v1/batches", {"essays": essays(4)}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "idempotency_conflict" and "Idempotency-Key" in error["fields"]
    assert Batch.objects.count() == 1


def test_idempotency_keys_belong_to_each_user(as_owner, as_other):
    as_owner.post("/api/v1/batches", {"essays": essays(3)}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = as_other.post("/api/v1/batches", {"essays": essays(3)}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201 and Batch.objects.count() == 2


def test_an_overlong_idempotency_key_is_a_400(as_owner):
    response = as_owner.post("/api/v1/batches", {"essays": essays(2)}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 151)
    assert response.status_code == 400 and "Idempotency-Key" in error_of(response)["fields"]


# --- Reading -----------------------------------------------------------------------------------


def test_owners_list_their_own_batches_filtered_and_paginated_and_staff_list_all(owner, other_user, as_owner, as_staff):
    from assessments import services

    for _ in range(3):
        services.batch_create(owner=owner, request={"essays": essays(2)})
    services.batch_create(owner=other_user, request={"essays": essays(2)})
    page = as_owner.get("/api/v1/batches?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert as_owner.get("/api/v1/batches?state=completed").json()["count"] == 0
    assert as_staff.get("/api/v1/batches").json()["count"] == 4
    bad = as_owner.get("/api/v1/batches?state=done")
    assert bad.status_code == 400 and "completed" in error_of(bad)["fields"]["state"][0]


def test_a_finished_batch_reads_with_progress_results_comparisons_and_exports(owner, as_owner, assignment, finished_batch):
    batch = finished_batch(owner, n=4, assignment_id=assignment.pk, options={"comparisons_per_essay": 4})
    detail = as_owner.get(f"/api/v1/batches/{batch.pk}").json()
    progress = detail["progress"]
    assert detail["state"] == "completed" and detail["end_reason"]
    assert progress["comparisons"]["succeeded"] == batch.comparisons_succeeded > 0
    assert progress["comparisons"]["sent"] >= progress["comparisons"]["succeeded"]
    assert progress["estimate"]["comparisons_remaining_at_most"] == 0 and progress["reliability"] is not None
    assert progress["reliability_note"] is None

    results = as_owner.get(f"/api/v1/batches/{batch.pk}/results").json()
    assert results["scored"] and 0 <= results["reliability"] < 1 and results["ssr_sirt"] is not None and results["judges"]
    assert results["grading"]["available"] in (True, False) and results["anchor_alignment"]["n_anchors"] == 3
    student = next(e for e in results["essays"] if e["role"] == "student" and e["projected_grade"])
    assert student["theta_low_95"] < student["theta"] < student["theta_high_95"]
    assert sum(student["grade_probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert [e["rank"] for e in results["essays"]] == sorted(e["rank"] for e in results["essays"])

    comparisons = as_owner.get(f"/api/v1/batches/{batch.pk}/comparisons?status=succeeded&round=1").json()
    assert comparisons["count"] > 0 and all(c["status"] == "succeeded" and c["round"] == 1 for c in comparisons["results"])
    first = comparisons["results"][0]
    assert first["winner_id"] in (first["essay_a"], first["essay_b"]) and first["justification"]
    assert as_owner.get(f"/api/v1/batches/{batch.pk}/comparisons?status=nope").status_code == 400
    assert as_owner.get(f"/api/v1/batches/{batch.pk}/comparisons?round=0").status_code == 400

    exported = BatchResults.model_validate_json(body_of(as_owner.get(f"/api/v1/batches/{batch.pk}/export.json")))
    assert (exported.schema_name, exported.schema_version) == ("cj-results", 2)
    assert exported.batch.id == batch.pk and exported.batch.state == "completed" and exported.batch.judges
    assert [e.id for e in exported.bt_summary.essays] == [e["essay_id"] for e in results["essays"]]
    assert exported.bt_summary.reliability == results["reliability"] and len(exported.comparisons) == batch.comparisons.count()
    assert exported.anchor_alignment.n_anchors == 3
    assert exported.anchor_alignment.kendall_tau == pytest.approx(results["anchor_alignment"]["kendall_tau"])
    assert exported.costs.total_usd == results["cost_usd"]

    response = as_owner.get(f"/api/v1/batches/{batch.pk}/export.csv", HTTP_ACCEPT="text/csv")
    assert response["Content-Type"].startswith("text/csv") and response["X-CJ-Export-Schema"] == "cj-results/2"
    rows = list(csv.DictReader(io.StringIO(body_of(response).decode())))
    assert len(rows) == 7 and rows[0]["rank"] == "1"


def test_a_new_batch_has_empty_results_and_an_estimate(as_owner):
    created = as_owner.post("/api/v1/batches", {"essays": essays(4)}, format="json").json()
    assert created["progress"]["estimate"]["comparisons_remaining_at_most"] == created["progress"]["comparisons"]["budget"]
    results = as_owner.get(f"/api/v1/batches/{created['id']}/results").json()
    assert results["scored"] is False and results["reliability"] is None and results["reliability_note"]
    assert len(results["essays"]) == 4


@pytest.mark.parametrize(
    "path",
    ["", "/results", "/comparisons", "/export.csv", "/export.json"],
)
def test_another_users_batch_is_a_404_and_staff_read_it(owner, as_other, as_staff, as_anonymous, path):
    from assessments import services

    batch = services.batch_create(owner=owner, request={"essays": essays(2)})
    hidden = as_other.get(f"/api/v1/batches/{batch.pk}{path}")
    assert hidden.status_code == 404 and error_of(hidden)["code"] == "not_found"
    assert as_staff.get(f"/api/v1/batches/{batch.pk}{path}").status_code == 200
    assert as_anonymous.get(f"/api/v1/batches/{batch.pk}{path}").status_code == 401


# --- Actions -----------------------------------------------------------------------------------


def test_the_owner_cancels_a_running_batch_and_a_second_cancel_is_a_409(owner, as_owner):
    from assessments import services

    batch = services.batch_create(owner=owner, request={"essays": essays(3)})
    response = as_owner.post(f"/api/v1/batches/{batch.pk}/cancel")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    again = as_owner.post(f"/api/v1/batches/{batch.pk}/cancel")
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"


def test_the_owner_continues_a_finished_batch_and_rescores_it(owner, as_owner, finished_batch):
    batch = finished_batch(owner, n=4, options={"comparisons_per_essay": 2})
    planned = batch.comparisons_planned
    response = as_owner.post(f"/api/v1/batches/{batch.pk}/continue", {"additional_comparisons": 3}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["comparisons_planned"] > planned
    rescored = as_owner.post(f"/api/v1/batches/{batch.pk}/rescore")
    assert rescored.status_code == 200 and rescored.json()["scored"]


def test_continuing_needs_a_positive_count_and_a_finished_batch(owner, as_owner):
    from assessments import services

    batch = services.batch_create(owner=owner, request={"essays": essays(3)})
    bad = as_owner.post(f"/api/v1/batches/{batch.pk}/continue", {"additional_comparisons": 0}, format="json")
    assert bad.status_code == 400 and "additional_comparisons" in error_of(bad)["fields"]
    running = as_owner.post(f"/api/v1/batches/{batch.pk}/continue", {"additional_comparisons": 5}, format="json")
    assert running.status_code == 409 and "state" in error_of(running)["fields"]


@pytest.mark.parametrize("action", ["cancel", "continue", "rescore"])
def test_other_users_cannot_act_on_a_batch(owner, as_other, as_anonymous, action):
    from assessments import services

    batch = services.batch_create(owner=owner, request={"essays": essays(3)})
    assert as_other.post(f"/api/v1/batches/{batch.pk}/{action}", {"additional_comparisons": 1}, format="json").status_code == 404
    assert as_anonymous.post(f"/api/v1/batches/{batch.pk}/{action}").status_code == 401
    assert Batch.objects.get(pk=batch.pk).state == BatchState.CREATED


def test_staff_cancel_any_batch(owner, as_staff):
    from assessments import services

    batch = services.batch_create(owner=owner, request={"essays": essays(3)})
    assert as_staff.post(f"/api/v1/batches/{batch.pk}/cancel").status_code == 200


def test_the_api_export_is_the_document_the_research_runner_writes_as_results(owner, as_owner, finished_batch):
    """One schema: the export validates against `BatchResults`, the model of `RunArtefact.results`."""
    from assessments.research.artefact import RunArtefact
    from assessments.results.building import batch_results_document

    batch = finished_batch(owner, n=4, options={"comparisons_per_essay": 3})
    exported = json.loads(body_of(as_owner.get(f"/api/v1/batches/{batch.pk}/export.json")))
    assert exported["schema_name"] == "cj-results"
    assert RunArtefact.model_fields["results"].annotation == BatchResults | None
    document = BatchResults.model_validate(exported)
    built = batch_results_document(batch=batch)
    assert document.model_dump(exclude={"generated_at"}) == built.model_dump(exclude={"generated_at"})
    assert document.anchor_alignment is None  # a guest batch: no graded anchors


# --- Reading a large batch -----------------------------------------------------------------------


def _scored(owner, finished_batch, n):
    batch = finished_batch(owner, n=n, options={"comparisons_per_essay": 3})
    assert batch.essays.filter(rank__isnull=False).count() == n
    return batch


def test_results_come_a_page_at_a_time_best_first_with_a_link_to_the_next(owner, as_owner, finished_batch):
    batch = _scored(owner, finished_batch, 9)
    everything = as_owner.get(f"/api/v1/batches/{batch.pk}/results?limit=100").json()
    first = as_owner.get(f"/api/v1/batches/{batch.pk}/results?limit=4").json()
    assert (first["essays_total"], first["essays_offset"], len(first["essays"])) == (9, 0, 4)
    pages, url = [], f"/api/v1/batches/{batch.pk}/results?limit=4"
    while url:
        page = as_owner.get(url).json()
        pages += page["essays"]
        url = page["essays_next"]
    assert [e["essay_id"] for e in pages] == [e["essay_id"] for e in everything["essays"]]
    assert [e["rank"] for e in pages] == list(range(1, 10))
    assert everything["essays_next"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=5001", "offset=-1", "limit=²", "offset=x"])
def test_a_bad_results_page_is_a_400_naming_the_field(owner, as_owner, finished_batch, query):
    batch = services.batch_create(owner=owner, request={"essays": essays(3)})
    response = as_owner.get(f"/api/v1/batches/{batch.pk}/results?{query}")
    assert response.status_code == 400 and query.split("=")[0] in error_of(response)["fields"]


def test_reading_results_and_exports_costs_the_same_queries_at_any_batch_size(owner, as_owner, finished_batch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for n in (5, 15):
        batch = _scored(owner, finished_batch, n)
        counts[n] = []
        for path in ("/results", "/export.csv", "/export.json"):
            with CaptureQueriesContext(connection) as queries:
                body_of(as_owner.get(f"/api/v1/batches/{batch.pk}{path}"))
            counts[n].append(len(queries))
    assert counts[5] == counts[15], counts  # no query per essay or per comparison


def test_the_exports_stream_the_same_document_as_the_results(owner, as_owner, finished_batch, assignment):
    batch = finished_batch(owner, n=5, assignment_id=assignment.pk, options={"comparisons_per_essay": 4})
    response = as_owner.get(f"/api/v1/batches/{batch.pk}/export.json")
    assert response.streaming and response["X-CJ-Export-Schema"] == "cj-results/2"
    from assessments.results.building import batch_results_document

    streamed = BatchResults.model_validate_json(body_of(response))
    built = batch_results_document(batch=batch)
    assert streamed.model_dump(exclude={"generated_at"}) == built.model_dump(exclude={"generated_at"})
    assert len(streamed.comparisons) == batch.comparisons.count() and streamed.anchor_alignment.n_anchors == 3
