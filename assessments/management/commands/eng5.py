"""`python manage.py eng5 plan|dry-run|execute|anchor-align|collect`: the ENG5 research runner.

- `plan`: inventory, validation and estimates; writes nothing, calls no model;
- `dry-run`: the same, plus a schema-valid artefact in `--out` (no model called);
- `execute`: an assignment with the anchors and a batch of the students, run through the
  services (a progress bar with a broker, in process without one); artefacts in `--out`;
- `anchor-align`: the anchors judged as if they were students (the judge never sees a grade);
  Kendall τ against the expert grades, inversions with justifications, win rates;
- `collect --out FOLDER`: for a run that did not wait (`--no-wait`, a provider batch API), once its
  batch has finished: the artefact, report and plots rewritten in FOLDER with the results.

An `--out` folder that holds files is refused, unless `--overwrite` (which deletes them first).

The default judge is the offline mock: NOT a language model. Essays are sent, stored and logged
under opaque ids (hashes of their texts); file names appear only on this console and in `--out`.
"""

from __future__ import annotations

import os
import time
import uuid
from argparse import ArgumentTypeError
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from assessments import services
from assessments.engine.scales import BUILTIN_SCALES
from assessments.research.inventory import DEFAULT_GRADE_SCALE, Inventory, Sources, inventory_collect
from assessments.research.planning import JudgeChoice, judge_choose, plan_estimate
from assessments.research.runs import artefact_build, artefact_reproducible, batch_wait, run_batch_create
from assessments.research.writers import artefacts_write
from cjproject.errors import InvalidInput
from llmgateway.vocabulary import BATCHING_MODES, MOCK_PROVIDER, PROVIDERS

MODES = ("plan", "dry-run", "execute", "anchor-align", "collect")
BAR_WIDTH = 30


def _duration(seconds: float) -> str:
    """ "45 s", "12 min", "3.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _read_option_file(path: Path | None, option: str) -> str | None:
    from assessments.files import read_text_file

    if path is None:
        return None
    try:
        return read_text_file(path)
    except InvalidInput as exc:
        raise CommandError(_explain(exc, prefix=f"{option}: ")) from None


def _explain(exc: InvalidInput, prefix: str = "") -> str:
    lines = [f"{prefix}{exc.message}"]
    lines += [f"  {where}: {' '.join(messages)}" for where, messages in exc.fields.items()]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "ENG5 research runner: plan, dry-run, execute or anchor-align a CJ run (default judge: the offline mock)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mode", choices=MODES)
        inputs = parser.add_argument_group("inputs (none given: the shipped sample samples/eng5_role_models)")
        inputs.add_argument("--anchors", type=Path, help="folder of anchor essays (.txt, .md, .docx, .pdf)")
        inputs.add_argument("--essays", type=Path, help="folder of student essays (.txt, .md, .docx, .pdf)")
        inputs.add_argument("--prompt", type=Path, help="the writing task as the students saw it (sample: instructions.md)")
        inputs.add_argument("--instructions", type=Path, help="the assessment instructions for the judge (sample: rubric.md)")
        inputs.add_argument("--rubric", type=Path, help="a rubric that replaces the instructions in the judge's prompt")
        inputs.add_argument("--system-prompt", type=Path, help="a system prompt that replaces the default one")
        inputs.add_argument(
            "--anchor-grades",
            type=Path,
            help="CSV file,grade (default: anchor_grades.csv beside the anchors, else file names: C+.docx, B2.txt)",
        )
        inputs.add_argument("--grade-scale", choices=sorted(BUILTIN_SCALES), default=DEFAULT_GRADE_SCALE)
        inputs.add_argument(
            "--assignment-id", type=_positive, help="reuse this assignment's task, instructions, scale and anchors"
        )
        judge = parser.add_argument_group("judge")
        judge.add_argument(
            "--provider", choices=PROVIDERS, default=MOCK_PROVIDER, help="default: mock (the offline mock, NOT an LLM)"
        )
        judge.add_argument("--model", help="a model of the manifest (default: the provider's default)")
        judge.add_argument("--temperature", type=float)
        judge.add_argument("--reasoning-effort", choices=("low", "medium", "high"))
        judge.add_argument("--batching-mode", choices=BATCHING_MODES, help="default: LLM_BATCHING_MODE")
        budget = parser.add_argument_group("budget")
        budget.add_argument("--comparisons-per-essay", type=_positive, help="default: CJ_COMPARISONS_PER_ESSAY")
        budget.add_argument("--max-comparisons", type=_positive, help="total comparisons (overrides the per-essay budget)")
        budget.add_argument("--seed", type=int, default=0)
        run = parser.add_argument_group("run")
        run.add_argument("--course-id", default="ENG5", help="course code stored with the batch (default: ENG5)")
        run.add_argument("--out", type=Path, help="output folder (default: var/eng5/<mode>-<time>-<run id>)")
        run.add_argument(
            "--overwrite", action="store_true", help="delete the files already in --out (another run's) before writing"
        )
        run.add_argument(
            "--no-wait", action="store_true", help="with a broker: start the batch and return (then `collect` writes its results)"
        )
        run.add_argument("--timeout", type=float, default=3600, help="seconds to wait with a broker (default: 3600)")
        run.add_argument(
            "--reproducible",
            action="store_true",
            help="byte-identical outputs for the same inputs, seed and judge: the run id is a hash of the content, "
            "times are SOURCE_DATE_EPOCH (default 0), database ids are numbered from 1 (with the offline mock judge; "
            "a language model may answer differently each time)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mode: str = options["mode"]
        if mode == "collect":
            self._collect(options)
            return
        anchors_as_students = mode == "anchor-align"
        sources = Sources(
            anchors=options["anchors"],
            essays=None if anchors_as_students and options["essays"] is None and options["anchors"] else options["essays"],
            prompt=options["prompt"],
            instructions=options["instructions"],
            rubric=options["rubric"],
            system_prompt=options["system_prompt"],
            anchor_grades=options["anchor_grades"],
            grade_scale=options["grade_scale"],
            assignment_id=options["assignment_id"],
        )
        try:
            inventory = inventory_collect(sources, include_essays=not anchors_as_students)
            judge, judge_warnings = judge_choose(
                provider=options["provider"],
                model=options["model"],
                temperature=options["temperature"],
                reasoning_effort=options["reasoning_effort"],
                system_prompt=inventory.system_prompt.text if inventory.system_prompt else None,
                rubric=inventory.rubric.text if inventory.rubric else None,
                batching_mode=options["batching_mode"],
                require_credentials=mode in ("execute", "anchor-align"),
            )
            estimate = plan_estimate(
                inventory=inventory,
                judge=judge,
                anchors_as_students=anchors_as_students,
                comparisons_per_essay=options["comparisons_per_essay"],
                max_comparisons=options["max_comparisons"],
            )
        except InvalidInput as exc:
            raise CommandError(_explain(exc)) from None
        warnings = [*inventory.warnings, *judge_warnings]
        self._print_plan(mode, inventory, judge, estimate, warnings)
        if mode == "plan":
            self.stdout.write("Plan only: nothing written, no model called.")
            return
        run_id = uuid.uuid4().hex
        created_at = timezone.now()
        out: Path = options["out"] or Path(settings.BASE_DIR) / "var" / "eng5" / f"{mode}-{created_at:%Y%m%d-%H%M%S}-{run_id[:8]}"
        self._out_ready(out, overwrite=options["overwrite"])  # before a batch is created: nothing spent on a refusal
        batch, waited = None, True
        if mode != "dry-run":
            batch, waited = self._run(inventory, judge, anchors_as_students, options)
        artefact = artefact_build(
            mode=mode,  # type: ignore[arg-type]  # argparse restricts it to schema.Mode
            run_id=run_id,
            created_at=created_at,
            inventory=inventory,
            estimate=estimate,
            judge=judge,
            seed=options["seed"],
            comparisons_per_essay=options["comparisons_per_essay"],
            max_comparisons=options["max_comparisons"],
            course_code=options["course_id"],
            batch=batch,
            waited=waited,
            warnings=warnings,
        )
        if options["reproducible"]:
            epoch = datetime.fromtimestamp(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), tz=UTC)
            artefact = artefact_reproducible(artefact, epoch=epoch)
        path, final = artefacts_write(artefact, out)
        self._print_outcome(final, path)
        if batch is not None and batch.state in ("failed", "cancelled"):
            raise CommandError(f"batch {batch.pk} {batch.state} ({batch.end_reason}): {batch.end_message}; artefacts in {out}")

    def _out_ready(self, out: Path, *, overwrite: bool) -> None:
        """Refuse an `--out` that holds files (another run's would sit beside this one's, unsaid),
        or with `--overwrite` delete them, saying which."""
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} is a file, not a folder")
        present = sorted(p for p in out.iterdir() if p.is_file()) if out.is_dir() else []
        if not present:
            return
        names = ", ".join(p.name for p in present)
        if not overwrite:
            raise CommandError(
                f"--out {out} already holds files of another run ({names}): choose an empty folder, "
                "or pass --overwrite to delete them first"
            )
        for path in present:
            path.unlink()
        self.stdout.write(f"Deleted {len(present)} file(s) of a previous run from {out}: {names}")

    def _collect(self, options: dict[str, Any]) -> None:
        """Write the artefact, report and plots of a run whose batch finished after it returned."""
        from assessments.models import Batch
        from assessments.research.artefact import RunArtefact
        from assessments.research.runs import artefact_collect
        from assessments.research.writers import ARTEFACT_NAME

        out: Path | None = options["out"]
        if out is None:
            raise CommandError("collect needs --out: the folder the run (with --no-wait) wrote its artefact to")
        try:
            artefact = RunArtefact.model_validate_json((out / ARTEFACT_NAME).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CommandError(f"{out / ARTEFACT_NAME} not found: give the --out folder of the run") from None
        except ValueError as exc:
            raise CommandError(f"{out / ARTEFACT_NAME} is not an ENG5 artefact: {str(exc).splitlines()[0]}") from None
        batch = Batch.objects.filter(pk=artefact.run.batch_id).first() if artefact.run.batch_id else None
        if batch is None:
            raise CommandError(f"the run in {out} has no batch in this database (batch id {artefact.run.batch_id})")
        if not batch.is_terminal:
            done = batch.comparisons_succeeded + batch.comparisons_failed
            raise CommandError(
                f"batch {batch.pk} is still {batch.state} ({done} comparisons judged so far): collect again once it has finished"
            )
        for path in out.iterdir():  # this run's own files, rewritten below
            if path.is_file():
                path.unlink()
        path, final = artefacts_write(artefact_collect(artefact=artefact, batch=batch), out)
        self._print_outcome(final, path)

    def _run(
        self, inventory: Inventory, judge: JudgeChoice, anchors_as_students: bool, options: dict[str, Any]
    ) -> tuple[Any, bool]:
        from cjproject.celery import app as celery_app

        try:
            batch = run_batch_create(
                inventory=inventory,
                judge=judge,
                anchors_as_students=anchors_as_students,
                comparisons_per_essay=options["comparisons_per_essay"],
                max_comparisons=options["max_comparisons"],
                seed=options["seed"],
                course_code=options["course_id"],
            )
        except InvalidInput as exc:
            raise CommandError(_explain(exc)) from None
        in_process = bool(celery_app.conf.task_always_eager)
        self.stdout.write(
            f"Batch {batch.pk} created ({batch.essays.count()} essays); "
            + ("running in process (no broker)..." if in_process else "sent to the workers...")
        )
        services.batch_start(batch_id=batch.pk)
        if options["no_wait"] and not in_process:
            batch.refresh_from_db()
            self.stdout.write(f"Not waiting: follow it with `python manage.py cj_batch show {batch.pk}`.")
            return batch, False
        try:
            batch = batch_wait(batch=batch, on_progress=self._progress, timeout=options["timeout"])
        except TimeoutError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("")
        return batch, True

    def _progress(self, progress: dict[str, Any]) -> None:
        """One line, rewritten: judged of the budget (it only grows), round, failures, cost, ETA."""
        done = progress["succeeded"] + progress["failed"]
        whole = max(progress.get("budget") or 0, progress["planned"], 1)
        now = time.monotonic()
        started = self._progress_started = getattr(self, "_progress_started", None) or (now, done)
        rate = (done - started[1]) / (now - started[0]) if now > started[0] else 0.0
        eta = f"~{_duration((whole - done) / rate)} left at most" if rate > 0 and done < whole else "ETA: -"
        filled = int(BAR_WIDTH * done / whole)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stdout.write(
            f"\r[{bar}] {done}/{whole} comparisons (budget) | round {progress['rounds']} | {progress['failed']} failed | "
            f"${progress['cost_usd']:.4f} | {eta}   ",
            ending="",
        )
        self.stdout.flush()

    def _print_plan(self, mode: str, inventory: Inventory, judge: JudgeChoice, estimate: Any, warnings: list[str]) -> None:
        write = self.stdout.write
        write(f"ENG5 {mode}")
        write(f"  task (--prompt):  {inventory.prompt.file}")
        write(f"  instructions:     {inventory.instructions.file}")
        for extra in (inventory.rubric, inventory.system_prompt):
            if extra:
                write(f"  {extra.role + ':':<17} {extra.file}")
        write(f"  grade scale:      {inventory.scale.name} ({' < '.join(inventory.scale.grades)})")
        if inventory.assignment_id is not None:
            source = f"assignment {inventory.assignment_id}"
        else:
            source = inventory.anchor_grades.file if inventory.anchor_grades else "file names"
        write(f"Anchors: {len(inventory.anchors)} (grades from {source})")
        for doc in sorted(inventory.anchors, key=lambda d: (-inventory.scale.index(d.grade or ""), d.file)):
            write(f"  {doc.id}  {doc.grade:<4} {doc.file:<28} {doc.words:>5} words  ({doc.grade_source})")
        if mode != "anchor-align":
            write(f"Student essays: {len(inventory.essays)}")
            for doc in inventory.essays:
                write(f"  {doc.id}  {doc.file:<33} {doc.words:>5} words")
        if inventory.ignored:
            write(f"Ignored (not essays): {', '.join(Path(p).name for p in inventory.ignored)}")
        write("Duplicates: none (names and texts checked)")
        entry = judge.model
        label = "" if judge.is_language_model else "  -- the offline mock, NOT a language model"
        write(f"Judge: {judge.provider}/{entry.id} ({entry.display_name}); batching {judge.batching_mode}{label}")
        tokens = estimate.tokens
        write(
            f"Estimate: {estimate.expected_comparisons} comparisons of {estimate.n_items} essays "
            f"(~{estimate.comparisons_per_essay:g} each; budget {estimate.budget_source}); rounds if spent: "
            f"{', '.join(map(str, estimate.round_sizes)) or 'none'}"
        )
        write(
            f"  tokens: ~{tokens.input_per_comparison:.0f} in / {tokens.output_per_comparison} out per comparison; "
            f"{tokens.total_input:,} in, {tokens.total_output:,} out in all"
        )
        cached = (
            f" (${estimate.cost_usd_with_caching:.4f} with prompt caching)" if estimate.cost_usd_with_caching is not None else ""
        )
        write(f"  cost: ${estimate.cost_usd:.4f}{cached} at list prices of {estimate.prices_as_of}")
        for note in estimate.notes:
            write(f"  note: {note}")
        for warning in warnings:
            write(f"Warning: {warning}")

    def _print_outcome(self, artefact: Any, path: Path) -> None:
        write = self.stdout.write
        run = artefact.run
        results = artefact.results
        if run.batch_id is not None and results is not None:
            bt = results.bt_summary
            reliability = f"{bt.reliability:.2f}" if bt.reliability is not None else (bt.reliability_note or "n/a")
            write(
                f"Batch {run.batch_id}: {run.state}"
                + (f" ({run.end_reason})" if run.end_reason else "")
                + f"; {len([c for c in results.comparisons if c.status == 'succeeded'])} comparisons judged; "
                f"reliability {reliability}; cost ${results.costs.total_usd:.4f}"
            )
        alignment = results.anchor_alignment if results is not None else None
        if alignment is not None:
            tau = f"{alignment.kendall_tau:.2f}" if alignment.kendall_tau is not None else "undefined"
            zero = ", ".join(f"{a.grade} {a.id}" for a in alignment.zero_win_anchors) or "none"
            write(
                f"Anchor alignment: Kendall tau {tau}; {len(alignment.inversions)} inverted anchor pairs; "
                f"{len(alignment.direct_inversions)} direct inversions; zero-win anchors: {zero}"
            )
        if not run.judge.is_language_model:
            write("Judge: the offline mock (surface text features), NOT a language model.")
        write(f"Artefacts in {path.parent}:")
        write(f"  {path.name}")
        for item in artefact.files:
            write(f"  {item.name}")
