"""`GET /api/v1/batches/{id}/next-pair` and `POST /api/v1/batches/{id}/judgements`: the owner and
invited judges only (anyone else: 404), idempotent, clear 400s, never a 5xx."""

from typing import Any

import pytest

from assessments import services
from assessments.models import Batch, Comparison
from tests.api.conftest import client_for, error_of
from tests.conftest import essays

pytestmark = pytest.mark.django_db


@pytest.fixture
def grader(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="grader", password="grader-pass-123")


@pytest.fixture
def human_batch(owner: Any, grader: Any) -> Batch:
    batch = services.batch_create(
        owner=owner,
        request={"essays": essays(4), "options": {"judge_mode": "human"}, "max_comparisons_override": 20},
    )
    services.batch_start(batch_id=batch.pk)
    services.batch_judge_invite(batch=batch, user=grader)
    return Batch.objects.get(pk=batch.pk)


def _url(batch: Batch, what: str) -> str:
    return f"/api/v1/batches/{batch.pk}/{what}"


def test_the_owner_gets_a_pair_under_opaque_labels(as_owner, human_batch):
    response = as_owner.get(_url(human_batch, "next-pair"))
    assert response.status_code == 200
    body = response.json()
    assert body["pair"]["essay_a"]["label"] == "Essay A" and body["pair"]["essay_b"]["label"] == "Essay B"
    assert body["progress"] == {"judged_by_you": 0, "human_judgements": 0, "human_quota": 20, "still_needed": 20}
    text = response.content.decode()
    assert not any(f'"e{i}"' in text for i in range(1, 5))  # no essay id anywhere
    assert as_owner.get(_url(human_batch, "next-pair")).json()["pair"]["lease_id"] == body["pair"]["lease_id"]


def test_an_invited_grader_judges_and_the_same_answer_twice_counts_once(grader, human_batch):
    client = client_for(grader)
    lease = client.get(_url(human_batch, "next-pair")).json()["pair"]["lease_id"]
    answer = {"lease_id": lease, "winner": "B", "comment": "Clearer structure.", "duration_ms": 30000}
    first = client.post(_url(human_batch, "judgements"), answer, format="json")
    assert first.status_code == 201, first.json()
    again = client.post(_url(human_batch, "judgements"), answer, format="json")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["comparison_id"] == first.json()["comparison_id"]
    human_batch.refresh_from_db()
    assert human_batch.comparisons_succeeded == 1
    assert Comparison.objects.get().comment == "Clearer structure."
    changed = client.post(_url(human_batch, "judgements"), {**answer, "winner": "a"}, format="json")
    assert changed.status_code == 409 and "winner" in error_of(changed)["fields"]


def test_the_batch_says_who_judges_it_and_that_it_waits_for_people(as_owner, human_batch):
    body = as_owner.get(f"/api/v1/batches/{human_batch.pk}").json()
    assert (body["judge_mode"], body["awaiting_people"], body["human_deadline"]) == ("human", True, None)


def test_another_user_gets_404_on_both_routes(as_other, human_batch):
    assert as_other.get(_url(human_batch, "next-pair")).status_code == 404
    response = as_other.post(_url(human_batch, "judgements"), {"lease_id": 1, "winner": "a"}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lease_id": 1, "winner": "c"}, "winner"),
        ({"lease_id": "one", "winner": "a"}, "lease_id"),
        ({"lease_id": True, "winner": "a"}, "lease_id"),
        ({"winner": "a"}, "lease_id"),
        ({"lease_id": 1, "winner": "a", "comment": "bad\x00byte"}, "comment"),
        ({"lease_id": 1, "winner": "a", "comment": "x" * 5000}, "comment"),
        ({"lease_id": 1, "winner": "a", "duration_ms": -5}, "duration_ms"),
        ({"lease_id": 1, "winner": "a", "extra": 1}, "extra"),
        ({"lease_id": 999999, "winner": "a"}, "lease_id"),
    ],
)
def test_bad_judgements_are_400s_naming_the_field(as_owner, human_batch, body, field):
    response = as_owner.post(_url(human_batch, "judgements"), body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_of(response)["fields"]


def test_a_body_that_is_not_an_object_is_a_400(as_owner, human_batch):
    response = as_owner.post(_url(human_batch, "judgements"), [1, 2], format="json")
    assert response.status_code == 400


def test_skip_passes_on_the_pair(as_owner, human_batch):
    lease = as_owner.get(_url(human_batch, "next-pair")).json()["pair"]["lease_id"]
    assert as_owner.post(_url(human_batch, "judgements"), {"lease_id": lease, "winner": "skip"}, format="json").status_code == 204
    assert as_owner.get(_url(human_batch, "next-pair")).json()["pair"]["lease_id"] != lease


def test_an_llm_batch_has_no_pair_and_says_why(as_owner, owner):
    batch = services.batch_create(owner=owner, request={"essays": essays(3)})
    body = as_owner.get(_url(batch, "next-pair")).json()
    assert body["pair"] is None and "LLM only" in body["reason"]


def test_the_results_carry_the_agreement_block_once_people_judged(as_owner, human_batch):
    assert as_owner.get(_url(human_batch, "results")).json()["agreement"] is None
    lease = as_owner.get(_url(human_batch, "next-pair")).json()["pair"]["lease_id"]
    as_owner.post(_url(human_batch, "judgements"), {"lease_id": lease, "winner": "a"}, format="json")
    agreement = as_owner.get(_url(human_batch, "results")).json()["agreement"]
    assert agreement["human_judgements"] == 1 and agreement["ai_human"]["n"] == 0
    exported = b"".join(as_owner.get(_url(human_batch, "export.json")).streaming_content)
    assert b'"agreement":{' in exported and b'"human":true' in exported


def test_the_judging_routes_are_in_the_openapi_schema(as_anonymous):
    paths = as_anonymous.get("/api/schema/?format=json").json()["paths"]
    assert "get" in paths["/api/v1/batches/{batch_id}/next-pair"]
    assert "post" in paths["/api/v1/batches/{batch_id}/judgements"]
    assert {"get", "post"} <= set(paths["/api/v1/batches/{batch_id}/judges"])
    assert "post" in paths["/api/v1/batches/{batch_id}/excluded-judges"]


@pytest.mark.parametrize("batch_id", ["0", "99999999999999999999"])
def test_a_batch_id_out_of_range_is_a_404(as_owner, batch_id):
    assert as_owner.get(f"/api/v1/batches/{batch_id}/next-pair").status_code == 404
    response = as_owner.post(f"/api/v1/batches/{batch_id}/judgements", {"lease_id": 1, "winner": "a"}, format="json")
    assert response.status_code == 404


def test_the_owner_invites_a_person_by_user_name_once(as_owner, owner, django_user_model):
    batch = services.batch_create(owner=owner, request={"essays": essays(3), "options": {"judge_mode": "human"}})
    django_user_model.objects.create_user(username="colleague", password="colleague-pass-123")
    first = as_owner.post(_url(batch, "judges"), {"username": "colleague"}, format="json")
    assert first.status_code == 201 and first.json()["judge"] == f"human:{first.json()['user_id']}"
    assert as_owner.post(_url(batch, "judges"), {"username": "colleague"}, format="json").status_code == 200
    assert [j["username"] for j in as_owner.get(_url(batch, "judges")).json()["judges"]] == ["colleague"]
    unknown = as_owner.post(_url(batch, "judges"), {"username": "nobody"}, format="json")
    assert unknown.status_code == 400 and "username" in error_of(unknown)["fields"]


def test_an_invited_judge_may_not_invite_others_nor_see_the_list(grader, human_batch):
    client = client_for(grader)
    assert client.get(_url(human_batch, "judges")).status_code == 404
    assert client.post(_url(human_batch, "judges"), {"username": "grader"}, format="json").status_code == 404


def test_the_owner_excludes_a_judge_and_brings_it_back(as_owner, owner, human_batch):
    lease = as_owner.get(_url(human_batch, "next-pair")).json()["pair"]["lease_id"]
    as_owner.post(_url(human_batch, "judgements"), {"lease_id": lease, "winner": "a"}, format="json")
    label = f"human:{owner.pk}"
    response = as_owner.post(_url(human_batch, "excluded-judges"), {"judge": label}, format="json")
    assert response.status_code == 200 and response.json() == {"excluded_judges": [label]}
    assert as_owner.get(_url(human_batch, "results")).json()["agreement"]["excluded_judges"] == [label]
    back = as_owner.post(_url(human_batch, "excluded-judges"), {"judge": label, "excluded": False}, format="json")
    assert back.json() == {"excluded_judges": []}
    judges = as_owner.get(_url(human_batch, "results")).json()["judges"]
    assert [(j["judge"], j["human"], j["comparisons"]) for j in judges] == [(label, True, 1)]
    unknown = as_owner.post(_url(human_batch, "excluded-judges"), {"judge": "gpt-9"}, format="json")
    assert unknown.status_code == 400 and "judge" in error_of(unknown)["fields"]
