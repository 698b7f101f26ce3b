"""Access (tokens, sessions, throttling) and the one error shape, 404, 405, 413 and 500 included."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from assessments import selectors
from cjproject.api import handler404, handler500
from tests.api.conftest import client_for, error_of

pytestmark = pytest.mark.django_db


def _token(username: str, *args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", username, *args, stdout=out, stderr=err)
    return out.getvalue().strip()


def test_a_token_from_the_command_authenticates_and_rotating_it_revokes_the_old_one(owner):
    key = _token("owner")
    assert key.startswith("cj_") and len(key) > 40
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/batches").status_code == 200
    rotated = _token("owner", "--rotate")
    assert rotated != key and client.get("/api/v1/batches").status_code == 401


def test_the_command_creates_a_user_only_when_asked(django_user_model):
    with pytest.raises(CommandError, match="--create-user"):
        _token("integrator")
    assert _token("integrator", "--create-user", "--staff")
    assert django_user_model.objects.get(username="integrator").is_staff


def test_a_session_login_works_for_the_browsable_api(owner):
    client = APIClient()
    assert client.login(username="owner", password="owner-pass-123")
    assert client.get("/api/v1/assignments").status_code == 200


def test_anonymous_callers_get_a_401_with_the_scheme_to_use(as_anonymous):
    response = as_anonymous.get("/api/v1/batches")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert error_of(response)["code"] == "not_authenticated"


def test_a_bad_token_is_a_401(as_anonymous):
    as_anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert error_of(as_anonymous.get("/api/v1/batches"))["code"] == "authentication_failed"


def test_each_user_is_throttled_on_their_own(monkeypatch, owner, other_user):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/minute", "anon": "2/minute"})
    owner_client = client_for(owner)
    assert [owner_client.get("/api/v1/batches").status_code for _ in range(3)] == [200, 200, 429]
    throttled = owner_client.get("/api/v1/batches")
    assert error_of(throttled)["code"] == "throttled" and int(throttled["Retry-After"]) > 0
    assert client_for(other_user).get("/api/v1/batches").status_code == 200


def test_anonymous_callers_are_throttled_by_address(monkeypatch, as_anonymous):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"user": "2/minute", "anon": "1/minute"})
    assert [as_anonymous.get("/api/v1/models").status_code for _ in range(2)] == [200, 429]


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/batches/", "/api/v2/batches", "/api/v1/batches/abc"])
def test_an_unknown_route_is_a_json_404(as_owner, path, settings):
    settings.DEBUG = True  # the catch-all answers JSON even where Django would show its debug page
    response = as_owner.get(path)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_a_method_a_route_does_not_have_is_a_405_with_allow(as_owner):
    response = as_owner.put("/api/v1/batches", {}, format="json")
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert error_of(response)["code"] == "method_not_allowed"


def test_a_body_that_is_not_json_is_a_400(as_owner):
    response = as_owner.post("/api/v1/batches", "{not json", content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "parse_error"


def test_a_body_that_is_not_an_object_is_a_400(as_owner):
    response = as_owner.post("/api/v1/batches", [1, 2], format="json")
    assert response.status_code == 400 and "__root__" in error_of(response)["fields"]


def test_an_unexpected_error_is_a_bare_500_without_a_trace_or_secret(monkeypatch, owner, as_owner):
    from assessments import services
    from tests.conftest import essays

    batch = services.batch_create(owner=owner, request={"essays": essays(2)})

    def broken(**kwargs):
        raise RuntimeError("password=hunter2 in /srv/secret.py")

    monkeypatch.setattr(selectors, "batch_results", broken)
    response = as_owner.get(f"/api/v1/batches/{batch.pk}/results")
    assert response.status_code == 500
    assert error_of(response) == {"code": "server_error", "message": "internal server error", "fields": {}}
    assert "hunter2" not in response.content.decode() and "Traceback" not in response.content.decode()


def test_django_level_404_and_500_answer_json_under_api_and_html_elsewhere():
    factory = RequestFactory()
    api_404 = handler404(factory.get("/api/v1/x"), Exception("no route"))
    assert api_404.status_code == 404 and api_404["Content-Type"] == "application/json"
    api_500 = handler500(factory.get("/api/v1/x"))
    assert api_500.status_code == 500 and b'"server_error"' in api_500.content
    assert handler500(factory.get("/admin/"))["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_grader_who_is_staff_for_the_admin_still_sees_only_their_own_batches(owner, django_user_model):
    from assessments import services
    from tests.conftest import essays

    grader = django_user_model.objects.create_user(username="grader", password="grader-pass-123", is_staff=True)
    theirs = services.batch_create(owner=owner, request={"essays": essays(2)})
    client = client_for(grader)
    assert client.get(f"/api/v1/batches/{theirs.pk}").status_code == 404
    assert client.get("/api/v1/batches").json()["count"] == 0


def test_finding_8_x_forwarded_for_does_not_reset_the_anonymous_limit(monkeypatch, as_anonymous):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"user": "2/minute", "anon": "1/minute"})
    statuses = [as_anonymous.get("/api/v1/models", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(3)]
    assert statuses == [200, 429, 429]


def test_finding_8_x_forwarded_for_counts_behind_a_trusted_proxy(monkeypatch, as_anonymous, settings):
    from rest_framework.settings import api_settings

    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"user": "2/minute", "anon": "1/minute"})
    monkeypatch.setattr(api_settings, "NUM_PROXIES", 1)
    first = as_anonymous.get("/api/v1/models", HTTP_X_FORWARDED_FOR="203.0.113.1")
    second = as_anonymous.get("/api/v1/models", HTTP_X_FORWARDED_FOR="203.0.113.2")
    assert (first.status_code, second.status_code) == (200, 200)


def test_finding_8_invalid_tokens_are_throttled_by_address(as_anonymous, settings):
    settings.API_AUTH_FAILURES_PER_MINUTE = 3
    as_anonymous.credentials(HTTP_AUTHORIZATION="Token guessed-key")
    statuses = [as_anonymous.get("/api/v1/batches").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert error_of(as_anonymous.get("/api/v1/batches"))["code"] == "throttled"


def test_finding_8_the_user_limit_holds_under_concurrency(monkeypatch, owner):
    import threading

    from rest_framework.test import APIRequestFactory, force_authenticate

    from cjproject.throttling import AtomicUserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "100/minute", "anon": "100/minute"})
    monkeypatch.setattr("cjproject.throttling.time.time", lambda: 1_800_000_010.0)  # one window throughout
    request = APIRequestFactory().get("/api/v1/batches")
    force_authenticate(request, user=owner)
    request.user = owner
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(40):
            verdict = AtomicUserRateThrottle().allow_request(request, None)
            with lock:
                allowed.append(verdict)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 320 and sum(allowed) == 100
