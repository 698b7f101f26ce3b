"""What the graders' batch pages show beyond the figures: states and end reasons in words, the
progress bar's data, the summary beside the results table, the note on the mock judge.

The figures come from `assessments.selectors`; this module only puts them into words and shapes.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from assessments import selectors
from assessments.models import HUMAN_JUDGE_MODES, TERMINAL_STATES, Assignment, Batch, BatchState, EndReason, JudgeMode
from assessments.results.schema import Grading, ResultsSummary

MOCK_NOTE = (
    "Judged by the offline mock judge, which is NOT a language model: it scores surface features of "
    "the text (length, vocabulary, sentence and paragraph structure). This ranking shows the flow "
    "working, not a real assessment."
)
END_REASON_WORDS: dict[str, str] = {
    EndReason.RELIABILITY_REACHED: (
        "The ranking reached its reliability target, and every essay had its minimum number of comparisons."
    ),
    EndReason.GRADES_SETTLED: (
        "The grades settled: the students' projected grades are, on average, as likely as asked to be right."
    ),
    EndReason.BUDGET_EXHAUSTED: "The comparison budget was spent.",
    EndReason.PAIRS_EXHAUSTED: "Every pair of essays had been compared: nothing was left to ask.",
    EndReason.MAX_ROUNDS: "The round limit was reached.",
    EndReason.INSUFFICIENT_ESSAYS: "Too few essays to compare: a batch needs at least two (students and anchors).",
    EndReason.LOW_SUCCESS_RATE: "Too many judgements failed: the judge was not reliable enough to rank this batch.",
    EndReason.COST_LIMIT: "The cost limit was reached.",
    EndReason.CANCELLED: "Cancelled on request: nothing more was sent.",
    EndReason.RECOVERED: "Finished after recovering from an interruption.",
    EndReason.STALLED: "The batch made no progress for too long and was stopped.",
    EndReason.HUMAN_DEADLINE: "The deadline for human judgements passed; the batch was scored with every judgement made.",
}
JUDGE_MODE_WORDS: dict[str, str] = {
    JudgeMode.LLM: "The LLM judges every pair.",
    JudgeMode.HUMAN: "People judge every pair (no LLM is called).",
    JudgeMode.HYBRID: "The LLM judges in rounds; invited people judge a share of comparisons on top.",
    JudgeMode.MODERATION: "The LLM judges; invited people re-judge a sample of its pairs without seeing its verdict.",
}
STATE_WORDS: dict[str, str] = {
    BatchState.CREATED: "Created, not started yet.",
    BatchState.RUNNING: "Running: the judge is comparing essays.",
    BatchState.SCORING: "Scoring a finished round.",
    BatchState.COMPLETED: "Completed.",
    BatchState.FAILED: "Failed.",
    BatchState.CANCELLED: "Cancelled.",
}


# Essays per page of the batch page's results table: a batch of 10,000 reads as 20 pages, not
# one page of several megabytes.
RESULTS_PAGE_SIZE = 500


def results_page_number(raw: str | None) -> int:
    """The `?page=` of the batch page: a whole number from 1; anything else is page 1."""
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


def results_pager(*, total: int, page: int) -> dict[str, Any]:
    """Which essays this page shows and where the pages before and after are (None: none)."""
    pages = max(1, -(-total // RESULTS_PAGE_SIZE))
    page = min(page, pages)
    first = (page - 1) * RESULTS_PAGE_SIZE
    return {
        "total": total,
        "page": page,
        "pages": pages,
        "first": first + 1 if total else 0,
        "last": min(first + RESULTS_PAGE_SIZE, total),
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
    }


def batch_summary(*, batch: Batch, results: ResultsSummary) -> dict[str, Any]:
    """Progress, the end in words, reliability, position bias, grading and anchor alignment.

    `results` is what the API's `/results` answers (`selectors.batch_results`): the page shows the
    same grading, anchor alignment and judges.
    """
    meta = batch.processing_metadata
    progress = selectors.batch_progress(batch=batch)
    done = progress["succeeded"]
    scoring = meta.get("scoring") or {}
    return {
        "progress": progress,
        "done": done,
        "percent": _percent(done, batch=batch, spent=progress["planned"] - progress["failed"]),
        "progress_words": _progress_words(batch=batch, progress=progress),
        "state_words": STATE_WORDS.get(batch.state, batch.state),
        "end_words": END_REASON_WORDS.get(batch.end_reason, ""),
        "end_detail": _end_detail(batch),
        "ssr_words": _ssr_words(scoring.get("ssr_sirt")),
        "position_bias_words": _position_bias_words(scoring),
        "budget": batch_budget(batch),
        "scoring": scoring,
        "grading": results.grading,
        "grade_regions": _grade_regions(results.grading),
        "alignment": results.anchor_alignment,
        "judges": results.judges,
        "continuations": meta.get("continuations") or [],
        "judge_mode_words": JUDGE_MODE_WORDS.get(batch.judge_mode, batch.judge_mode),
        "people_judge": batch.judge_mode in HUMAN_JUDGE_MODES,
        "agreement": results.agreement,
        "agreement_words": agreement_words(results),
        "excluded_judges": meta.get("excluded_judges") or [],
    }


def _percent_words(rate: float | None, low: float | None, high: float | None, n: int, *, empty: str) -> str:
    if rate is None or low is None or high is None:
        return empty
    return f"{round(100 * rate)}% of {n} decisions (95% interval {round(100 * low)}–{round(100 * high)}%)"


def agreement_words(results: ResultsSummary) -> dict[str, str]:
    """The agreement block in sentences a teacher can follow."""
    agreement = results.agreement
    if agreement is None:
        return {}
    ai, hh = agreement.ai_human, agreement.human_human
    words = {
        "ai_human": _percent_words(ai.rate, ai.low_95, ai.high_95, ai.n, empty="no pair judged by both a person and the LLM yet"),
        "human_human": _percent_words(hh.rate, hh.low_95, hh.high_95, hh.n, empty="no pair judged by two people yet"),
    }
    correlation = agreement.scale_correlation
    if correlation is None:
        words["correlation"] = f"not yet: {agreement.scale_correlation_note}"
    else:
        corrected = ""
        if correlation.disattenuated is not None:
            corrected = f"; corrected for both scales' reliability: {correlation.disattenuated:.2f}"
        words["correlation"] = f"r = {correlation.r:.2f} over {correlation.n_essays} essays{corrected}"
        words["attenuation"] = correlation.note
    return words


def _position_bias_words(scoring: dict[str, Any]) -> str:
    """The fitted order effect and the raw share of first-shown wins, in one sentence that says
    which position is favoured (a negative effect favours the essay shown second)."""
    effect, se, share = scoring.get("order_effect"), scoring.get("order_effect_se"), scoring.get("p_first_wins")
    if effect is None:
        words = "not estimated (too few comparisons)"
    else:
        favoured = "first" if effect >= 0 else "second"
        spread = f" ± {se:.2f}" if se is not None else ""
        words = f"{abs(effect):.2f}{spread} logits in favour of the essay shown {favoured} (taken out of θ)"
    if share is not None:
        words += f"; the essay shown first won {round(100 * share)}% of its comparisons"
    return words


def _ssr_words(ssr: float | None) -> str:
    """sirt's SSR as a figure between 0 and 1, or why there is none: with few comparisons the
    formula can go below 0, which is no reliability at all, never a figure to show."""
    if ssr is None:
        return "-"
    if ssr < 0:
        return "not meaningful yet: too few comparisons for the differences between essays to show"
    return f"{ssr:.2f}"


def _end_detail(batch: Batch) -> str:
    """The stored end message when it adds to the end reason's words ("cancelled on request" does not)."""
    words = END_REASON_WORDS.get(batch.end_reason, "")
    message = batch.end_message.strip()
    return "" if not message or message.casefold() in words.casefold() else message


def _grade_regions(grading: Grading) -> list[str]:
    """Each grade, best first, with the θ range it covers and how uncertain its edges are:
    "B: 0.62 (± 0.35) to 1.85 (± 0.50)". The edges are the cut points' posterior means; ± their SD."""
    if not grading.available:
        return []
    grades, cuts = grading.grades, grading.cuts
    spread = grading.cut_se or [None] * len(cuts)

    def edge(i: int) -> str:
        value, se = cuts[i], spread[i] if i < len(spread) else None
        return f"{value:.2f}" + (f" (± {se:.2f})" if se is not None else "")

    regions = []
    for k, grade in enumerate(grades):
        low = k - 1 if k > 0 and cuts[k - 1] is not None else None
        high = k if k < len(cuts) and cuts[k] is not None else None
        if low is None and high is None:
            regions.append(f"{grade}: everywhere")
        elif low is None:
            regions.append(f"{grade}: below {edge(k)}")
        elif high is None:
            regions.append(f"{grade}: above {edge(k - 1)}")
        else:
            regions.append(f"{grade}: {edge(k - 1)} to {edge(k)}")
    return list(reversed(regions))  # best grade first, as in the table


def batch_budget(batch: Batch) -> int | None:
    """The most comparisons the batch may judge (its budget, continuations included)."""
    budget = (batch.processing_metadata.get("comparison_budget") or {}).get("max_pairs_requested")
    return int(budget) if budget else None


def budget_whole(batch: Batch, *, spent: int) -> int:
    """What progress is measured against: the batch's budget (it only grows; a round's plan would
    jump back each time a round is added), or what it has spent if that is more or there is none.
    `spent`: comparisons planned less those failed for good (a later round replaces them)."""
    return max(batch_budget(batch) or 0, spent)


def _percent(done: int, *, batch: Batch, spent: int) -> int:
    whole = budget_whole(batch, spent=spent)
    return min(100, round(100 * done / whole)) if whole else 0


def _progress_words(*, batch: Batch, progress: dict[str, Any]) -> str:
    """ "112 of at most 168 comparisons judged, 2 failed (server_error 2; replaced by new pairs
    while the budget and rounds allow) · round 3" (one sentence for page and refresh)."""
    done = progress["succeeded"]
    whole = budget_whole(batch, spent=progress["planned"] - progress["failed"])
    words = f"{done} of at most {whole} comparisons judged" if whole else f"{done} comparisons judged"
    if progress["failed"]:
        reasons = ", ".join(f"{reason} {n}" for reason, n in progress["failed_by_reason"].items())
        words += f", {progress['failed']} failed ({reasons}; replaced by new pairs while the budget and rounds allow)"
    if progress["rounds"]:
        words += f" · round {progress['rounds']}"
    return words


def batch_progress_json(*, batch: Batch) -> dict[str, Any]:
    """What the refreshing progress bar reads."""
    progress = selectors.batch_progress(batch=batch)
    done = progress["succeeded"]
    return {
        "state": batch.state,
        "state_words": STATE_WORDS.get(batch.state, batch.state),
        "terminal": batch.is_terminal,
        "end_reason": batch.end_reason,
        "end_words": END_REASON_WORDS.get(batch.end_reason, ""),
        "round": progress["rounds"],
        "done": done,
        "planned": progress["planned"],
        "budget": batch_budget(batch),
        "succeeded": progress["succeeded"],
        "failed": progress["failed"],
        "waiting": progress["waiting"],
        "percent": _percent(done, batch=batch, spent=progress["planned"] - progress["failed"]),
        "words": _progress_words(batch=batch, progress=progress),
        "cost_usd": f"{progress['cost_usd']:.4f}",
    }


START_PAGE_LIMIT = 8


def grader_start(*, user: Any) -> dict[str, Any]:
    """The start page: the grader's assignments, their batches not yet finished (with progress)
    and the latest finished ones, and what to do next. Superusers see everyone's."""
    assignments = Assignment.objects.all() if user.is_superuser else Assignment.objects.filter(owner=user)
    batches = Batch.objects.all() if user.is_superuser else Batch.objects.filter(owner=user)
    assignment_rows = list(
        assignments.annotate(n_anchors=Count("anchors", distinct=True), n_batches=Count("batches", distinct=True)).order_by(
            "-created_at"
        )[:START_PAGE_LIMIT]
    )
    open_batches = batches.exclude(state__in=TERMINAL_STATES).select_related("assignment").order_by("-created_at")
    running = [_start_row(batch) for batch in open_batches[:START_PAGE_LIMIT]]
    finished = list(batches.filter(state__in=TERMINAL_STATES).select_related("assignment").order_by("-finished_at")[:5])
    without_anchors = next((a for a in assignment_rows if not a.n_anchors), None)
    judgeable = (
        selectors.batches_judgeable(user=user)
        .filter(judge_mode__in=HUMAN_JUDGE_MODES, state=BatchState.RUNNING)
        .select_related("assignment")
        .order_by("-created_at")[:START_PAGE_LIMIT]
    )
    return {
        "to_judge": list(judgeable),
        "assignments": assignment_rows,
        "running": running,
        "finished": finished,
        "needs_assignment": not assignment_rows,
        "without_anchors": without_anchors,
    }


def _start_row(batch: Batch) -> dict[str, Any]:
    done = batch.comparisons_succeeded
    whole = budget_whole(batch, spent=batch.budget_spent)
    return {
        "batch": batch,
        "percent": _percent(done, batch=batch, spent=batch.budget_spent),
        "words": f"{done} of at most {whole} comparisons judged" if whole else "not started",
        "state_words": STATE_WORDS.get(batch.state, batch.state),
    }
