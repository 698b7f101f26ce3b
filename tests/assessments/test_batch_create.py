"""Creating a batch: what is stored, what is refused, and that a failure leaves nothing behind."""

import pytest

from assessments import selectors, services
from assessments.models import AnchorEssay, Assignment, Batch, Essay
from cjproject.errors import InvalidInput
from tests.conftest import essays

pytestmark = pytest.mark.django_db


def test_it_stores_students_anchors_and_the_request_snapshot(owner, assignment):
    batch = services.batch_create(
        owner=owner,
        request={
            "essays": essays(4),
            "assignment_id": assignment.pk,
            "max_comparisons_override": 12,
            "llm_config_overrides": {"temperature_override": 0.0, "system_prompt_override": "Be fair."},
        },
    )
    assert batch.essays.filter(role="student").count() == 4
    anchors = batch.essays.filter(role="anchor")
    assert sorted(anchors.values_list("anchor_grade", flat=True)) == ["A", "C", "E"]
    low = anchors.get(external_id="anchor:low")
    assert low.processing_metadata["anchor"]["grade_index"] == 1
    assert low.processing_metadata["anchor"]["scale"] == "swedish_a_f"
    original = batch.processing_metadata["original_request"]
    assert original["user_id"] == owner.pk
    assert original["llm_config_overrides"]["temperature_override"] == 0.0
    assert batch.processing_metadata["comparison_budget"] == {
        "max_pairs_requested": 12,
        "source": "runner_override",
        "capped_from": None,
    }


def test_the_default_budget_is_recorded_with_source_default(owner):
    batch = services.batch_create(owner=owner, request={"essays": essays(6)})
    assert batch.assignment is None  # a guest batch
    assert batch.processing_metadata["comparison_budget"] == {
        "max_pairs_requested": 30,
        "source": "default",
        "capped_from": None,
    }


def test_the_same_essay_in_two_batches_is_two_rows(owner):
    first = services.batch_create(owner=owner, request={"essays": essays(2)})
    second = services.batch_create(owner=owner, request={"essays": essays(2)})
    assert Essay.objects.filter(external_id="e1").count() == 2
    assert first.essays.get(external_id="e1").pk != second.essays.get(external_id="e1").pk


def test_the_stored_request_rehydrates_with_its_overrides(owner):
    batch = services.batch_create(
        owner=owner,
        request={"essays": essays(3), "llm_config_overrides": {"temperature_override": 0.0, "max_tokens_override": 300}},
    )
    request = selectors.batch_request(batch=Batch.objects.get(pk=batch.pk))
    assert request.llm_config_overrides.temperature_override == 0.0
    assert request.llm_config_overrides.max_tokens_override == 300
    assert [e.id for e in request.essays] == ["e1", "e2", "e3"]


def test_a_bad_request_names_the_field(owner):
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_create(owner=owner, request={"essays": [{"id": "a", "text": "   "}]})
    assert "essays.0.text" in excinfo.value.fields


def test_an_unknown_inline_anchor_grade_fails_and_leaves_no_rows(owner):
    request = {
        "essays": essays(3),
        "anchors": [{"label": "ok", "grade": "C", "text": "fine"}, {"label": "bad", "grade": "Z", "text": "nope"}],
        "grade_scale": "swedish_a_f",
    }
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_create(owner=owner, request=request)
    assert "anchors.1.grade" in excinfo.value.fields
    assert "F, E, D, C, B, A" in str(excinfo.value)
    assert (Batch.objects.count(), Essay.objects.count(), Assignment.objects.count(), AnchorEssay.objects.count()) == (0, 0, 0, 0)


def test_inline_anchors_create_a_research_assignment(owner):
    batch = services.batch_create(
        owner=owner,
        request={"essays": essays(2), "anchors": [{"label": "x", "grade": "B", "text": "t"}], "grade_scale": "swedish_a_f"},
    )
    assert batch.assignment.context_origin == "research"
    assert batch.essays.get(role="anchor").anchor_grade == "B"


def test_a_canonical_assignment_refuses_a_rubric_override(owner):
    canonical = services.assignment_create(
        owner=owner, title="National test", student_prompt="Write.", context_origin="canonical"
    )
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_create(
            owner=owner,
            request={"essays": essays(2), "assignment_id": canonical.pk, "llm_config_overrides": {"rubric_override": "mine"}},
        )
    assert "llm_config_overrides.rubric_override" in excinfo.value.fields
    assert Batch.objects.count() == 0


def test_another_users_assignment_is_unknown(other_user, assignment):
    with pytest.raises(InvalidInput) as excinfo:
        services.batch_create(owner=other_user, request={"essays": essays(2), "assignment_id": assignment.pk})
    assert "assignment_id" in excinfo.value.fields


def test_an_anchor_grade_outside_the_scale_is_refused(assignment):
    with pytest.raises(InvalidInput) as excinfo:
        services.anchor_register(assignment=assignment, label="odd", grade="C+", text="text")
    assert "valid grades: F, E, D, C, B, A" in excinfo.value.fields["grade"][0]
    with pytest.raises(InvalidInput) as excinfo:
        services.anchor_register(assignment=assignment, label="low", grade="E", text="again")
    assert "already an anchor" in excinfo.value.fields["label"][0]


def test_an_assignment_with_an_unknown_scale_is_refused(owner):
    with pytest.raises(InvalidInput) as excinfo:
        services.assignment_create(owner=owner, title="t", student_prompt="p", grade_scale="letters")
    assert "valid scales" in excinfo.value.fields["grade_scale"][0]
