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
from cjproject.errors import InvalidInput

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
        if settings.LLM_DEFAULT_PROVIDER == "mock":
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

    def _print(self, batch: Batch) -> None:
        progress = selectors.batch_progress(batch=batch)
        scoring = batch.processing_metadata.get("scoring", {})
        self.stdout.write("")
        self.stdout.write(f"{'rank':>4}  {'essay':<16} {'role':<7} {'grade':<6} {'theta':>7} {'± SE':>6} {'comp':>5} {'wins':>5}")
        for row in selectors.batch_ranking(batch=batch):
            theta = f"{row.theta:7.2f}" if row.theta is not None else "      -"
            se = f"{row.se:6.2f}" if row.se is not None else "     -"
            grade = row.anchor_grade or row.projected_grade or ""
            rank = row.rank or "-"
            self.stdout.write(
                f"{rank:>4}  {row.external_id:<16} {row.role:<7} {grade:<6} {theta} {se} {row.comparisons:>5} {row.wins:>5.1f}"
            )
        self.stdout.write("")
        self.stdout.write(
            f"State: {batch.state} ({batch.end_reason}); rounds: {progress['rounds']}; comparisons: "
            f"{progress['succeeded']} judged, {progress['failed']} failed; "
            f"SSR: {scoring.get('ssr', float('nan')):.3f}; cost: ${progress['cost_usd']:.4f}"
        )
        if settings.LLM_DEFAULT_PROVIDER == "mock":
            self.stdout.write(
                "Judge: the offline mock (surface text features), NOT a language model: this ranking shows the flow, "
                "not a real assessment."
            )
