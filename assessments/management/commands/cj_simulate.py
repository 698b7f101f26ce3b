"""`python manage.py cj_simulate`: a synthetic batch judged by a simulated judge, through the real engine.

Runs pairing → Bradley–Terry scoring → grade projection → stopping round by round on students and
anchors of known latent quality, and reports how close the result is to the truth. No database,
no model: this is the engine alone (`assessments.engine.simulate`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.engine.scales import UnknownGradeError, get_scale
from assessments.engine.simulate import DEFAULT_DISCRIMINATION, SimulationConfig, judge_agreement, simulate_batch


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Simulate a CJ batch with a synthetic judge and report agreement with the truth."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", choices=["ours", "random", "reference"], default="ours")
        parser.add_argument("--students", type=_positive_int, default=40, help="student essays (default: 40)")
        parser.add_argument("--anchors", type=int, default=12, help="anchor essays (default: 12)")
        parser.add_argument("--scale", default="swedish_a_f", help="grade scale name (default: swedish_a_f)")
        parser.add_argument("--comparisons-per-essay", type=float, default=10.0, help="budget per essay (default: 10)")
        parser.add_argument(
            "--discrimination",
            type=float,
            default=DEFAULT_DISCRIMINATION,
            help=f"judge accuracy as BT discrimination on latent quality (default: {DEFAULT_DISCRIMINATION}, ~80%% agreement)",
        )
        parser.add_argument("--position-bias", type=float, default=0.2, help="logit advantage of the first-shown essay")
        parser.add_argument("--lapse-rate", type=float, default=0.05, help="share of random verdicts (default: 0.05)")
        parser.add_argument("--stop-rule", choices=["budget", "strategy"], default="budget")
        parser.add_argument("--reliability-target", type=float, default=0.80)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            grades = get_scale(options["scale"]).grades
        except UnknownGradeError as exc:
            raise CommandError(f"--scale: {exc}") from None
        if not 0.0 <= options["lapse_rate"] < 1.0:
            raise CommandError("--lapse-rate must be in [0, 1)")
        if options["anchors"] < 0 or options["comparisons_per_essay"] <= 0:
            raise CommandError("--anchors must be ≥ 0 and --comparisons-per-essay > 0")
        config = SimulationConfig(
            strategy=options["strategy"],
            seed=options["seed"],
            n_students=options["students"],
            n_anchors=options["anchors"],
            grades=grades,
            discrimination=options["discrimination"],
            position_bias=options["position_bias"],
            lapse_rate=options["lapse_rate"],
            comparisons_per_essay=options["comparisons_per_essay"],
            stop_rule=options["stop_rule"],
            reliability_target=options["reliability_target"],
        )
        report = simulate_batch(config)
        final = report.final
        summary: dict[str, Any] = {
            "strategy": config.strategy,
            "judge_agreement": judge_agreement(config),
            "rounds": final.round,
            "comparisons": final.comparisons,
            "comparisons_per_essay": final.comparisons_per_essay,
            "end_reason": report.end_reason,
            "spearman": final.spearman,
            "kendall": final.kendall,
            "grade_exact": final.grade_exact,
            "grade_adjacent": final.grade_adjacent,
            "qwk": final.qwk,
            "ssr": final.ssr,
            "projection_unavailable": report.projection_unavailable,
        }
        if options["json"]:
            summary["trajectory"] = [asdict(point) for point in report.trajectory]
            self.stdout.write(json.dumps(summary, allow_nan=True))
            return
        self.stdout.write(
            f"Simulated judge: {summary['judge_agreement']:.0%} agreement with the truth on random student pairs, "
            f"position bias {config.position_bias} logits, lapses {config.lapse_rate:.0%}"
        )
        self.stdout.write(
            f"{'round':>5} {'comp/essay':>10} {'spearman':>8} {'kendall':>7} {'exact':>6} {'adjacent':>8} {'qwk':>6} {'ssr':>6}"
        )
        for p in report.trajectory:
            self.stdout.write(
                f"{p.round:>5} {p.comparisons_per_essay:>10.1f} {p.spearman:>8.3f} {p.kendall:>7.3f} "
                f"{p.grade_exact:>6.2f} {p.grade_adjacent:>8.2f} {p.qwk:>6.3f} {p.ssr:>6.3f}"
            )
        self.stdout.write(
            f"End: {report.end_reason} after {final.round} rounds and {final.comparisons} comparisons"
            + (f"; grades unavailable: {report.projection_unavailable}" if report.projection_unavailable else "")
        )
