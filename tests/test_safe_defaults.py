"""Issue #13, finding 9 and 10: safe defaults. DJANGO_DEBUG is off unless set, a production start
without a secret key stops with a clear message, HTTPS settings are on with debug off, and
`manage.py check --deploy` is clean with the production settings the README documents."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.settings_docs import README, ROOT, documented_defaults, settings_with

HTTPS_VARIABLES = (
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_COOKIES",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
)
PRODUCTION_KEY = "k8Jq2vQx0pL7mZr4Tn9Wb3Yc6Hd1Fg5Se8Ua2Xo7Ri4Kt0Vy3Nm6Pw9Lb1Jh5Gd8Cf"


def test_debug_is_off_unless_set(monkeypatch):
    configured = settings_with(monkeypatch, unset=("DJANGO_DEBUG", *HTTPS_VARIABLES), DJANGO_SECRET_KEY=PRODUCTION_KEY)
    assert configured["DEBUG"] is False
    assert configured["SECURE_SSL_REDIRECT"] is True
    assert configured["SECURE_HSTS_SECONDS"] == 31_536_000 and configured["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert configured["SESSION_COOKIE_SECURE"] is True and configured["CSRF_COOKIE_SECURE"] is True
    assert "SECURE_PROXY_SSL_HEADER" not in configured  # no proxy configured: X-Forwarded-Proto is not believed


def test_a_production_start_without_a_secret_key_fails_with_a_clear_message(monkeypatch):
    with pytest.raises(ImproperlyConfigured) as stopped:
        settings_with(monkeypatch, unset=("DJANGO_DEBUG", "DJANGO_SECRET_KEY"))
    message = str(stopped.value)
    assert "DJANGO_SECRET_KEY must be set" in message and "DJANGO_DEBUG=true" in message


def test_debug_mode_on_a_laptop_needs_no_key_and_no_https(monkeypatch):
    configured = settings_with(monkeypatch, unset=("DJANGO_SECRET_KEY", *HTTPS_VARIABLES), DJANGO_DEBUG="true")
    assert configured["DEBUG"] is True
    assert configured["SECURE_SSL_REDIRECT"] is False and configured["SECURE_HSTS_SECONDS"] == 0
    assert configured["SESSION_COOKIE_SECURE"] is False


def test_behind_a_trusted_proxy_its_forwarded_proto_is_believed(monkeypatch):
    configured = settings_with(monkeypatch, API_TRUSTED_PROXY_COUNT="1", DJANGO_SECRET_KEY=PRODUCTION_KEY)
    assert configured["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("DJANGO_DEBUG", "DEBUG"),
        ("DJANGO_SECURE_SSL_REDIRECT", "SECURE_SSL_REDIRECT"),
        ("DJANGO_SECURE_COOKIES", "SESSION_COOKIE_SECURE"),
        ("DJANGO_SECURE_HSTS_SECONDS", "SECURE_HSTS_SECONDS"),
        ("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_INCLUDE_SUBDOMAINS"),
        ("DJANGO_SECURE_HSTS_PRELOAD", "SECURE_HSTS_PRELOAD"),
        ("CJ_WEBHOOK_MAX_ATTEMPTS", "CJ_WEBHOOK_MAX_ATTEMPTS"),
        ("CJ_WEBHOOK_RETRY_BASE_SECONDS", "CJ_WEBHOOK_RETRY_BASE_SECONDS"),
        ("CJ_WEBHOOK_RETRY_MAX_SECONDS", "CJ_WEBHOOK_RETRY_MAX_SECONDS"),
    ],
)
def test_documented_defaults_of_the_safe_settings_equal_code_defaults(monkeypatch, variable, setting):
    defaults = settings_with(monkeypatch, unset=("DJANGO_DEBUG", *HTTPS_VARIABLES, variable), DJANGO_SECRET_KEY=PRODUCTION_KEY)
    value, documented = defaults[setting], documented_defaults()[variable]
    assert (str(value).lower() if isinstance(value, bool) else str(value)) == documented
    assert f"| `{variable}` | `{documented}`" in README.read_text()


def test_check_deploy_is_clean_with_the_documented_production_settings():
    test_run_only = ("DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE", *HTTPS_VARIABLES)
    env = {k: v for k, v in os.environ.items() if k not in test_run_only and not k.startswith("PYTEST")}
    env |= {
        "DJANGO_SECRET_KEY": PRODUCTION_KEY,
        "DJANGO_ALLOWED_HOSTS": "cj.school.example",
        "API_TRUSTED_PROXY_COUNT": "1",
        "LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
