"""A grader's whole job in real headless Chromium: Playwright drives Debian's `chromium`.

Log in, create an assignment with anchors (inline and uploaded), upload essays, read the cost
estimate, start a batch on the mock judge, wait for it to finish, see the plot, sort the table and
export the CSV. The browser is installed with apt-get when missing (as root); without it the test
skips and says why. Screenshots go to pytest's temporary folder (printed), never into the repo.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assessments.graders import grader_add
from assessments.models import Batch

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ESSAYS = {
    "essay_01.txt": "Role models matter because they show us what is possible. My aunt, a nurse, works nights.",
    "essay_02.txt": "i like my coach he is nice and he help me alot",
    "essay_03.md": "A role model need not be famous.\n\nThe most influential people are often the quiet, consistent ones.",
    "essay_04.txt": "Athletes are not always the best examples, because fame rewards visibility rather than character.",
    "essay_05.txt": "My grandmother taught me patience. She listened, she planned, and she never gave up on anyone.",
    "essay_06.txt": "Role models. They are good. I have one.",
}
ANCHORS = {
    "A.txt": "The most convincing role models are rarely the loudest: they persuade by example, patiently and consistently.",
    "C.txt": "A role model shows us how to act when things are difficult, and my teacher did that every day.",
}


def _install_chromium() -> str | None:
    """Install Debian's chromium when missing; the reason it is unavailable, or None."""
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{CHROMIUM} is missing and apt-get cannot install it here (not root, or no apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900, check=False)
    if result.returncode != 0:  # an old package list: update it once and try again
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=300, check=False)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900, check=False)
    if not CHROMIUM.exists():
        return f"apt-get install chromium failed: {result.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -r requirements-dev.txt)")
    reason = _install_chromium()
    if reason:
        pytest.skip(f"no browser for the admin end-to-end test: {reason}")
    return str(CHROMIUM)


@pytest.fixture
def page(chromium: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # The live server's request threads close their connections after each request, so that
    # none is left open on the test database when it is dropped.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test itself
    # are still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        # 1366 px: the most common laptop width a teacher has.
        context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
        context.set_default_timeout(30_000)
        yield context.new_page()
        context.close()
        browser.close()


def _write(folder: Path, files: dict[str, str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [str(folder / name) for name in files]


@pytest.fixture
def teacher(transactional_db: None, django_user_model: Any) -> Iterator[Any]:
    """A grader, created before the browser starts (see `_close_connections`)."""
    user = django_user_model.objects.create_user(username="teacher", password="teacher-pass-123")
    grader_add(user=user)
    yield user
    _close_connections()


def _close_connections() -> None:
    """Close this context's database connections.

    While Playwright's sync API is active, ORM calls run in another context and open a connection
    of their own, which nothing else closes: the test database could not be dropped at the end.
    """
    from django.db import connections

    connections.close_all()


def test_a_grader_runs_a_batch_in_the_browser_and_exports_the_results(teacher, page, live_server, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    url = live_server.url

    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", "teacher")
    page.fill("#id_password", "teacher-pass-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    assert "Assignments" in page.content() and "Batches" in page.content()
    assert "Create an assignment" in page.inner_text("#next-steps")
    page.screenshot(path=str(shots / "0-start.png"), full_page=True)

    # An assignment with one anchor written inline ...
    page.goto(f"{url}/admin/assessments/assignment/add/")
    page.fill("#id_title", "Role models")
    page.fill("#id_student_prompt", "Write about a role model in your life.")
    page.fill("#id_instructions", "Reward clear structure, precise language and a developed argument.")
    page.select_option("#id_grade_scale", "swedish_a_f")
    page.fill("#id_anchors-2-0-label", "E_anchor")
    page.fill("#id_anchors-2-0-grade", "E")
    page.fill("#id_anchors-2-0-text", "A role model is good. I like them. They is nice.")
    page.click("input[name=_continue]")
    page.wait_for_selector("#anchor-coverage")
    # ... and two uploaded, their grades taken from the file names.
    page.click("text=Upload anchor files")
    page.set_input_files("#id_files", _write(tmp_path / "anchors", ANCHORS))
    page.click("input[type=submit]")
    page.wait_for_selector("#anchors-read")  # each file's grade shown before anything is saved
    assert "the file name" in page.inner_text("#anchors-read")
    page.screenshot(path=str(shots / "1-anchors-to-confirm.png"), full_page=True)
    page.click("input[name=_confirm]")
    page.wait_for_selector("#anchor-coverage")
    coverage = page.inner_text("#anchor-coverage")
    assert "A: 1" in coverage and "C: 1" in coverage and "E: 1" in coverage and "B: 0" in coverage
    page.screenshot(path=str(shots / "1-assignment.png"), full_page=True)

    # A batch: essays uploaded, cost estimated, then created and started on the mock judge.
    page.goto(f"{url}/admin/assessments/batch/add/")
    page.select_option("#id_assignment", label="Role models")
    page.set_input_files("#id_essay_files", _write(tmp_path / "essays", ESSAYS))
    page.fill("#id_comparisons_per_essay", "4")
    page.select_option("#id_judge", "mock/mock-heuristic-v1")
    page.click("input[name=_estimate]")
    page.wait_for_selector("#cost-estimates")
    assert "6 essays read" in page.inner_text("#essays-read")
    assert "claude-sonnet-4-6" in page.inner_text("#cost-estimates")
    page.screenshot(path=str(shots / "2-new-batch.png"), full_page=True)
    page.click("input[name=_create]")

    # The batch page refreshes its progress until the batch has finished.
    page.wait_for_selector("#batch-status")
    page.wait_for_function("document.getElementById('state-words').textContent.startsWith('Completed')", timeout=120_000)
    page.wait_for_selector("#plot-image")
    page.wait_for_function("document.getElementById('plot-image').complete")
    assert page.evaluate("document.getElementById('plot-image').naturalWidth") > 400
    assert "NOT a language model" in page.inner_text("#mock-note")
    assert "Kendall τ" in page.inner_text("#anchor-alignment")
    page.screenshot(path=str(shots / "3-results.png"), full_page=True)
    # At 1366 px the action buttons keep their words on one line.
    height = page.evaluate("document.getElementById('export-json').getBoundingClientRect().height")
    assert height < 40, f"Export JSON breaks over lines ({height} px high)"
    assert page.inner_text("table.cj-results th:nth-child(3)").startswith("θ")  # not upper-cased to Θ

    # The table sorts by a column.
    page.click("table.cj-results th:has-text('essay')")
    first = page.inner_text("table.cj-results tbody tr:first-child td:nth-child(2)")
    assert first == "anchor:A"

    with page.expect_download() as download:
        page.click("#export-csv")
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    rows = list(csv.DictReader(exported.open(encoding="utf-8")))
    assert len(rows) == 9  # 6 students and 3 anchors
    assert "offline-mock-judge-not-an-llm" in exported.name
    assert all(row["projected_grade"] for row in rows if row["role"] == "student")

    # The lists of the batch's essays and comparisons, and the batch list, at 1366 px.
    for name, path in (("essays", "essay"), ("comparisons", "comparison"), ("batches", "batch")):
        page.goto(f"{url}/admin/assessments/{path}/")
        page.wait_for_selector("#result_list")
        page.screenshot(path=str(shots / f"4-{name}-list.png"), full_page=True)
        clipped = page.evaluate(
            "(t => t.parentElement.scrollWidth - t.parentElement.clientWidth)(document.getElementById('result_list'))"
        )
        assert clipped <= 0, f"the {name} list is clipped by {clipped} px at 1366 px"
    page.goto(f"{url}/admin/assessments/essay/")
    assert page.inner_text("#result_list th.column-theta_2").strip() == "θ"

    batch = Batch.objects.get()
    _close_connections()
    assert batch.state == "completed" and batch.owner == teacher
    print(f"\nadmin e2e screenshots: {shots}")


def _login(page: Any, url: str) -> None:
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", "teacher")
    page.fill("#id_password", "teacher-pass-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")


def test_a_graders_mistakes_are_shown_and_nothing_is_changed_silently(teacher, page, live_server, tmp_path):
    from assessments import services

    shots = tmp_path / "screenshots"
    shots.mkdir()
    url = live_server.url
    assignment = services.assignment_create(
        owner=teacher, title="Letters", student_prompt="Write a letter home.", grade_scale="swedish_a_f"
    )
    _close_connections()
    _login(page, url)

    # Anchors named with a grade the scale lacks are refused, never read as C or D.
    page.goto(f"{url}/admin/assessments/assignment/{assignment.pk}/upload-anchors/")
    page.set_input_files("#id_files", _write(tmp_path / "minus", {"C-.txt": "An essay.", "D-.txt": "Another essay."}))
    page.click("input[type=submit]")
    errors = page.inner_text("ul.errorlist")
    assert "C-.txt: its name starts with C-, which is not a grade of this scale" in errors
    page.screenshot(path=str(shots / "4-anchor-minus-refused.png"), full_page=True)

    # One essay and no assignment: refused at the form.
    page.goto(f"{url}/admin/assessments/batch/add/")
    page.fill("#id_pasted_essays", ESSAYS["essay_01.txt"])
    page.click("input[name=_create]")
    assert "A batch needs at least two texts to compare" in page.inner_text("ul.errorlist")

    # Three pasted essays: three read, three created (never six).
    page.fill("#id_pasted_essays", "\n---\n".join(list(ESSAYS.values())[:3]))
    page.uncheck("#id_start_now")
    page.click("input[name=_estimate]")
    assert "3 essays read" in page.inner_text("#essays-read")
    assert "free (offline mock, not an LLM)" in page.inner_text("#cost-estimates")
    page.screenshot(path=str(shots / "5-pasted-estimate.png"), full_page=True)
    page.click("input[name=_create]")
    page.wait_for_selector("#batch-status")
    assert "created with 3 essays" in page.inner_text("ul.messagelist")

    # A batch not started is deleted, with its essays.
    page.click("#delete-batch")
    page.screenshot(path=str(shots / "6-delete-confirm.png"), full_page=True)
    page.click("input[type=submit]")
    page.wait_for_selector("ul.messagelist")
    _close_connections()
    assert not Batch.objects.exists()
    _close_connections()

    # A Windows text file and a repeated essay: shown, and the batch waits for the tick.
    files = {"windows.txt": "Ett café i Malmö.", "essay_05.txt": ESSAYS["essay_05.txt"], "copy.txt": ESSAYS["essay_05.txt"]}
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_bytes(text.encode("cp1252"))
    page.goto(f"{url}/admin/assessments/batch/add/")
    page.set_input_files("#id_essay_files", [str(folder / name) for name in files])
    page.uncheck("#id_start_now")
    page.click("input[name=_create]")
    notes = page.inner_text("#essay-notes")
    assert "windows: was not UTF-8: read as Windows (cp1252 / Latin-1) text" in notes
    assert "copy: the same text as essay_05, so it is left out" in notes
    page.screenshot(path=str(shots / "7-notes-to-confirm.png"), full_page=True)
    page.check("#id_confirm_notes")
    page.click("input[name=_create]")
    page.wait_for_selector("#batch-status")
    assert "created with 2 essays" in page.inner_text("ul.messagelist")
    page.screenshot(path=str(shots / "8-batch-created.png"), full_page=True)

    page.goto(f"{url}/admin/")
    assert "Batch " in page.inner_text("#running-batches")
    page.screenshot(path=str(shots / "9-start-with-work.png"), full_page=True)
    print(f"\nadmin e2e screenshots: {shots}")
