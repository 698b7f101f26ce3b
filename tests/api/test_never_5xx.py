"""Issue #13, finding by finding: input that once answered 5xx answers 4xx in the one error shape,
leaving no rows behind; results never carry NaN or infinity."""

from __future__ import annotations

import json

import pytest

from assessments.models import AnchorEssay, Assignment, Batch, BatchState
from tests.api.conftest import error_of
from tests.conftest import body_of, essays

pytestmark = pytest.mark.django_db

INLINE = {
    "grade_scale": "swedish_a_f",
    "anchors": [{"label": "low", "grade": "E", "text": "Short."}, {"label": "high", "grade": "A", "text": "Long and clear."}],
}


def _rows() -> tuple[int, int, int]:
    return Batch.objects.count(), Assignment.objects.count(), AnchorEssay.objects.count()


# --- Finding 1: batches with inline anchors never start ----------------------------------------


def test_finding_1_a_batch_with_inline_anchors_starts_and_finishes(as_owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_owner.post("/api/v1/batches", {"essays": essays(4), **INLINE}, format="json")
    assert response.status_code == 201, response.json()
    batch = Batch.objects.get(pk=response.json()["id"])
    assert batch.state == BatchState.COMPLETED, (batch.state, batch.end_message)


def test_finding_1_the_openapi_inline_anchors_example_starts(as_owner, django_capture_on_commit_callbacks):
    from assessments.api.views import INLINE_ANCHORS_EXAMPLE

    with django_capture_on_commit_callbacks(execute=True):
        response = as_owner.post("/api/v1/batches", INLINE_ANCHORS_EXAMPLE, format="json")
    assert response.status_code == 201, response.json()
    assert Batch.objects.get(pk=response.json()["id"]).state == BatchState.COMPLETED


def test_finding_1_a_refused_inline_batch_leaves_no_rows_behind(as_owner):
    before = _rows()
    bad = {"essays": essays(3), **INLINE, "llm_config_overrides": {"provider_override": "nosuch"}}
    response = as_owner.post("/api/v1/batches", bad, format="json")
    assert response.status_code == 400
    error_of(response)
    assert _rows() == before


# --- Finding 2: results of a batch with an essay never judged -----------------------------------


def _no_nan(text: str) -> None:
    for word in ("NaN", "Infinity"):
        assert word not in text


def test_finding_2_results_exports_and_rescore_answer_with_an_essay_never_judged(as_owner, finished_batch, owner):
    batch = finished_batch(owner, n=3, max_comparisons_override=1)
    for method, path in (
        ("get", f"/api/v1/batches/{batch.pk}/results"),
        ("get", f"/api/v1/batches/{batch.pk}/export.json"),
        ("get", f"/api/v1/batches/{batch.pk}/export.csv"),
        ("post", f"/api/v1/batches/{batch.pk}/rescore"),
    ):
        response = getattr(as_owner, method)(path)
        assert response.status_code == 200, (path, response.status_code)
        text = body_of(response).decode()
        _no_nan(text)
    results = as_owner.get(f"/api/v1/batches/{batch.pk}/results").json()
    unjudged = [e for e in results["essays"] if e["rank"] is None]
    assert unjudged and all(e["se"] is None and e["theta"] is None for e in unjudged)


def test_finding_2_a_cancelled_batch_rescored_still_answers(as_owner, owner):
    from assessments import services

    batch = services.batch_create(owner=owner, request={"essays": essays(3)})
    services.batch_cancel(batch_id=batch.pk)
    assert as_owner.post(f"/api/v1/batches/{batch.pk}/rescore").status_code == 200
    for path in ("results", "export.json"):
        response = as_owner.get(f"/api/v1/batches/{batch.pk}/{path}")
        assert response.status_code == 200
        _no_nan(body_of(response).decode())


# --- Finding 3: NUL characters and lone surrogates ----------------------------------------------

NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"essays": [{"id": "a", "text": NUL}, {"id": "b", "text": "fine"}]}, "essays.0.text"),
        ({"essays": essays(2), "student_prompt": NUL}, "student_prompt"),
        ({"essays": essays(2), "instructions": NUL}, "instructions"),
        (
            {"essays": essays(2), "grade_scale": "swedish_a_f", "anchors": [{"label": "x", "grade": "E", "text": NUL}]},
            "anchors.0.text",
        ),
        ({"essays": essays(2), "course_code": NUL}, "course_code"),
    ],
)
def test_finding_3_a_nul_character_in_a_batch_is_a_400_naming_the_field(as_owner, body, field, caplog):
    before = _rows()
    response = as_owner.post("/api/v1/batches", body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_of(response)["fields"]
    assert _rows() == before
    assert "a\x00b" not in caplog.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/assignments", {"title": "t", "student_prompt": NUL}, "student_prompt"),
        ("/api/v1/assignments", {"title": NUL, "student_prompt": "p"}, "title"),
    ],
)
def test_finding_3_a_nul_character_in_an_assignment_is_a_400(as_owner, path, body, field):
    response = as_owner.post(path, body, format="json")
    assert response.status_code == 400
    assert field in error_of(response)["fields"]


def test_finding_3_a_nul_in_an_anchor_is_a_400(as_owner, assignment):
    response = as_owner.post(
        f"/api/v1/assignments/{assignment.pk}/anchors", {"label": "x", "grade": "C", "text": NUL}, format="json"
    )
    assert response.status_code == 400
    assert "text" in error_of(response)["fields"]


def test_finding_3_a_lone_surrogate_is_a_400(as_owner):
    raw = '{"essays": [{"id": "a", "text": "x\\ud800y"}, {"id": "b", "text": "fine"}]}'
    response = as_owner.generic("POST", "/api/v1/batches", raw, content_type="application/json")
    assert response.status_code == 400
    assert "essays.0.text" in error_of(response)["fields"]


# --- Finding 4: infinity and odd digits ---------------------------------------------------------


def test_finding_4_a_cost_limit_of_1e999_is_a_400(as_owner):
    raw = json.dumps({"essays": essays(2)})[:-1] + ', "options": {"cost_limit_usd": 1e999}}'
    response = as_owner.generic("POST", "/api/v1/batches", raw, content_type="application/json")
    assert response.status_code == 400
    assert "options.cost_limit_usd" in error_of(response)["fields"]
    assert Batch.objects.count() == 0


def test_finding_4_a_superscript_round_is_a_400(as_owner, owner):
    from assessments import services

    batch = services.batch_create(owner=owner, request={"essays": essays(2)})
    response = as_owner.get(f"/api/v1/batches/{batch.pk}/comparisons", {"round": "²"})
    assert response.status_code == 400
    assert "round" in error_of(response)["fields"]


# --- Finding 10: smaller gaps -------------------------------------------------------------------


def test_finding_10_a_one_essay_batch_is_a_400_at_create(as_owner):
    response = as_owner.post("/api/v1/batches", {"essays": essays(1)}, format="json")
    assert response.status_code == 400
    assert "essays" in error_of(response)["fields"]
    assert Batch.objects.count() == 0


@pytest.mark.parametrize("field", ["student_prompt", "instructions"])
def test_finding_10_a_prompt_or_rubric_over_the_limit_is_a_400(as_owner, field, settings):
    from assessments.schemas import PROMPT_MAX_CHARS

    response = as_owner.post("/api/v1/batches", {"essays": essays(2), field: "x" * (PROMPT_MAX_CHARS + 1)}, format="json")
    assert response.status_code == 400
    assert field in error_of(response)["fields"]
    response = as_owner.post(
        "/api/v1/assignments", {"title": "t", "student_prompt": "p", field: "x" * (PROMPT_MAX_CHARS + 1)}, format="json"
    )
    assert response.status_code == 400
    assert field in error_of(response)["fields"]
