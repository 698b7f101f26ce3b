"""The API's settings: documented defaults equal the code's, and a bad value stops start-up."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.settings_docs import README, documented_defaults, settings_with

API_SETTINGS = [
    "CJ_API_MAX_ESSAYS_PER_BATCH",
    "CJ_API_MAX_ESSAY_CHARS",
    "API_MAX_BODY_BYTES",
    "API_THROTTLE_USER_RATE",
    "API_THROTTLE_ANON_RATE",
]


def _settings_with(monkeypatch, **environ):
    return settings_with(monkeypatch, unset=API_SETTINGS, **environ)


@pytest.mark.parametrize("variable", API_SETTINGS)
def test_documented_defaults_equal_code_defaults(monkeypatch, variable):
    documented = documented_defaults().get(variable)
    assert documented is not None and str(_settings_with(monkeypatch)[variable]) == documented
    assert f"| `{variable}` | `{documented}` |" in README.read_text()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("API_THROTTLE_USER_RATE", "lots", "API_THROTTLE_USER_RATE='lots' is not a rate"),
        ("API_THROTTLE_ANON_RATE", "10/fortnight", "API_THROTTLE_ANON_RATE='10/fortnight' is not a rate"),
        ("CJ_API_MAX_ESSAY_CHARS", "200000", "above the contract's 100000 characters"),
        ("API_MAX_BODY_BYTES", "10", "API_MAX_BODY_BYTES='10' must be at least 1024"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(monkeypatch, variable, value, expected):
    with pytest.raises(ImproperlyConfigured, match=re.escape(expected)):
        _settings_with(monkeypatch, **{variable: value})


def test_the_body_limit_is_djangos_upload_limit(monkeypatch):
    configured = _settings_with(monkeypatch, API_MAX_BODY_BYTES="4096")
    assert configured["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 4096
    assert configured["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"] == {"user": "600/minute", "anon": "60/minute"}
