"""The OpenAPI document: valid, covering every route with its errors, served with Swagger UI; and a
bounded property-based run (schemathesis) of the live schema that finds no 5xx and no response
that breaks it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assessments import services

pytestmark = pytest.mark.django_db

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _api_routes() -> set[str]:
    """Every /api/v1/ route of the URL conf, written as OpenAPI paths (`{name}` for converters)."""

    def walk(patterns: list, prefix: str) -> Iterator[str]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)

    return {route for route in walk(get_resolver().url_patterns, "") if route.startswith("/api/v1/")}


def test_the_schema_is_valid_openapi(document):
    validate_schema(document)
    assert document["openapi"].startswith("3.1")


def test_the_schema_covers_every_route(document):
    assert _api_routes() == set(document["paths"])
    assert len(document["paths"]) >= 17


def test_every_operation_documents_its_errors_with_examples(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation["responses"]
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            expected = {"405", "429", "500"} | ({"401"} if path != "/api/v1/models" else set())
            assert expected <= set(responses), f"{method.upper()} {path} lacks {expected - set(responses)}"
            if "{" in path:
                assert "404" in responses, f"{method.upper()} {path}"
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    content = response["content"]["application/json"]
                    assert content["schema"] == {"$ref": "#/components/schemas/Error"}
                    assert content["examples"], f"{method.upper()} {path} {code}"


def test_the_batch_request_is_the_pydantic_contract(document):
    body = document["paths"]["/api/v1/batches"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/BatchCreateRequest"}
    contract = document["components"]["schemas"]["BatchCreateRequest"]
    assert {"essays", "assignment_id", "anchors", "options", "llm_config_overrides", "webhook_url"} <= set(contract["properties"])
    assert len(body["examples"]) == 3


def test_the_schema_and_swagger_ui_are_served_to_anyone(as_anonymous):
    schema = as_anonymous.get("/api/schema/?format=json")
    assert schema.status_code == 200 and "/api/v1/batches" in schema.json()["paths"]
    docs = as_anonymous.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content


# --- Property-based run of the live schema -------------------------------------------------------


@pytest.fixture
def known_ids(owner: Any, assignment: Any, finished_batch: Any) -> dict[str, int]:
    """Path parameters that name the owner's objects: a finished batch of an assignment, an anchor."""
    batch = finished_batch(owner, n=3, assignment_id=assignment.pk, options={"comparisons_per_essay": 3})
    return {"batch_id": batch.pk, "assignment_id": assignment.pk, "anchor_id": assignment.anchors.first().pk}


@pytest.fixture
def live_schema() -> Iterator[Any]:
    """The schema as the running app serves it, called in process through WSGI."""
    from cjproject.wsgi import application

    # WSGI requests would close the test's connection (and its transaction) at their start and end.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance, status_code_conformance]
EXAMPLES_PER_OPERATION = 4


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_live_schema_holds_for_generated_requests(live_schema, known_ids, owner, mode):
    """A few generated requests per operation and mode, seeded, as the owner: no 5xx, every answer
    as documented. Valid requests name the owner's own batch, assignment and anchor half the time."""
    headers = {"Authorization": f"Token {services.api_token_create(user=owner, name='schemathesis')[1]}"}
    operations = [result.ok() for result in live_schema.get_all_operations()]
    assert len(operations) >= 24

    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not (operation.path_parameters or operation.query or operation.body):
            continue  # no input (GET /webhook-secrets): nothing a client sends can be invalid
        names = {p.name for p in operation.path_parameters}
        strategy = operation.as_strategy(generation_mode=mode)
        if names and names <= set(known_ids) and mode == GenerationMode.POSITIVE:
            known = {name: known_ids[name] for name in names}
            strategy = strategy | operation.as_strategy(generation_mode=mode, path_parameters=known)

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        call()
