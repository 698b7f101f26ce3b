"""Running an ENG5 experiment through the real services, and reading it back as an artefact.

`run_batch_create` sets up the assignment and the batch (`assignment_create`, `anchor_register`,
`batch_create`); the caller starts it with `services.batch_start`. `batch_wait` follows it;
`artefact_build` turns the inventory, the estimate and (when there is one) the finished batch
into a `schema.RunArtefact`, whose `results` is the batch's `cj-results` document
(`results.building.batch_results_document`, the one the API exports). Essays are sent and stored
under their opaque ids only.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from assessments import services
from assessments.engine.scales import GradeScale, get_scale
from assessments.models import Assignment, Batch, ContextOrigin
from assessments.research import artefact as schema
from assessments.research.inventory import InputDocument, Inventory
from assessments.research.planning import JudgeChoice
from assessments.results.building import batch_results_document
from assessments.schemas import ANCHOR_ID_PREFIX

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
    """Poll the batch until it finishes, reporting progress (`batch_progress` with the batch's
    `budget`); TimeoutError after `timeout` s."""
    from assessments import selectors

    def progress() -> dict[str, Any]:
        # The budget is the whole: the comparisons planned grow round by round, so a bar against
        # them would jump back each time a round is added.
        budget = (batch.processing_metadata.get("comparison_budget") or {}).get("max_pairs_requested")
        return {**selectors.batch_progress(batch=batch), "budget": int(budget) if budget else None}

    deadline = time.monotonic() + timeout
    batch.refresh_from_db()
    while not batch.is_terminal:
        on_progress(progress())
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch.pk} still {batch.state} after {timeout:.0f} s; is a worker running?")
        time.sleep(poll_seconds)
        batch.refresh_from_db()
    on_progress(progress())
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
            role=doc.role,
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
    """The batch's `cj-results` document, its essays under the run's ids, its anchors graded."""
    return _results_added(
        artefact,
        batch=batch,
        id_by_sha={sha: doc.id for sha, doc in inventory.by_text_sha256().items()},
        anchor_grades={doc.id: doc.grade for doc in inventory.anchors if doc.grade},
        scale=inventory.scale,
    )


def _results_added(
    artefact: schema.RunArtefact, *, batch: Batch, id_by_sha: dict[str, str], anchor_grades: dict[str, str], scale: GradeScale
) -> schema.RunArtefact:
    # The run's own opaque id for every batch essay (anchors of a reused assignment included).
    essay_id = {
        pk: id_by_sha.get(sha, external_id.removeprefix(ANCHOR_ID_PREFIX))
        for pk, sha, external_id in batch.essays.values_list("pk", "text_sha256", "external_id")
    }
    results = batch_results_document(batch=batch, essay_id=essay_id, anchor_grades=anchor_grades, scale=scale)
    return artefact.model_copy(update={"results": results})


def artefact_collect(*, artefact: schema.RunArtefact, batch: Batch) -> schema.RunArtefact:
    """The artefact of a run that did not wait (`--no-wait`, or a provider batch API taking
    hours), completed once its batch has finished: its state, end and results, read back from the
    stored artefact's inputs (each essay's text hash gives its run id) and the batch."""
    inputs = [*artefact.inputs.anchors, *artefact.inputs.essays]
    run = artefact.run.model_copy(
        update={
            "state": batch.state,
            "end_reason": batch.end_reason,
            "end_message": batch.end_message,
            "finished_at": batch.finished_at,
        }
    )
    return _results_added(
        artefact.model_copy(update={"run": run}),
        batch=batch,
        id_by_sha={e.text_sha256: e.id for e in inputs},
        anchor_grades={e.id: e.grade for e in artefact.inputs.anchors if e.grade},
        scale=get_scale(artefact.run.grade_scale),
    )


def artefact_reproducible(artefact: schema.RunArtefact, *, epoch: datetime) -> schema.RunArtefact:
    """The run with what differs between two runs of the same inputs, seed and judge made fixed:
    every time is `epoch`, database ids (batch, assignment, comparisons) are numbered in order from
    1 and the run id is a hash of the content itself. Nothing measured changes."""
    data = artefact.model_dump(mode="json")
    moment = epoch.isoformat().replace("+00:00", "Z")
    results = data.get("results")
    if results is not None:
        number = {c["id"]: n for n, c in enumerate(results["comparisons"], start=1)}
        for comparison in results["comparisons"]:
            comparison["id"] = number[comparison["id"]]
        for inversion in (results.get("anchor_alignment") or {}).get("direct_inversions", []):
            inversion["comparison_id"] = number.get(inversion["comparison_id"], 0)
        results["batch"]["id"] = 1
        results["batch"]["assignment_id"] = 1 if results["batch"]["assignment_id"] is not None else None
    data["run"]["batch_id"] = 1 if data["run"]["batch_id"] is not None else None
    data["run"]["assignment_id"] = 1 if data["run"]["assignment_id"] is not None else None
    _times_fixed(data, moment)
    data["run"]["run_id"] = ""
    data["run"]["run_id"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]
    return schema.RunArtefact.model_validate(data)


def _times_fixed(node: Any, moment: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("_at") and isinstance(value, str):
                node[key] = moment
            else:
                _times_fixed(value, moment)
    elif isinstance(node, list):
        for item in node:
            _times_fixed(item, moment)
