"""The API's settings: documented defaults equal the code's, and a bad value stops start-up."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[2]
API_SETTINGS = [
    "CJ_API_MAX_ESSAYS_PER_BATCH",
    "CJ_API_MAX_ESSAY_CHARS",
    "API_MAX_BODY_BYTES",
    "API_THROTTLE_USER_RATE",
    "API_THROTTLE_ANON_RATE",
]


def _settings_with(monkeypatch, **environ):
    for name in API_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "cjproject" / "settings.py"))


@pytest.mark.parametrize("variable", API_SETTINGS)
def test_documented_defaults_equal_code_defaults(monkeypatch, variable):
    documented = re.search(rf"^# {variable}=(.*)$", (ROOT / ".env.example").read_text(), re.MULTILINE)
    assert documented and str(_settings_with(monkeypatch)[variable]) == documented[1]
    assert f"| `{variable}` | `{documented[1]}` |" in (ROOT / "README.md").read_text()


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
