"""The gateway's HTTP API: models, comparisons for external clients, usage; one error shape."""

import json

import pytest
from rest_framework.test import APIClient

from llmgateway.models import LLMRequest
from tests.llmgateway.conftest import STRONG, WEAK
from tests.webhooks.conftest import standard_webhooks_verify

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"student_prompt": "Write about a role model.", "essay_a": STRONG, "essay_b": WEAK, "metadata": {"ref": "x-1"}}


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def owner_client(client, owner):
    client.force_authenticate(owner)
    return client


def test_models_are_grouped_by_provider_without_the_mock_unless_asked(client):
    body = client.get("/api/v1/models").json()
    assert set(body["providers"]) == {"anthropic", "openai", "openai_compatible"}
    anthropic = body["providers"]["anthropic"]
    assert anthropic["default_model"] == "claude-sonnet-4-6"
    assert all(not m["deprecated"] for m in anthropic["models"])
    assert {"prices", "capabilities", "context_window", "release_date"} <= set(anthropic["models"][0])
    mock = client.get("/api/v1/models?provider=mock").json()
    assert list(mock["providers"]) == ["mock"] and mock["providers"]["mock"]["default_model"] == "mock-heuristic-v1"


def test_deprecated_models_are_listed_only_when_asked(client):
    listed = client.get("/api/v1/models?provider=anthropic&include_deprecated=true").json()["providers"]["anthropic"]["models"]
    assert "claude-sonnet-4-5" in [m["id"] for m in listed]


def test_an_unknown_provider_is_a_400_listing_the_valid_ones(client):
    response = client.get("/api/v1/models?provider=gemini")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "anthropic, openai, openai_compatible, mock" in error["fields"]["provider"][0]


def test_a_comparison_is_accepted_with_a_location_then_read_with_its_result(owner_client):
    response = owner_client.post("/api/v1/comparison", BODY, format="json")
    assert response.status_code == 202
    location = response["Location"]
    assert location == f"/api/v1/comparison/{response.json()['id']}"
    result = owner_client.get(location).json()  # tasks run in process: already judged
    assert result["status"] == "succeeded" and result["result"]["winner"] == "A"
    assert result["metadata"] == {"ref": "x-1"} and len(result["prompt_sha256"]) == 64
    assert STRONG not in json.dumps(result)  # the essays are never echoed


def test_the_same_idempotency_key_and_body_gives_the_same_comparison(owner_client):
    first = owner_client.post("/api/v1/comparison", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = owner_client.post("/api/v1/comparison", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"] and LLMRequest.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_a_409(owner_client):
    owner_client.post("/api/v1/comparison", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = owner_client.post(
        "/api/v1/comparison", {**BODY, "essay_b": "Another text."}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_conflict"


def test_another_users_idempotency_key_is_their_own(owner_client, other_user):
    owner_client.post("/api/v1/comparison", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.post("/api/v1/comparison", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared").status_code == 202
    assert LLMRequest.objects.count() == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"provider_override": "gemini"}, "llm_config_overrides.provider_override"),
        ({"model_override": "gpt-9"}, "llm_config_overrides.model_override"),
    ],
)
def test_an_unknown_provider_or_model_is_a_400_at_intake(owner_client, overrides, field):
    response = owner_client.post("/api/v1/comparison", {**BODY, "llm_config_overrides": overrides}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not LLMRequest.objects.exists()


def test_a_missing_essay_is_a_400_naming_the_field(owner_client):
    response = owner_client.post("/api/v1/comparison", {"essay_a": "x"}, format="json")
    assert response.status_code == 400 and "essay_b" in response.json()["error"]["fields"]


def test_anonymous_clients_cannot_ask_for_comparisons(client):
    response = client.post("/api/v1/comparison", BODY, format="json")
    assert response.status_code in (401, 403) and "error" in response.json()


def test_another_users_comparison_is_a_404_and_staff_see_it(owner_client, other_user, staff):
    location = owner_client.post("/api/v1/comparison", BODY, format="json")["Location"]
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.get(location).status_code == 404
    other.force_authenticate(staff)
    assert other.get(location).status_code == 200


def test_usage_sums_tokens_and_cost_by_provider_and_model(owner_client, staff):
    for _ in range(2):
        owner_client.post(
            "/api/v1/comparison",
            {
                **BODY,
                "llm_config_overrides": {"model_override": "mock-simulated-v1"},
                "metadata": {"simulated_quality_a": 1, "simulated_quality_b": 0},
            },
            format="json",
        )
    owner_client.post("/api/v1/comparison", BODY, format="json")
    rows = {r["model"]: r for r in owner_client.get("/api/v1/usage").json()["usage"]}
    simulated = LLMRequest.objects.filter(model="mock-simulated-v1")
    assert rows["mock-simulated-v1"]["requests"] == 2 and rows["mock-heuristic-v1"]["requests"] == 1
    assert rows["mock-simulated-v1"]["input_tokens"] == sum(r.input_tokens for r in simulated)
    assert float(rows["mock-simulated-v1"]["cost_usd"]) == pytest.approx(float(sum(r.cost_usd for r in simulated)))
    assert owner_client.get("/api/v1/usage?provider=nope").status_code == 400


def test_a_webhook_needs_the_owners_secret_and_is_signed_with_it(owner_client, owner, serve):
    refused = owner_client.post("/api/v1/comparison", {**BODY, "webhook_url": "https://school.example/hook"}, format="json")
    assert refused.status_code == 400 and "webhook secret" in refused.json()["error"]["fields"]["webhook_url"][0]

    secret = owner_client.post("/api/v1/webhook-secrets", {}, format="json").json()["secret"]
    receiver = serve()  # on loopback, which the fixture lets webhooks reach
    created = owner_client.post("/api/v1/comparison", {**BODY, "webhook_url": receiver.url}, format="json").json()
    _, headers, body = receiver.calls[0]  # sent on commit: this test's transactions commit
    assert standard_webhooks_verify(secret, headers, body)["status"] == "succeeded"
    assert json.loads(body)["id"] == created["id"] and headers["x-cj-event"] == "comparison.finished"
