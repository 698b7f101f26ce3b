"""An essay with its comparisons and justifications; comparisons read-only and filterable; usage."""

import pytest

from assessments.models import Comparison
from tests.admin.conftest import finished_batch, make_assignment

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_essay_shows_its_text_comparisons_justifications_wins_and_losses(grader, grader_client):
    batch = finished_batch(grader, make_assignment(grader), n=4)
    essay = batch.essays.get(external_id="e1")
    response = grader_client.get(f"/admin/assessments/essay/{essay.pk}/change/")

    assert response.status_code == 200
    content = response.content.decode()
    assert essay.text.strip()[:30] in content
    comparisons = response.context["comparisons"]
    assert len(comparisons) == essay.comparison_count
    record = response.context["record"]
    assert record["wins"] + record["losses"] == essay.comparison_count
    assert record["wins"] == essay.wins
    assert all(c.outcome in ("won", "lost") for c in comparisons)
    assert comparisons[0].justification and comparisons[0].justification in content
    assert "NOT a language model" in content


def test_comparisons_are_read_only_and_filter_by_status_winner_judge_and_error(grader, grader_client):
    batch = finished_batch(grader, n=4)
    comparison = Comparison.objects.filter(batch=batch).first()

    page = grader_client.get(f"/admin/assessments/comparison/{comparison.pk}/change/")
    assert page.status_code == 200 and b'type="submit"' not in page.content.split(b'id="content-main"')[1]
    total = batch.comparisons.count()
    for query, expected in (
        ("status__exact=succeeded", total),
        ("winner__exact=a", batch.comparisons.filter(winner="a").count()),
        ("model=mock-heuristic-v1", total),
        ("error_category=timeout", 0),
        (f"batch={batch.pk}", total),
    ):
        response = grader_client.get(f"/admin/assessments/comparison/?{query}")
        assert response.status_code == 200, query
        assert response.context["cl"].result_count == expected, query


def test_usage_sums_tokens_and_cost_by_model_per_batch_and_in_total(grader, grader_client, other_grader):
    first = finished_batch(grader, n=4)
    second = finished_batch(grader, n=3)
    finished_batch(other_grader, n=5)

    response = grader_client.get("/admin/assessments/batch/usage/")
    assert response.status_code == 200
    (row,) = response.context["by_model"]
    assert (row["provider"], row["model"]) == ("mock", "mock-heuristic-v1")
    assert row["comparisons"] == first.comparisons_planned + second.comparisons_planned  # not the other grader's
    assert row["input_tokens"] > 0
    assert {r["batch_id"] for r in response.context["by_batch"]} == {first.pk, second.pk}
    assert response.context["total"]["comparisons"] == row["comparisons"]
    assert "usage-gateway" not in response.content.decode()


def test_a_superuser_sees_everyones_usage_and_the_gateways(admin_client, grader, other_grader):
    finished_batch(grader, n=3)
    finished_batch(other_grader, n=3)
    response = admin_client.get("/admin/assessments/batch/usage/")
    assert len(response.context["by_batch"]) == 2
    assert response.context["gateway"][0]["provider"] == "mock"
