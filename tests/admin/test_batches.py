"""Graders create a batch from files or pasted text, start it, watch it, read and export its results."""

import csv
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assessments.admin import views
from assessments.models import Batch
from assessments.results.schema import BatchResults
from tests.admin.conftest import finished_batch, make_assignment
from tests.conftest import ESSAY_TEXTS, body_of

pytestmark = pytest.mark.django_db(transaction=True)


def _files(n: int = 4) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(f"essay_{i + 1:02d}.txt", f"{ESSAY_TEXTS[i % 6]} ({i})".encode()) for i in range(n)]


def _create_post(assignment=None, **overrides):
    data = {
        "assignment": assignment.pk if assignment else "",
        "comparisons_per_essay": "4",
        "judge": "mock/mock-heuristic-v1",
        "cost_limit_usd": "",
        "start_now": "on",
        "pasted_essays": "",
        "essays_json": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def provider_keys(settings):
    """Keys for the real providers (never called here: the form only lists them and estimates costs)."""
    credentials = dict(settings.LLM_CREDENTIALS)
    for name in ("anthropic", "openai"):
        credentials[name] = {**credentials[name], "api_key": "test-key-not-used"}
    settings.LLM_CREDENTIALS = credentials


def test_the_form_offers_the_manifests_judges_with_prices_and_says_the_mock_is_not_an_llm(grader_client, provider_keys):
    content = grader_client.get("/admin/assessments/batch/add/").content.decode()
    assert "claude-sonnet-4-6" in content and "gpt-5-mini" in content
    assert "$3 in / $15 out per million tokens" in content
    assert "offline mock, NOT a language model" in content


def test_reading_the_essays_shows_the_estimated_cost_of_this_batch_for_each_judge(grader, grader_client, provider_keys):
    assignment = make_assignment(grader)
    response = grader_client.post(
        "/admin/assessments/batch/add/",
        {**_create_post(assignment, judge="anthropic/claude-sonnet-4-6"), "essay_files": _files(5), "_estimate": "1"},
    )

    assert response.status_code == 200
    estimates = {e.judge: e for e in response.context["estimates"]}
    assert estimates["anthropic/claude-sonnet-4-6"].comparisons == 16  # (5 essays + 3 anchors) × 4 / 2
    assert estimates["anthropic/claude-opus-4-6"].cost_usd > estimates["anthropic/claude-sonnet-4-6"].cost_usd > 0
    assert estimates["mock/mock-heuristic-v1"].cost_usd == 0
    content = response.content.decode()
    assert "5 essays read" in content and "plus 3 anchors" in content
    # The essays travel on in the form, so the grader need not choose the files again.
    assert [e["id"] for e in json.loads(response.context["essays_json"])] == [f"essay_{i:02d}" for i in range(1, 6)]
    assert not Batch.objects.exists()


def test_a_grader_uploads_essays_and_starts_a_batch_on_the_mock_judge(grader, grader_client):
    assignment = make_assignment(grader)
    response = grader_client.post(
        "/admin/assessments/batch/add/",
        {
            **_create_post(assignment),
            "essay_files": _files(4),
            "pasted_essays": "First pasted essay.\n---\nSecond one.",
            "_create": "1",
        },
    )

    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/assessments/batch/{batch.pk}/change/"
    assert batch.owner == grader and batch.assignment == assignment
    assert batch.state == "completed"  # tasks run in process in the tests
    ids = set(batch.essays.filter(role="student").values_list("external_id", flat=True))
    assert ids == {"essay_01", "essay_02", "essay_03", "essay_04", "pasted_01", "pasted_02"}
    request = batch.processing_metadata["original_request"]
    assert request["llm_config_overrides"]["model_override"] == "mock-heuristic-v1"
    assert request["options"]["comparisons_per_essay"] == 4


def test_a_grader_can_ask_to_stop_when_the_grades_are_settled(grader, grader_client):
    assignment = make_assignment(grader)
    grader_client.post(
        "/admin/assessments/batch/add/",
        {**_create_post(assignment), "essay_files": _files(4), "grades_settled_at": "30", "_create": "1"},
    )
    batch = Batch.objects.get()
    assert batch.processing_metadata["original_request"]["options"]["grade_confidence"] == 0.3
    decisions = batch.processing_metadata["decisions"]
    assert all(d["grade_certainty"] == 0.3 for d in decisions)


def test_a_batch_can_be_created_now_and_started_later(grader, grader_client):
    response = grader_client.post(
        "/admin/assessments/batch/add/", {**_create_post(start_now=""), "essay_files": _files(3), "_create": "1"}
    )
    batch = Batch.objects.get()
    assert batch.state == "created"
    page = grader_client.get(response["Location"]).content.decode()
    assert 'id="start-batch"' in page and 'id="estimate"' in page

    grader_client.post(f"/admin/assessments/batch/{batch.pk}/start/")
    batch.refresh_from_db()
    assert batch.state == "completed"


def test_a_judge_whose_provider_has_no_key_is_not_offered_and_the_form_says_why(grader_client, settings):
    settings.LLM_CREDENTIALS = {**settings.LLM_CREDENTIALS, "anthropic": {"api_key": "", "base_url": ""}}
    page = grader_client.get("/admin/assessments/batch/add/").content.decode()
    assert 'value="anthropic/' not in page
    assert "Not offered: Anthropic&#x27;s models (Claude)" in page and "this server has no account with them" in page

    response = grader_client.post(
        "/admin/assessments/batch/add/",
        {**_create_post(judge="anthropic/claude-sonnet-4-6"), "essay_files": _files(3), "_create": "1"},
    )
    content = response.content.decode()
    assert "Select a valid choice" in content and "ANTHROPIC_API_KEY" not in content
    assert not Batch.objects.exists()


def test_a_batch_without_essays_or_with_unreadable_files_is_refused(grader_client):
    response = grader_client.post("/admin/assessments/batch/add/", {**_create_post(), "_create": "1"})
    assert "Upload essay files or paste essays" in response.content.decode()

    bad = [SimpleUploadedFile("broken.pdf", b"not a pdf"), SimpleUploadedFile("notes.odt", b"x")]
    response = grader_client.post("/admin/assessments/batch/add/", {**_create_post(), "essay_files": bad, "_create": "1"})
    content = response.content.decode()
    assert "broken.pdf: cannot be opened as a PDF" in content
    assert "notes.odt: is not a .txt, .md, .docx, .pdf file" in content  # every kind of problem at once
    assert "Error" not in content.replace("errorlist", "")
    assert not Batch.objects.exists()


def test_pasted_essays_read_on_the_estimate_step_are_not_added_twice(grader_client):
    pasted = "\n---\n".join(ESSAY_TEXTS[:3])
    step1 = grader_client.post("/admin/assessments/batch/add/", {**_create_post(), "pasted_essays": pasted, "_estimate": "1"})
    assert "3 essays read" in step1.content.decode()

    response = grader_client.post(
        "/admin/assessments/batch/add/",
        {**_create_post(start_now=""), "pasted_essays": pasted, "essays_json": step1.context["essays_json"], "_create": "1"},
        follow=True,
    )
    batch = Batch.objects.get()
    assert sorted(batch.essays.values_list("external_id", flat=True)) == ["pasted_01", "pasted_02", "pasted_03"]
    assert "created with 3 essays" in response.content.decode()


def test_files_read_on_the_estimate_step_are_kept_with_new_files(grader_client):
    step1 = grader_client.post("/admin/assessments/batch/add/", {**_create_post(), "essay_files": _files(2), "_estimate": "1"})
    more = [SimpleUploadedFile("essay_09.txt", ESSAY_TEXTS[5].encode())]
    grader_client.post(
        "/admin/assessments/batch/add/",
        {**_create_post(start_now=""), "essay_files": more, "essays_json": step1.context["essays_json"], "_create": "1"},
    )
    assert sorted(Batch.objects.get().essays.values_list("external_id", flat=True)) == ["essay_01", "essay_02", "essay_09"]


def test_a_one_essay_batch_without_anchors_is_refused_at_the_form(grader, grader_client):
    response = grader_client.post(
        "/admin/assessments/batch/add/", {**_create_post(), "pasted_essays": ESSAY_TEXTS[0], "_create": "1"}
    )
    assert "A batch needs at least two texts to compare; it has 1 essay and no assignment with anchors" in (
        response.content.decode()
    )
    assert not Batch.objects.exists()

    assignment = make_assignment(grader)  # one essay with three anchors is a batch
    grader_client.post(
        "/admin/assessments/batch/add/",
        {**_create_post(assignment, start_now=""), "pasted_essays": ESSAY_TEXTS[0], "_create": "1"},
    )
    assert Batch.objects.count() == 1


def test_a_guessed_encoding_and_a_repeated_text_are_shown_and_must_be_confirmed(grader_client):
    files = [
        SimpleUploadedFile("windows.txt", "Ett café i Malmö, “citat”.".encode("cp1252")),
        SimpleUploadedFile("essay_01.txt", ESSAY_TEXTS[0].encode()),
        SimpleUploadedFile("essay_01_copy.txt", ESSAY_TEXTS[0].encode()),
    ]
    response = grader_client.post("/admin/assessments/batch/add/", {**_create_post(), "essay_files": files, "_create": "1"})

    content = response.content.decode()
    assert not Batch.objects.exists()  # nothing saved until the grader confirms
    assert "windows: was not UTF-8: read as Windows (cp1252 / Latin-1) text" in content
    assert "essay_01_copy: the same text as essay_01, so it is left out" in content
    assert "Check the notes on the essays read" in content

    grader_client.post(
        "/admin/assessments/batch/add/",
        {
            **_create_post(start_now=""),
            "essays_json": response.context["essays_json"],
            "notes_seen": response.context["form"].notes_digest,
            "confirm_notes": "on",
            "_create": "1",
        },
    )
    batch = Batch.objects.get()
    assert sorted(batch.essays.values_list("external_id", flat=True)) == ["essay_01", "windows"]
    assert batch.essays.get(external_id="windows").text == "Ett café i Malmö, “citat”."


def test_a_tick_confirms_only_the_notes_that_were_shown(grader_client):
    first = [
        SimpleUploadedFile("essay_01.txt", ESSAY_TEXTS[0].encode()),
        SimpleUploadedFile("essay_02.txt", ESSAY_TEXTS[1].encode()),
    ]
    shown = grader_client.post("/admin/assessments/batch/add/", {**_create_post(), "essay_files": first, "_estimate": "1"})
    new_note = [SimpleUploadedFile("windows.txt", "Malmö".encode("cp1252"))]  # added with the tick: never seen
    response = grader_client.post(
        "/admin/assessments/batch/add/",
        {
            **_create_post(),
            "essays_json": shown.context["essays_json"],
            "notes_seen": shown.context["form"].notes_digest,
            "essay_files": new_note,
            "confirm_notes": "on",
            "_create": "1",
        },
    )
    assert "Check the notes on the essays read" in response.content.decode()
    assert not Batch.objects.exists()


def test_the_results_page_shows_state_reliability_plot_and_a_sortable_table(grader, grader_client):
    batch = finished_batch(grader, make_assignment(grader), n=5)
    content = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/").content.decode()

    assert "The comparison budget was spent." in content  # the end reason in words
    assert 'id="mock-note"' in content and "NOT a language model" in content
    assert "Reliability" in content and "SSR (sirt)" in content and "Position bias" in content and "Kendall τ" in content
    assert "Inverted anchor pairs" in content
    assert f"/admin/assessments/batch/{batch.pk}/plot.png" in content
    assert content.count('class="sortable"') == 10
    for essay in batch.essays.all():
        assert f"/admin/assessments/essay/{essay.pk}/change/" in content
    assert "(anchor: known)" in content and "misfit" in content


def test_a_large_batchs_results_come_a_page_at_a_time_best_first(grader, grader_client, monkeypatch):
    monkeypatch.setattr(views, "RESULTS_PAGE_SIZE", 3)
    batch = finished_batch(grader, make_assignment(grader), n=5)  # 5 students + 3 anchors: 3 pages
    best_first = list(batch.essays.order_by("rank").values_list("pk", flat=True))
    seen = []
    for page in (1, 2, 3):
        content = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/?page={page}").content.decode()
        shown = [pk for pk in best_first if f"/admin/assessments/essay/{pk}/change/" in content]
        assert len(shown) == (3 if page < 3 else 2)
        assert f"page {page} of 3" in content
        seen += shown
    assert seen == best_first
    for odd in ("0", "x", "-4"):  # anything but a page number is page 1; past the end, the last page
        assert "page 1 of 3" in grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/?page={odd}").content.decode()
    assert "page 3 of 3" in grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/?page=99").content.decode()


def test_the_plot_is_a_png_rendered_on_the_server(grader, grader_client):
    batch = finished_batch(grader, make_assignment(grader), n=5)
    response = grader_client.get(f"/admin/assessments/batch/{batch.pk}/plot.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


def test_progress_is_read_as_json(grader, grader_client):
    batch = finished_batch(grader, n=4)
    progress = grader_client.get(f"/admin/assessments/batch/{batch.pk}/progress/").json()
    assert progress["terminal"] is True
    assert progress["done"] == progress["planned"] == batch.comparisons_planned
    assert progress["round"] == batch.current_round
    assert progress["end_words"] == "The comparison budget was spent."
    assert progress["budget"] == batch.processing_metadata["comparison_budget"]["max_pairs_requested"]
    assert progress["words"].startswith(f"{progress['done']} of at most {progress['budget']} comparisons judged")


def test_the_bar_counts_against_the_budget_so_it_never_goes_back(grader, grader_client):
    """Round 1 planned alone is not the whole: the bar is judged ÷ budget, whatever the rounds plan."""
    batch, _ = _half_judged_batch(grader)  # 7 judged, 8 planned so far, budget 12 (6 essays × 4 ÷ 2)
    progress = grader_client.get(f"/admin/assessments/batch/{batch.pk}/progress/").json()
    assert progress["budget"] == 12
    assert progress["percent"] == round(100 * 7 / 12)
    assert progress["words"] == "7 of at most 12 comparisons judged"


def test_the_exports_have_one_row_per_essay_and_say_when_the_mock_judged(grader, grader_client):
    batch = finished_batch(grader, make_assignment(grader), n=4)

    response = grader_client.get(f"/admin/assessments/batch/{batch.pk}/export.csv")
    assert "offline-mock-judge-not-an-llm" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body_of(response).decode())))
    assert len(rows) == 7 and [int(r["rank"]) for r in rows] == list(range(1, 8))
    assert {"theta_low_95", "theta_high_95", "projected_grade"} <= set(rows[0])

    exported = BatchResults.model_validate_json(body_of(grader_client.get(f"/admin/assessments/batch/{batch.pk}/export.json")))
    assert exported.schema_name == "cj-results" and exported.batch.judges
    assert not any(judge.is_language_model for judge in exported.batch.judges)  # the mock judged
    assert len(exported.bt_summary.essays) == 7 and exported.bt_summary.reliability is not None


def test_cancel_stops_a_created_batch(grader, grader_client):
    grader_client.post("/admin/assessments/batch/add/", {**_create_post(start_now=""), "essay_files": _files(3), "_create": "1"})
    batch = Batch.objects.get()
    response = grader_client.post(f"/admin/assessments/batch/{batch.pk}/cancel/", follow=True)
    batch.refresh_from_db()
    assert batch.state == "cancelled"
    assert "Cancelled on request" in response.content.decode()


def test_continue_judges_more_comparisons_and_rescore_refits(grader, grader_client):
    batch = finished_batch(grader, n=4)
    planned = batch.comparisons_planned

    grader_client.post(f"/admin/assessments/batch/{batch.pk}/continue/", {"additional_comparisons": "4"})
    batch.refresh_from_db()
    assert batch.comparisons_planned == planned + 4 and batch.state == "completed"
    assert len(batch.processing_metadata["continuations"]) == 1

    response = grader_client.post(f"/admin/assessments/batch/{batch.pk}/rescore/", follow=True)
    assert "Rescored from the stored comparisons" in response.content.decode()
    batch.refresh_from_db()
    assert batch.processing_metadata["events"][-1]["event"] == "rescored"


def test_a_bad_continuation_is_reported_not_raised(grader, grader_client):
    batch = finished_batch(grader, n=3)
    response = grader_client.post(f"/admin/assessments/batch/{batch.pk}/continue/", {"additional_comparisons": "0"}, follow=True)
    assert "More comparisons" in response.content.decode()
    batch.refresh_from_db()
    assert not batch.processing_metadata.get("continuations")


def _half_judged_batch(owner, n=6):
    """A running batch in which the first four essays were compared and the last two never were."""
    from assessments import services
    from assessments.models import BatchState, Comparison, ComparisonStatus
    from tests.conftest import essays

    batch = services.batch_create(owner=owner, request={"essays": essays(n), "options": {"comparisons_per_essay": 4}})
    Batch.objects.filter(pk=batch.pk).update(state=BatchState.RUNNING, comparisons_planned=8)
    rows = list(batch.essays.order_by("id"))
    pairs = [(0, 1, "a"), (1, 2, "a"), (2, 3, "b"), (3, 0, "b"), (0, 2, "a"), (1, 3, "b"), (2, 1, "b")]
    for a, b, winner in pairs:
        Comparison.objects.create(
            batch=batch, round_no=1, essay_a=rows[a], essay_b=rows[b], status=ComparisonStatus.SUCCEEDED, winner=winner
        )
    Comparison.objects.create(batch=batch, round_no=1, essay_a=rows[4], essay_b=rows[5], status=ComparisonStatus.PENDING)
    return batch, rows


def test_a_cancelled_batch_shows_what_was_judged_and_essays_never_compared_are_not_ranked(grader, grader_client):
    batch, rows = _half_judged_batch(grader)
    grader_client.post(f"/admin/assessments/batch/{batch.pk}/cancel/")

    page = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/")
    content = page.content.decode()
    ranked = {r.essay_id: r for r in page.context["rows"]}
    assert all(ranked[e.external_id].theta is not None for e in rows[:4])  # scored without a rescore
    assert all(ranked[e.external_id].rank is None for e in rows[4:])
    assert "not ranked" in content and "nan" not in content.casefold()
    assert "(cancelled on request)" not in content  # said once, in words
    exported = body_of(grader_client.get(f"/admin/assessments/batch/{batch.pk}/export.csv")).decode()
    assert "nan" not in exported.casefold()


def test_a_grader_deletes_a_finished_batch_with_its_essays_and_comparisons(grader, grader_client):
    from assessments.models import Comparison, Essay

    batch = finished_batch(grader)
    page = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/").content.decode()
    assert 'id="delete-batch"' in page
    confirm = grader_client.get(f"/admin/assessments/batch/{batch.pk}/delete/")
    assert confirm.status_code == 200

    grader_client.post(f"/admin/assessments/batch/{batch.pk}/delete/", {"post": "yes"})
    assert not Batch.objects.exists() and not Essay.objects.exists() and not Comparison.objects.exists()


def test_a_running_batch_is_not_deleted_until_it_is_cancelled(grader, grader_client):
    batch, _ = _half_judged_batch(grader)
    page = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/").content.decode()
    assert 'id="delete-batch"' not in page and "To delete this batch, cancel it first." in page

    response = grader_client.post(f"/admin/assessments/batch/{batch.pk}/delete/", {"post": "yes"}, follow=True)
    assert "is running: cancel it first, then delete it" in response.content.decode()
    assert Batch.objects.filter(pk=batch.pk).exists()

    grader_client.post(f"/admin/assessments/batch/{batch.pk}/cancel/")
    grader_client.post(f"/admin/assessments/batch/{batch.pk}/delete/", {"post": "yes"})
    assert not Batch.objects.filter(pk=batch.pk).exists()


def test_a_grader_cannot_delete_another_graders_batch(grader, other_client):
    batch = finished_batch(grader)
    other_client.post(f"/admin/assessments/batch/{batch.pk}/delete/", {"post": "yes"})
    assert Batch.objects.filter(pk=batch.pk).exists()


def test_a_negative_ssr_is_said_in_words_never_shown_as_a_figure(grader, grader_client):
    batch = finished_batch(grader)
    batch.processing_metadata["scoring"]["ssr_sirt"] = -5.25
    batch.save(update_fields=["processing_metadata"])

    content = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/").content.decode()
    assert "-5.25" not in content and "−5.25" not in content
    assert "not meaningful yet: too few comparisons" in content


def test_the_position_bias_sentence_says_which_position_is_favoured():
    from assessments.admin.views import _position_bias_words

    words = _position_bias_words({"order_effect": -0.49, "order_effect_se": 0.2, "p_first_wins": 0.45})
    assert words == (
        "0.49 ± 0.20 logits in favour of the essay shown second (taken out of θ); "
        "the essay shown first won 45% of its comparisons"
    )
    assert _position_bias_words({"order_effect": None, "p_first_wins": None}) == "not estimated (too few comparisons)"


def test_figures_are_rounded_to_what_they_can_bear(grader, grader_client):
    batch = finished_batch(grader, make_assignment(grader), n=6)
    page = grader_client.get(f"/admin/assessments/batch/{batch.pk}/change/").content.decode()
    assert "text-transform:none" in page  # the θ header is not upper-cased to Θ
    assert re.search(r'<td class="num" data-value="0\.\d+">\d{1,3}%</td>', page)  # P(grade) as a percentage
    listing = grader_client.get(f"/admin/assessments/essay/?batch={batch.pk}").content.decode()
    start = listing.index('id="result_list"')
    table = listing[start : listing.index("</table>", start)]
    assert re.search(r"\d\.\d\d<", table) and not re.search(r"\d\.\d{3,}", table)  # θ and SE with 2 decimals

    exported = body_of(grader_client.get(f"/admin/assessments/batch/{batch.pk}/export.csv")).decode()
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert "expected_grade" not in rows[0]
    for row in rows:
        for name in ("theta", "se", "infit", "grade_probability"):
            assert row[name] == "" or len(row[name].partition(".")[2]) <= 3
        assert "." not in row["wins"] or not row["wins"].endswith(".0")
