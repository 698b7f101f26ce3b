"""The gateway's comparison service with the mock judge and a scripted fake provider."""

import logging

import pytest

from cjproject.errors import InvalidInput
from llmgateway import services
from llmgateway.models import LLMRequest
from llmgateway.providers.base import ProviderError, ProviderReply
from llmgateway.providers.mock import MockProvider, text_quality
from llmgateway.schemas import LLMConfigOverrides, PromptParts

STRONG = (
    "The most convincing role models are rarely the loudest people in a room.\n\n"
    "They persuade by example: patiently, consistently, and without expecting recognition, which is "
    "precisely why their influence lasts longer than any fashionable celebrity's."
)
WEAK = "i like my coach he is nice and he help me alot"


class ScriptedProvider(MockProvider):
    """Answers from a script, one reply per call: an LLM stand-in for the failure paths."""

    script: list = []
    calls = 0

    def compare(self, request, *, metadata):
        type(self).calls += 1
        step = type(self).script.pop(0)
        if isinstance(step, Exception):
            raise step
        return ProviderReply(answer=step, raw={"scripted": step})


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(services._PROVIDERS, "mock", ScriptedProvider)
    ScriptedProvider.calls = 0
    return ScriptedProvider


def _request(**kwargs):
    return services.comparison_request_create(
        parts=PromptParts(student_prompt="Task", instructions="Rubric", essay_a=STRONG, essay_b=WEAK),
        overrides=kwargs.pop("overrides", None),
        metadata=kwargs.pop("metadata", {"comparison_id": 7}),
    )


def test_the_heuristic_prefers_richer_text():
    assert text_quality(STRONG) > text_quality(WEAK)


@pytest.mark.django_db
def test_the_mock_judge_is_deterministic_and_echoes_the_metadata():
    first = services.comparison_execute(request_id=_request().pk)
    second = services.comparison_execute(request_id=_request().pk)
    assert first.status == "succeeded"
    assert (first.answer, first.prompt_sha256) == (second.answer, second.prompt_sha256)
    assert first.answer.winner == "A"
    assert first.metadata == {"comparison_id": 7}
    assert "not an LLM" in first.answer.justification
    assert first.usage.input_tokens > 0


@pytest.mark.django_db
def test_confidence_one_stays_one(scripted):
    scripted.script = [{"winner": "B", "justification": "close call", "confidence": 1}]
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.answer.winner, result.answer.confidence) == ("B", 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        {"justification": "no winner given", "confidence": 3},
        {"winner": "C", "justification": "?", "confidence": 3},
        {"winner": "A", "justification": "x", "confidence": 7},
        None,
    ],
)
def test_a_missing_or_unknown_winner_is_an_invalid_response_never_a(scripted, answer):
    scripted.script = [answer]
    result = services.comparison_execute(request_id=_request().pk)
    assert result.status == "failed"
    assert result.answer is None
    assert result.error_category == "invalid_response"
    assert LLMRequest.objects.get(pk=result.request_id).raw_response == {"scripted": answer}


@pytest.mark.django_db
def test_a_provider_error_is_recorded_with_its_category(scripted):
    scripted.script = [ProviderError("authentication", "bad key", retryable=False)]
    result = services.comparison_execute(request_id=_request().pk)
    assert (result.status, result.error_category) == ("failed", "authentication")


@pytest.mark.django_db
def test_an_adapter_crash_fails_the_call_without_quoting_the_prompt(scripted, caplog):
    scripted.script = [RuntimeError(f"boom while reading {WEAK}")]
    with caplog.at_level(logging.DEBUG, logger="llmgateway"):
        result = services.comparison_execute(request_id=_request().pk)
    assert result.error_category == "internal"
    assert WEAK not in result.error_detail
    assert WEAK not in caplog.text


@pytest.mark.django_db
def test_a_redelivered_request_is_not_sent_to_the_provider_again(scripted):
    scripted.script = [{"winner": "A", "justification": "ok", "confidence": 4}]
    request = _request()
    first = services.comparison_execute(request_id=request.pk)
    again = services.comparison_execute(request_id=request.pk)
    assert scripted.calls == 1
    assert again == first


@pytest.mark.django_db
def test_temperature_zero_reaches_the_provider_request_as_zero():
    request = _request(overrides=LLMConfigOverrides(temperature_override=0.0))
    provider, model = services.provider_resolve(overrides=LLMConfigOverrides.model_validate(request.overrides))
    from llmgateway.prompts import build_prompt

    canonical = provider.canonical_request(
        build_prompt(PromptParts.model_validate(request.prompt_parts)),
        model=model,
        overrides=LLMConfigOverrides.model_validate(request.overrides),
    )
    assert canonical["temperature"] == 0.0 and canonical["temperature"] is not None


@pytest.mark.django_db
def test_an_unavailable_provider_or_unknown_model_is_refused_with_the_valid_ones():
    with pytest.raises(InvalidInput) as excinfo:
        services.provider_resolve(overrides=LLMConfigOverrides(provider_override="anthropic"))
    assert "available: mock" in str(excinfo.value)
    with pytest.raises(InvalidInput) as excinfo:
        services.provider_resolve(overrides=LLMConfigOverrides(model_override="gpt-9"))
    assert "llm_config_overrides.model_override" in excinfo.value.fields
    assert "mock-heuristic-v1" in str(excinfo.value)
