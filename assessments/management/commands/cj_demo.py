"""`python manage.py cj_demo`: a CJ assessment of the shipped sample essays, printed as a ranking.

Creates an assignment with its anchors and a batch of student essays from a sample folder, runs
the batch through the real flow (rounds as Celery chords; in process on the embedded default) and
prints the ranking. The default judge is the offline mock: NOT a language model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments import selectors, services
from assessments.files import read_grades_csv, read_text_file, read_text_folder
from assessments.models import Batch
from assessments.results.writers import essay_results_csv_write
from cjproject.errors import InvalidInput
from llmgateway.vocabulary import MOCK_PROVIDER

DEFAULT_SAMPLE = Path(settings.BASE_DIR) / "samples" / "eng5_role_models"
DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = "Run a CJ assessment of the sample essays with the offline mock judge and print the ranking."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE, help="sample folder (default: %(default)s)")
        parser.add_argument(
            "--comparisons-per-essay", type=int, default=None, help="budget per essay (default: CJ_COMPARISONS_PER_ESSAY)"
        )
        parser.add_argument("--seed", type=int, default=0, help="pairing seed (default: 0)")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait with a real broker (default: 600)")
        parser.add_argument(
            "--export",
            type=Path,
            default=None,
            help="results CSV to write (default: var/demo-batch-<id>-....csv beside manage.py)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sample: Path = options["sample"]
        try:
            batch = self._create(sample, options)
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Batch {batch.pk}: {batch.essays.count()} essays; judge: {self._judge(batch)}")
        services.batch_start(batch_id=batch.pk)
        batch = self._wait(batch, timeout=options["timeout"])
        self._print(batch)
        self._export(batch, options["export"])

    def _create(self, sample: Path, options: dict[str, Any]) -> Batch:
        owner, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME, defaults={"is_active": False})
        grades = read_grades_csv(sample / "anchors" / "anchor_grades.csv")
        anchors = {f.path.name: f.text for f in read_text_folder(sample / "anchors")}
        missing = sorted(set(anchors) - set(grades))
        if missing:
            raise InvalidInput("anchors without a grade", fields={"anchor_grades.csv": [f"no grade for: {', '.join(missing)}"]})
        assignment = services.assignment_create(
            owner=owner,
            title="Role Models (ENG5-style sample)",
            student_prompt=read_text_file(sample / "instructions.md"),
            instructions=read_text_file(sample / "rubric.md"),
            grade_scale="eng5_np_legacy_9_step",
        )
        for name, text in anchors.items():
            services.anchor_register(assignment=assignment, label=Path(name).stem, grade=grades[name], text=text)
        essays = [{"id": f.path.stem, "text": f.text} for f in read_text_folder(sample / "essays")]
        request: dict[str, Any] = {"essays": essays, "assignment_id": assignment.pk, "options": {"seed": options["seed"]}}
        if options["comparisons_per_essay"]:
            request["options"]["comparisons_per_essay"] = options["comparisons_per_essay"]
        return services.batch_create(owner=owner, request=request)

    def _judge(self, batch: Batch) -> str:
        if settings.LLM_DEFAULT_PROVIDER == MOCK_PROVIDER:
            return "offline mock judge (heuristic text features, NOT a language model)"
        return settings.LLM_DEFAULT_PROVIDER

    def _wait(self, batch: Batch, *, timeout: float) -> Batch:
        deadline = time.monotonic() + timeout
        batch.refresh_from_db()
        while not batch.is_terminal:
            if time.monotonic() > deadline:
                raise CommandError(f"batch {batch.pk} still {batch.state} after {timeout:.0f} s; is a worker running?")
            progress = selectors.batch_progress(batch=batch)
            done = progress["succeeded"] + progress["failed"]
            self.stdout.write(f"  round {progress['rounds']}: {done}/{progress['planned']} comparisons done")
            time.sleep(1.0)
            batch.refresh_from_db()
        return batch

    def _export(self, batch: Batch, path: Path | None) -> None:
        # The file name says who judged: its rows carry no other trace of it.
        suffix = "-offline-mock-judge-not-an-llm" if settings.LLM_DEFAULT_PROVIDER == MOCK_PROVIDER else ""
        path = path or Path(settings.BASE_DIR) / "var" / f"demo-batch-{batch.pk}{suffix}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            essay_results_csv_write(selectors.batch_result_rows(batch=batch), handle)
        self.stdout.write("")
        self.stdout.write(f"Results: {path}")
        self.stdout.write(
            f"Admin:   http://127.0.0.1:8000/admin/assessments/batch/{batch.pk}/change/ "
            "(after `export DJANGO_DEBUG=true`, for this laptop only, then `.venv/bin/python manage.py createsuperuser` "
            "and `.venv/bin/python manage.py runserver`)"
        )
        self.stdout.write(f"Manage:  DJANGO_DEBUG=true .venv/bin/python manage.py cj_batch show|rescore|continue {batch.pk}")

    def _print(self, batch: Batch) -> None:
        progress = selectors.batch_progress(batch=batch)
        meta = batch.processing_metadata
        results = selectors.batch_results(batch=batch)
        scoring, grading, alignment = meta.get("scoring", {}), results.grading, results.anchor_alignment
        self.stdout.write("")
        header = f"{'rank':>4}  {'essay':<14} {'role':<7} {'theta':>6} {'± SE':>5} {'comp':>4}  {'grade':<6} {'P':>5}  confidence"
        self.stdout.write(header)
        for row in results.essays:
            theta = f"{row.theta:6.2f}" if row.theta is not None else "     -"
            se = f"{row.se:5.2f}" if row.se is not None else "    -"
            if row.anchor_grade:
                grade, probability, confidence = row.anchor_grade, "", "(anchor: known grade)"
            else:
                grade = row.projected_grade or "-"
                probability = f"{row.grade_probability:.2f}" if row.grade_probability is not None else ""
                confidence = row.grade_confidence
            rank = row.rank or "-"
            line = f"{rank:>4}  {row.essay_id:<14} {row.role:<7} {theta} {se} {row.comparisons:>4}"
            self.stdout.write(f"{line}  {grade:<6} {probability:>5}  {confidence}")
        self.stdout.write("")
        reliability = scoring.get("reliability")
        self.stdout.write(
            f"State: {batch.state} ({batch.end_reason}); rounds: {progress['rounds']}; comparisons: "
            f"{progress['succeeded']} judged, {progress['failed']} failed; cost: ${progress['cost_usd']:.4f}"
        )
        self.stdout.write(
            f"Reliability: {reliability:.2f} (the share of the spread in the ranking that is real, 0–1)"
            if reliability is not None
            else f"Reliability: {scoring.get('reliability_note') or 'not available'}",
            ending="",
        )
        if scoring.get("order_effect") is not None:
            self.stdout.write(
                f"; position bias {scoring['order_effect']:+.2f} ± {scoring['order_effect_se']:.2f} logits "
                f"(first shown won {scoring['p_first_wins']:.0%})",
                ending="",
            )
        self.stdout.write("")
        if not grading.available:
            self.stdout.write(f"Grades: not projected ({grading.reason or 'no scoring yet'})")
        if alignment is not None:
            tau = alignment.kendall_tau
            self.stdout.write(
                f"Anchor alignment: Kendall tau {tau:.2f}" if tau is not None else "Anchor alignment: tau not available",
                ending="",
            )
            self.stdout.write(
                f"; {len(alignment.inversions)} inverted anchor pairs; zero-win anchors: "
                f"{', '.join(a.id for a in alignment.zero_win_anchors) or 'none'}"
            )
        if settings.LLM_DEFAULT_PROVIDER == MOCK_PROVIDER:
            self.stdout.write(
                "Judge: the offline mock (surface text features), NOT a language model: this ranking shows the flow, "
                "not a real assessment."
            )
