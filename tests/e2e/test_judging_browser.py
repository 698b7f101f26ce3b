"""Two graders judge beside the LLM at once in real headless Chromium (the browser set-up of
`test_admin_browser`): keys and buttons on the judging page, then the agreement on the results
page. Screenshots at 1366 px and at tablet width go to pytest's temporary folder (printed)."""

from __future__ import annotations

from assessments.models import Batch
from tests.e2e.test_admin_browser import _close_connections, _login, chromium, page, teacher  # noqa: F401 - fixtures


def test_two_graders_judge_at_once_with_keys_and_buttons_then_read_the_agreement(
    teacher,  # noqa: F811 - the fixture imported above
    page,  # noqa: F811
    live_server,
    tmp_path,
    django_user_model,
):
    from assessments import services
    from assessments.graders import grader_add
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
    colleague = django_user_model.objects.create_user(username="colleague", password="colleague-pass-123")
    grader_add(user=colleague)
    services.batch_judge_invite(batch=batch, user=colleague)
    _close_connections()
    _login(page, url)

    page.click("#batches-to-judge a")
    page.wait_for_selector("#judge-form")
    # A colleague, invited, judges the same batch at the same time in a browser of their own.
    other = page.context.browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    other.goto(f"{url}/admin/login/")
    other.fill("#id_username", "colleague")
    other.fill("#id_password", "colleague-pass-123")
    other.click("input[type=submit]")
    other.goto(f"{url}/admin/assessments/batch/{batch.pk}/judge/")
    other.wait_for_selector("#judge-form")
    lease = "document.querySelector('input[name=lease_id]').value"
    assert other.evaluate(lease) != page.evaluate(lease)  # each holds a pair of their own
    assert page.inner_text("#essay-a h2") == "Essay A" and page.inner_text("#essay-b h2") == "Essay B"
    assert "Write about a role model." in page.inner_text("#task")
    page.screenshot(path=str(shots / "judge-1366.png"), full_page=True)
    # Side by side at 1366 px, each scrolling on its own.
    a, b = (page.locator(f"#essay-{side}").bounding_box() for side in ("a", "b"))
    assert a and b and a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 2
    assert page.evaluate("getComputedStyle(document.querySelector('#essay-a .cj-text')).overflowY") == "auto"

    page.keyboard.press("ArrowLeft")  # Essay A is better
    page.wait_for_function("document.getElementById('judged-by-you').textContent === '1'")
    other.click("#choose-a")
    other.wait_for_function("document.getElementById('judged-by-you').textContent === '1'")
    other.context.close()

    # At tablet width the essays stack.
    page.set_viewport_size({"width": 820, "height": 1100})
    a, b = (page.locator(f"#essay-{side}").bounding_box() for side in ("a", "b"))
    assert a and b and b["y"] >= a["y"] + a["height"]
    page.screenshot(path=str(shots / "judge-820.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.fill("#comment", "Clearer argument.")
    page.click("#choose-b")  # the third and last verdict asked of people
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
    assert finished.comparisons.filter(judge_user=teacher).count() == 2
    assert finished.comparisons.filter(judge_user=colleague).count() == 1
    assert finished.comparisons.get(judge_user=teacher, comment="Clearer argument.").winner == "b"
    _close_connections()
    print(f"\njudging e2e screenshots: {shots}")
