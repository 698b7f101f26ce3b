"""Issue #13, finding 10: a chunked request body (Transfer-Encoding: chunked, no Content-Length)
is refused with a 411 in the one error shape, never read as an empty body."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from assessments.models import Batch
from tests.api.conftest import error_of
from tests.conftest import essays

pytestmark = pytest.mark.django_db


def test_a_chunked_body_is_a_411_not_an_empty_body(owner):
    client = Client()
    client.force_login(owner)
    body = json.dumps({"essays": essays(2)}).encode()
    # The test client always sets Content-Length; a chunked request has none.
    response = client.generic(
        "POST", "/api/v1/batches", body, content_type="application/json", HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH=""
    )
    assert response.status_code == 411
    error = error_of(response)
    assert error["code"] == "length_required" and "Content-Length" in error["fields"]
    assert not Batch.objects.exists()


def test_a_body_with_its_length_is_read_as_before(owner):
    client = Client()
    client.force_login(owner)
    body = json.dumps({"essays": essays(2)})
    assert client.post("/api/v1/batches", body, content_type="application/json").status_code == 201


def test_outside_the_api_a_chunked_body_is_a_plain_411():
    response = Client().generic("POST", "/admin/login/", b"x", HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="")
    assert response.status_code == 411 and b"Content-Length" in response.content
