"""A grader judges beside the LLM in real headless Chromium (the browser set-up of
`test_admin_browser`): keys and a button on the judging page, then the agreement on the results
page. Screenshots at 1366 px and at tablet width go to pytest's temporary folder (printed)."""

from __future__ import annotations

from assessments.models import Batch
from tests.e2e.test_admin_browser import _close_connections, _login, chromium, page, teacher  # noqa: F401 - fixtures


def test_a_grader_judges_with_keys_and_a_button_then_reads_the_agreement(teacher, page, live_server, tmp_path):  # noqa: F811
    from assessments import services
    from tests.admin.conftest import make_assignment
    from tests.conftest import essays

    shots = tmp_path / "screenshots"
    shots.mkdir()
    url = live_server.url
    # A moderation batch: the mock LLM judges it (in process), then it waits for 3 human verdicts.
    batch = services.batch_create(
        owner=teacher,
        request={
            "essays": essays(6),
            "assignment_id": make_assignment(teacher).pk,
            "options": {"judge_mode": "moderation", "human_share": 0.16, "comparisons_per_essay": 4},
        },
    )
    services.batch_start(batch_id=batch.pk)
    _close_connections()
    _login(page, url)

    page.click("#batches-to-judge a")
    page.wait_for_selector("#judge-form")
    assert page.inner_text("#essay-a h2") == "Essay A" and page.inner_text("#essay-b h2") == "Essay B"
    assert "Write about a role model." in page.inner_text("#task")
    page.screenshot(path=str(shots / "judge-1366.png"), full_page=True)
    # Side by side at 1366 px, each scrolling on its own.
    a, b = (page.locator(f"#essay-{side}").bounding_box() for side in ("a", "b"))
    assert a and b and a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 2
    assert page.evaluate("getComputedStyle(document.querySelector('#essay-a .cj-text')).overflowY") == "auto"

    page.keyboard.press("ArrowLeft")  # Essay A is better
    page.wait_for_function("document.getElementById('judged-by-you').textContent === '1'")
    page.fill("#comment", "Clearer argument.")
    page.click("#choose-b")
    page.wait_for_function("document.getElementById('judged-by-you').textContent === '2'")

    # At tablet width the essays stack.
    page.set_viewport_size({"width": 820, "height": 1100})
    a, b = (page.locator(f"#essay-{side}").bounding_box() for side in ("a", "b"))
    assert a and b and b["y"] >= a["y"] + a["height"]
    page.screenshot(path=str(shots / "judge-820.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.keyboard.press("ArrowRight")  # the third and last verdict asked of people
    page.wait_for_selector("#no-pair")
    assert "finished" in page.inner_text("#no-pair")

    page.goto(f"{url}/admin/assessments/batch/{batch.pk}/change/")
    page.wait_for_selector("#agreement")
    assert "of 3 decisions" in page.inner_text("#agreement-ai-human")
    page.locator("#agreement").screenshot(path=str(shots / "agreement-1366.png"))
    page.screenshot(path=str(shots / "results-1366.png"), full_page=True)
    _close_connections()
    finished = Batch.objects.get(pk=batch.pk)
    assert finished.state == "completed"
    assert finished.comparisons.filter(judge_user=teacher).count() == 3
    assert finished.comparisons.get(judge_user=teacher, comment="Clearer argument.").winner == "b"
    _close_connections()
    print(f"\njudging e2e screenshots: {shots}")
