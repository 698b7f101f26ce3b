"""`python manage.py cj_batch <action> BATCH_ID`: cancel, rescore or continue a batch, or show it.

- `show`: state, end reason, progress, reliability and judges;
- `cancel`: nothing more is sent; waiting comparisons are cancelled;
- `rescore`: refit θ, SE and grades from the stored comparisons (no model is called);
- `continue --comparisons N [--reliability-target T]`: judge N more comparisons.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments import selectors, services
from assessments.models import Batch
from cjproject.errors import InvalidInput


class Command(BaseCommand):
    help = "Show, cancel, rescore or continue a batch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["show", "cancel", "rescore", "continue"])
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--comparisons", type=int, help="continue: how many more comparisons")
        parser.add_argument("--reliability-target", type=float, help="continue: stop early at this reliability")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_id = options["batch_id"]
        if not Batch.objects.filter(pk=batch_id).exists():
            raise CommandError(f"batch_id: no batch {batch_id}")
        action = options["action"]
        if action == "cancel" and not services.batch_cancel(batch_id=batch_id):
            raise CommandError(f"batch {batch_id} has already finished; nothing to cancel")
        if action == "rescore":
            services.batch_rescore(batch_id=batch_id)
        if action == "continue":
            if options["comparisons"] is None:
                raise CommandError("--comparisons is required to continue a batch")
            try:
                services.batch_continue(
                    batch_id=batch_id,
                    additional_comparisons=options["comparisons"],
                    reliability_target=options["reliability_target"],
                )
            except InvalidInput as exc:
                raise CommandError(str(exc)) from None
        batch = Batch.objects.get(pk=batch_id)
        meta = batch.processing_metadata
        summary = {
            **selectors.batch_progress(batch=batch),
            "end_message": batch.end_message,
            "reliability": meta.get("scoring", {}).get("reliability"),
            "ssr_sirt": meta.get("scoring", {}).get("ssr_sirt"),
            "judges": meta.get("judges", []),
        }
        self.stdout.write(json.dumps(summary, indent=2, default=str))
