"""The gateway's settings: documented defaults equal code defaults; bad values name the variable."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.settings_docs import documented_defaults as _documented_defaults
from tests.settings_docs import settings_with as _settings_with

GATEWAY_VARIABLES = [
    "LLM_BATCHING_MODE",
    "LLM_BATCHING_HINTS",
    "LLM_BUNDLE_SIZE",
    "LLM_MAX_IN_FLIGHT",
    "LLM_MAX_ATTEMPTS",
    "LLM_INVALID_RESPONSE_RETRIES",
    "LLM_RETRY_BASE_DELAY",
    "LLM_REQUEST_TIMEOUT",
    "LLM_BREAKER_FAILURE_THRESHOLD",
    "LLM_BREAKER_COOLDOWN_SECONDS",
    "LLM_RATE_LIMIT_REQUESTS_PER_MINUTE",
    "LLM_RATE_LIMIT_TOKENS_PER_MINUTE",
    "LLM_BATCH_POLL_SECONDS",
    "LLM_METRICS_SNAPSHOT_SECONDS",
]


@pytest.mark.parametrize("variable", GATEWAY_VARIABLES)
def test_documented_gateway_defaults_equal_code_defaults(monkeypatch, variable):
    monkeypatch.delenv(variable, raising=False)
    value = _settings_with(monkeypatch)[variable]
    assert (str(value).lower() if isinstance(value, bool) else str(value)) == _documented_defaults()[variable]


def test_the_mock_behaviour_is_parsed_and_validated(monkeypatch):
    parsed = _settings_with(monkeypatch, LLM_MOCK_BEHAVIOUR="latency_ms=250, rate_limit_rate=0.1")["LLM_MOCK_BEHAVIOUR"]
    assert (parsed["latency_ms"], parsed["rate_limit_rate"], parsed["error_rate"]) == (250.0, 0.1, 0.0)
    with pytest.raises(
        ImproperlyConfigured, match=r"LLM_MOCK_BEHAVIOUR='latncy_ms=5' is invalid \(latncy_ms: Extra inputs.*latency_ms"
    ):
        _settings_with(monkeypatch, LLM_MOCK_BEHAVIOUR="latncy_ms=5")
    monkeypatch.delenv("LLM_MOCK_BEHAVIOUR")
    with pytest.raises(ImproperlyConfigured, match=r"LLM_BATCHING_MODE='bulk' is not allowed"):
        _settings_with(monkeypatch, LLM_BATCHING_MODE="bulk")
