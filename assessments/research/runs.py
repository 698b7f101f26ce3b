"""Running an ENG5 experiment through the real services, and reading it back as an artefact.

`run_batch_create` sets up the assignment and the batch (`assignment_create`, `anchor_register`,
`batch_create`); the caller starts it with `services.batch_start`. `batch_wait` follows it;
`artefact_build` turns the inventory, the estimate and (when there is one) the finished batch
into a `RunArtefact`. Essays are sent and stored under their opaque ids only.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Sum
from django.utils import timezone

from assessments import services
from assessments.engine.grading import anchor_alignment
from assessments.models import Assignment, Batch, ComparisonStatus, ContextOrigin
from assessments.research import artefact as schema
from assessments.research.inventory import InputDocument, Inventory
from assessments.research.planning import JudgeChoice
from assessments.schemas import ANCHOR_ID_PREFIX
from llmgateway.manifest import manifest

RUNNER_VERSION = "1.0"
RUNNER_USERNAME = "eng5-runner"
MOCK_NOTE = "the offline mock judge (surface text features): NOT a language model; its ranking shows the flow only"


def run_batch_create(
    *,
    inventory: Inventory,
    judge: JudgeChoice,
    anchors_as_students: bool,
    comparisons_per_essay: int | None,
    max_comparisons: int | None,
    seed: int,
    course_code: str,
) -> Batch:
    """The assignment and the batch of a run, through the services (not started).

    `execute`: the assignment holds the anchors (their grades known to the service, never to the
    judge) and the batch the students. `anchor-align`: an assignment without anchors, and the
    anchors sent as if they were students; their grades stay with the runner.
    """
    reused = Assignment.objects.filter(pk=inventory.assignment_id).first() if inventory.assignment_id else None
    owner = reused.owner if reused else _runner_user()
    if reused and not anchors_as_students:
        assignment = reused
    else:
        assignment = services.assignment_create(
            owner=owner,
            title=f"ENG5 {'anchor alignment' if anchors_as_students else 'run'} {timezone.now():%Y-%m-%d %H:%M}",
            student_prompt=inventory.prompt.text,
            instructions=inventory.instructions.text,
            grade_scale=inventory.scale.name,
            context_origin=ContextOrigin.RESEARCH,
        )
        if not anchors_as_students:
            for doc in inventory.anchors:
                services.anchor_register(assignment=assignment, label=doc.id, grade=doc.grade or "", text=doc.text)
    documents = inventory.anchors if anchors_as_students else inventory.essays
    options: dict[str, Any] = {"seed": seed}
    if comparisons_per_essay:
        options["comparisons_per_essay"] = comparisons_per_essay
    options["batching_mode"] = judge.batching_mode
    request: dict[str, Any] = {
        "essays": [{"id": doc.id, "text": doc.text} for doc in documents],
        "assignment_id": assignment.pk,
        "course_code": course_code,
        "llm_config_overrides": judge.overrides.model_dump(exclude_none=True),
        "options": options,
    }
    if max_comparisons:
        request["max_comparisons_override"] = max_comparisons
    return services.batch_create(owner=owner, request=request)


def _runner_user() -> Any:
    user, _ = get_user_model().objects.get_or_create(username=RUNNER_USERNAME, defaults={"is_active": False})
    return user


def batch_wait(
    *, batch: Batch, on_progress: Callable[[dict[str, Any]], None], timeout: float, poll_seconds: float = 1.0
) -> Batch:
    """Poll the batch until it finishes, reporting progress; TimeoutError after `timeout` s."""
    from assessments import selectors

    deadline = time.monotonic() + timeout
    batch.refresh_from_db()
    while not batch.is_terminal:
        on_progress(selectors.batch_progress(batch=batch))
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch.pk} still {batch.state} after {timeout:.0f} s; is a worker running?")
        time.sleep(poll_seconds)
        batch.refresh_from_db()
    on_progress(selectors.batch_progress(batch=batch))
    return batch


def git_sha() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def artefact_build(
    *,
    mode: schema.Mode,
    run_id: str,
    created_at: datetime,
    inventory: Inventory,
    estimate: schema.Estimate,
    judge: JudgeChoice,
    seed: int,
    comparisons_per_essay: int | None,
    max_comparisons: int | None,
    course_code: str,
    batch: Batch | None,
    waited: bool,
    warnings: list[str],
) -> schema.RunArtefact:
    """The run as one document: metadata, inputs, estimate, and the batch's results if any."""
    entry = judge.model
    run = schema.RunInfo(
        run_id=run_id,
        mode=mode,
        created_at=created_at,
        finished_at=timezone.now() if batch is not None and batch.is_terminal else None,
        runner_version=RUNNER_VERSION,
        git_sha=git_sha(),
        judge=schema.JudgeInfo(
            provider=judge.provider,
            model=entry.id,
            display_name=entry.display_name,
            temperature=judge.overrides.temperature_override,
            reasoning_effort=judge.overrides.reasoning_effort,
            is_language_model=judge.is_language_model,
            note="" if judge.is_language_model else MOCK_NOTE,
        ),
        batching_mode=judge.batching_mode,
        seed=seed,
        grade_scale=inventory.scale.name,
        grades=list(inventory.scale.grades),
        comparisons_per_essay=comparisons_per_essay,
        max_comparisons=max_comparisons,
        course_code=course_code,
        assignment_id=batch.assignment_id if batch is not None else inventory.assignment_id,
        batch_id=batch.pk if batch is not None else None,
        state=batch.state if batch is not None else "not-run",
        end_reason=batch.end_reason if batch is not None else "",
        end_message=batch.end_message if batch is not None else "",
        waited=waited,
    )
    artefact = schema.RunArtefact(
        run=run,
        inputs=_inputs(inventory),
        estimate=estimate,
        costs=schema.Costs(
            total_usd=0.0,
            estimated_usd=estimate.cost_usd,
            input_tokens=0,
            output_tokens=0,
            cache_read_tokens=0,
            cache_write_tokens=0,
            prices_as_of=estimate.prices_as_of,
        ),
        warnings=warnings,
    )
    if batch is None:
        return artefact
    return _with_results(artefact, batch=batch, inventory=inventory)


def _inputs(inventory: Inventory) -> schema.Inputs:
    texts = [t for t in (inventory.prompt, inventory.instructions, inventory.rubric, inventory.system_prompt) if t]
    if inventory.anchor_grades:
        texts.append(inventory.anchor_grades)

    def essay(doc: InputDocument) -> schema.InputEssay:
        return schema.InputEssay(
            id=doc.id,
            role=doc.role,  # type: ignore[arg-type]
            file=doc.file,
            format=doc.format,
            file_sha256=doc.file_sha256,
            text_sha256=doc.text_sha256,
            words=doc.words,
            estimated_tokens=doc.tokens,
            grade=doc.grade,
            grade_source=doc.grade_source,
        )

    return schema.Inputs(
        texts=[schema.TextFileRef(role=t.role, file=t.file, sha256=t.sha256) for t in texts],
        anchors=[essay(d) for d in inventory.anchors],
        essays=[essay(d) for d in inventory.essays],
        ignored_files=[Path(p).name for p in inventory.ignored],
    )


def _with_results(artefact: schema.RunArtefact, *, batch: Batch, inventory: Inventory) -> schema.RunArtefact:
    batch.refresh_from_db()
    by_sha = inventory.by_text_sha256()
    essays = list(batch.essays.order_by("id"))
    # The run's own opaque id for every batch essay (anchors of a reused assignment included).
    id_of = {
        e.pk: by_sha[e.text_sha256].id if e.text_sha256 in by_sha else e.external_id.removeprefix(ANCHOR_ID_PREFIX)
        for e in essays
    }
    grade_of = {doc.id: doc.grade for doc in inventory.anchors}
    role_of = {id_of[e.pk]: ("anchor" if id_of[e.pk] in grade_of else "student") for e in essays}
    comparisons = _comparisons(batch, id_of)
    meta = batch.processing_metadata
    scoring = meta.get("scoring", {})
    scores = [
        schema.EssayScore(
            id=id_of[e.pk],
            role=role_of[id_of[e.pk]],  # type: ignore[arg-type]
            grade=grade_of.get(id_of[e.pk]),
            rank=e.rank,
            theta=e.theta,
            se=e.se,
            comparisons=e.comparison_count,
            wins=e.wins,
            infit=e.infit,
            outfit=e.outfit,
        )
        for e in sorted(essays, key=lambda e: (e.rank is None, e.rank or 0, id_of[e.pk]))
    ]
    bt = schema.BTSummary(
        **{k: scoring.get(k) for k in ("ssr", "separation", "p_first_wins", "order_effect", "order_effect_se")},
        n_comparisons=scoring.get("n_comparisons", 0),
        n_components=scoring.get("n_components"),
        converged=scoring.get("converged"),
        log_likelihood=scoring.get("log_likelihood"),
        essays=scores,
    )
    grading = meta.get("grading", {"available": False, "reason": "not scored"})
    projections = schema.GradeProjections(
        available=bool(grading.get("available")),
        reason=grading.get("reason"),
        grades=grading.get("grades", []),
        centres=grading.get("centres", []),
        cuts=grading.get("cuts", []),
        essays=[
            schema.ProjectedGrade(
                id=id_of[e.pk],
                grade=e.projected_grade,
                probability=e.grade_probability,
                confidence=e.grade_confidence,
                expected_grade=e.expected_grade,
                probabilities=e.grade_probabilities or {},
            )
            for e in essays
            if e.projected_grade
        ],
    )
    return artefact.model_copy(
        update={
            "comparisons": comparisons,
            "bt_summary": bt,
            "grade_projections": projections,
            "anchor_alignment": _alignment(scores, comparisons, inventory),
            "costs": _costs(batch, artefact.costs),
        }
    )


def _comparisons(batch: Batch, id_of: dict[int, str]) -> list[schema.ComparisonRecord]:
    rows = batch.comparisons.order_by("id").values(
        "id",
        "round_no",
        "essay_a_id",
        "essay_b_id",
        "judge",
        "provider",
        "model",
        "status",
        "winner",
        "confidence",
        "justification",
        "prompt_sha256",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "attempt",
        "error_category",
    )
    records = []
    for row in rows:
        a, b = id_of[row["essay_a_id"]], id_of[row["essay_b_id"]]
        winner = row["winner"] or None
        records.append(
            schema.ComparisonRecord(
                id=row["id"],
                round=row["round_no"],
                essay_a=a,
                essay_b=b,
                judge=row["judge"] or f"{row['provider']}/{row['model']}",
                provider=row["provider"],
                model=row["model"],
                status=row["status"],
                winner=winner,
                winner_id={"a": a, "b": b}.get(winner or ""),
                confidence=row["confidence"],
                justification=row["justification"] or "",
                prompt_sha256=row["prompt_sha256"] or "",
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cache_read_tokens=row["cache_read_tokens"],
                cache_write_tokens=row["cache_write_tokens"],
                cost_usd=float(row["cost_usd"] or 0),
                attempt=row["attempt"],
                error_category=row["error_category"] or "",
            )
        )
    return records


def _alignment(
    scores: list[schema.EssayScore], comparisons: list[schema.ComparisonRecord], inventory: Inventory
) -> schema.AnchorAlignment | None:
    """Kendall τ, inversions, direct inversions with justifications, winless anchors, win rates.

    The engine's `anchor_alignment` does the statistics; here ids become anchors with grades.
    """
    scale = inventory.scale
    grade_of = {doc.id: doc.grade or "" for doc in inventory.anchors}
    ids = [s.id for s in scores]
    index = {essay_id: i for i, essay_id in enumerate(ids)}
    anchors = [s for s in scores if s.id in grade_of and s.theta is not None]
    if not anchors:
        return None
    theta = np.array([s.theta if s.theta is not None else np.nan for s in scores])
    anchor_index = np.array([index[s.id] for s in anchors], dtype=np.int64)
    anchor_grade = np.array([scale.index(grade_of[s.id]) for s in anchors], dtype=np.int64)
    decided = [c for c in comparisons if c.status == ComparisonStatus.SUCCEEDED and c.winner_id]
    winners = np.array([index[c.winner_id] for c in decided], dtype=np.int64)  # type: ignore[index]
    losers = np.array([index[c.essay_b if c.winner == "a" else c.essay_a] for c in decided], dtype=np.int64)
    result = anchor_alignment(theta=theta, anchor_index=anchor_index, anchor_grade=anchor_grade, winners=winners, losers=losers)

    def ref(i: int) -> schema.AnchorRef:
        return schema.AnchorRef(id=ids[i], grade=grade_of[ids[i]])

    direct = []
    for c in decided:
        loser = c.essay_b if c.winner == "a" else c.essay_a
        if c.winner_id in grade_of and loser in grade_of and scale.index(grade_of[c.winner_id]) < scale.index(grade_of[loser]):
            direct.append(
                schema.DirectInversion(
                    comparison_id=c.id,
                    round=c.round,
                    winner=ref(index[c.winner_id]),
                    loser=ref(index[loser]),
                    shown_first=c.essay_a,
                    confidence=c.confidence,
                    justification=c.justification,
                )
            )
    order = sorted(anchors, key=lambda s: -(s.theta or 0.0))
    rank = {s.id: r for r, s in enumerate(order, start=1)}
    wins = dict.fromkeys(grade_of, 0)
    played = dict.fromkeys(grade_of, 0)
    for c in decided:
        for essay_id in (c.essay_a, c.essay_b):
            if essay_id in played:
                played[essay_id] += 1
        if c.winner_id in wins:
            wins[c.winner_id] += 1
    standings = [
        schema.AnchorStanding(
            id=s.id,
            grade=grade_of[s.id],
            theta=s.theta,
            rank_among_anchors=rank[s.id],
            comparisons=played[s.id],
            wins=wins[s.id],
            win_rate=round(wins[s.id] / played[s.id], 4) if played[s.id] else None,
        )
        for s in sorted(anchors, key=lambda s: (-scale.index(grade_of[s.id]), s.id))
    ]
    return schema.AnchorAlignment(
        n_anchors=result.n_anchors,
        kendall_tau=float(result.kendall_tau) if np.isfinite(result.kendall_tau) else None,
        inversions=[(ref(lo), ref(hi)) for lo, hi in result.inversions],
        direct_inversions=direct,
        zero_win_anchors=[ref(i) for i in result.zero_win_anchors],
        anchors=standings,
    )


def _costs(batch: Batch, estimated: schema.Costs) -> schema.Costs:
    totals = batch.comparisons.aggregate(
        input_tokens=Sum("input_tokens", default=0),
        output_tokens=Sum("output_tokens", default=0),
        cache_read_tokens=Sum("cache_read_tokens", default=0),
        cache_write_tokens=Sum("cache_write_tokens", default=0),
    )
    by_judge = (
        batch.comparisons.exclude(status=ComparisonStatus.CANCELLED)
        .values("judge", "provider", "model")
        .annotate(
            n=Count("pk"),
            input_tokens=Sum("input_tokens", default=0),
            output_tokens=Sum("output_tokens", default=0),
            cost=Sum("cost_usd", default=0),
        )
        .order_by("judge", "provider", "model")
    )
    return schema.Costs(
        total_usd=float(batch.cost_usd),
        estimated_usd=estimated.estimated_usd,
        prices_as_of=manifest().prices_as_of.isoformat(),
        by_judge=[
            schema.JudgeCost(
                judge=_judge_label(row),
                comparisons=row["n"],
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cost_usd=float(row["cost"]),
            )
            for row in by_judge
        ],
        **totals,
    )


def _judge_label(row: dict[str, Any]) -> str:
    if row["judge"]:
        return row["judge"]
    return f"{row['provider']}/{row['model']}" if row["provider"] else "not sent"
