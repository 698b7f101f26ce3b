import pytest
from pydantic import ValidationError

from assessments.schemas import CJAssessmentRequestData, ComparisonBudget, LLMConfigOverrides
from cjproject.errors import fields_from_pydantic


def _fields(**request):
    with pytest.raises(ValidationError) as excinfo:
        CJAssessmentRequestData.model_validate(request)
    return fields_from_pydantic(excinfo.value)


def test_it_names_the_field_of_a_blank_essay_id():
    fields = _fields(essays=[{"id": "a", "text": "x"}, {"id": "", "text": "y"}])
    assert "essays.1.id" in fields


def test_it_refuses_duplicate_essay_ids_and_names_them():
    fields = _fields(essays=[{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    assert "repeated: a" in fields["essays"][0]


def test_it_refuses_unknown_fields():
    fields = _fields(essays=[{"id": "a", "text": "x"}], colour="blue")
    assert "colour" in fields


def test_temperature_zero_stays_zero_and_out_of_range_is_refused():
    assert LLMConfigOverrides(temperature_override=0.0).temperature_override == 0.0
    with pytest.raises(ValidationError) as excinfo:
        LLMConfigOverrides(temperature_override=2.5)
    assert "temperature_override" in fields_from_pydantic(excinfo.value)
    with pytest.raises(ValidationError):
        LLMConfigOverrides(max_tokens_override=0)


def test_it_refuses_an_unknown_provider_listing_the_valid_ones():
    with pytest.raises(ValidationError) as excinfo:
        LLMConfigOverrides(provider_override="gemini")
    message = " ".join(fields_from_pydantic(excinfo.value)["provider_override"])
    for provider in ("anthropic", "openai", "openai_compatible", "mock"):
        assert provider in message


def test_inline_anchors_need_a_scale_and_exclude_an_assignment():
    anchor = {"label": "x", "grade": "C", "text": "t"}
    assert "need a grade_scale" in _fields(essays=[{"id": "a", "text": "x"}], anchors=[anchor])["anchors"][0]
    both = _fields(essays=[{"id": "a", "text": "x"}], anchors=[anchor], grade_scale="swedish_a_f", assignment_id=3)
    assert "not both" in both["grade_scale"][0]
    assert "not both" in both["anchors"][0]


def test_the_budget_source_is_default_or_runner_override():
    assert ComparisonBudget(max_pairs_requested=5).source == "default"
    with pytest.raises(ValidationError):
        ComparisonBudget(max_pairs_requested=5, source="api")
    with pytest.raises(ValidationError):
        ComparisonBudget(max_pairs_requested=0)
