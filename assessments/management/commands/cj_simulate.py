"""`python manage.py cj_simulate`: a synthetic batch judged by a simulated judge, through the real engine.

Runs pairing → Bradley–Terry scoring → grade projection → stopping round by round on students and
anchors of known latent quality, and reports how close the result is to the truth. No database,
no model: this is the engine alone (`assessments.engine.simulate`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.engine.scales import UnknownGradeError, get_scale
from assessments.engine.simulate import (
    DEFAULT_DISCRIMINATION,
    JudgeProfile,
    SimulationConfig,
    SimulationReport,
    judge_agreement,
    simulate_batch,
    summarise,
)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Simulate CJ batches with a synthetic judge and report agreement with the truth and calibration."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", choices=["ours", "random", "reference"], default="ours")
        parser.add_argument("--students", type=_positive_int, default=40, help="student essays (default: 40)")
        parser.add_argument("--anchors-per-grade", default="1-2", help="anchors per grade, N or MIN-MAX (default: 1-2)")
        parser.add_argument("--scale", default="swedish_a_f", help="grade scale name (default: swedish_a_f)")
        parser.add_argument("--comparisons-per-essay", type=float, default=10.0, help="budget per essay (default: 10)")
        parser.add_argument(
            "--discrimination",
            type=float,
            default=DEFAULT_DISCRIMINATION,
            help=f"judge accuracy as BT discrimination on latent quality (default: {DEFAULT_DISCRIMINATION})",
        )
        parser.add_argument("--position-bias", type=float, default=0.3, help="logit advantage of the first-shown essay")
        parser.add_argument("--lapse-rate", type=float, default=0.06, help="share of random verdicts (default: 0.06)")
        parser.add_argument("--pair-noise", type=float, default=0.5, help="SD of the judge's pair-to-pair logit noise")
        parser.add_argument("--stop-rule", choices=["budget", "strategy"], default="budget")
        parser.add_argument("--reliability-target", type=float, default=0.90)
        parser.add_argument("--grade-certainty", type=float, default=None, help="stop when mean P(grade) reaches this")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--seeds", type=_positive_int, default=1, help="batches to simulate (seed, seed+1, ...); >1 pools them"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        config = self._config(options)
        if options["seeds"] > 1:
            self._pooled(config, options)
            return
        report = simulate_batch(config)
        final = report.final
        summary: dict[str, Any] = {
            "strategy": config.strategy,
            "judge_agreement": judge_agreement(config.judge),
            "rounds": final.round,
            "comparisons": final.comparisons,
            "comparisons_per_essay": final.comparisons_per_essay,
            "end_reason": report.end_reason,
            "spearman": final.spearman,
            "kendall": final.kendall,
            "grade_exact": final.grade_exact,
            "grade_adjacent": final.grade_adjacent,
            "qwk": final.qwk,
            "reliability": final.reliability,
            "true_r2": final.true_r2,
            "ssr_sirt": final.ssr_sirt,
            "coverage": final.coverage,
            "projection_unavailable": report.projection_unavailable,
        }
        if options["json"]:
            summary["trajectory"] = [_point_json(point) for point in report.trajectory]
            self.stdout.write(json.dumps(summary, allow_nan=True))
            return
        self._judge_line(config)
        self.stdout.write(
            f"{'round':>5} {'comp/essay':>10} {'spearman':>8} {'exact':>6} {'±1':>5} {'qwk':>6} "
            f"{'reliab':>7} {'true r²':>7} {'cover':>6}"
        )
        for p in report.trajectory:
            self.stdout.write(
                f"{p.round:>5} {p.comparisons_per_essay:>10.1f} {p.spearman:>8.3f} {p.grade_exact:>6.2f} "
                f"{p.grade_adjacent:>5.2f} {p.qwk:>6.3f} {p.reliability:>7.3f} {p.true_r2:>7.3f} {p.coverage:>6.2f}"
            )
        self.stdout.write(
            f"End: {report.end_reason} after {final.round} rounds and {final.comparisons} comparisons"
            + (f"; grades unavailable: {report.projection_unavailable}" if report.projection_unavailable else "")
        )

    def _config(self, options: dict[str, Any]) -> SimulationConfig:
        try:
            grades = get_scale(options["scale"]).grades
        except UnknownGradeError as exc:
            raise CommandError(f"--scale: {exc}") from None
        if not 0.0 <= options["lapse_rate"] < 1.0:
            raise CommandError("--lapse-rate must be in [0, 1)")
        if options["comparisons_per_essay"] <= 0:
            raise CommandError("--comparisons-per-essay must be > 0")
        if options["pair_noise"] < 0:
            raise CommandError("--pair-noise must be ≥ 0")
        if options["grade_certainty"] is not None and not 0 < options["grade_certainty"] <= 1:
            raise CommandError("--grade-certainty must be in (0, 1]")
        try:
            low, _, high = options["anchors_per_grade"].partition("-")
            anchors = (int(low), int(high or low))
            if not 0 < anchors[0] <= anchors[1]:
                raise ValueError
        except ValueError:
            raise CommandError("--anchors-per-grade must be N or MIN-MAX with 1 ≤ MIN ≤ MAX, e.g. 1-2") from None
        return SimulationConfig(
            strategy=options["strategy"],
            seed=options["seed"],
            n_students=options["students"],
            anchors_per_grade=anchors,
            grades=grades,
            judge=JudgeProfile(
                discrimination=options["discrimination"],
                position_bias=options["position_bias"],
                lapse_rate=options["lapse_rate"],
                pair_noise=options["pair_noise"],
            ),
            comparisons_per_essay=options["comparisons_per_essay"],
            draws=settings.CJ_POSTERIOR_DRAWS or None,  # as the service scores
            stop_rule=options["stop_rule"],
            reliability_target=options["reliability_target"],
            grade_certainty_target=options["grade_certainty"],
        )

    def _judge_line(self, config: SimulationConfig) -> None:
        judge = config.judge
        self.stdout.write(
            f"Simulated judge (not an LLM): {judge_agreement(judge):.0%} agreement with the truth on random student pairs, "
            f"position bias {judge.position_bias} logits, lapses {judge.lapse_rate:.0%}, pair noise {judge.pair_noise} logits"
        )

    def _pooled(self, config: SimulationConfig, options: dict[str, Any]) -> None:
        reports: list[SimulationReport] = [simulate_batch(replace(config, seed=config.seed + i)) for i in range(options["seeds"])]
        summary = summarise([r.final for r in reports])
        if options["json"]:
            data = asdict(summary)
            data["calibration"] = [
                dict(zip(("lower", "students", "mean_p", "right"), row, strict=True)) for row in summary.calibration
            ]
            data["by_label"] = {k: {"students": n, "right": r} for k, (n, r) in summary.by_label.items()}
            self.stdout.write(json.dumps({"strategy": config.strategy, **data}, allow_nan=True))
            return
        self._judge_line(config)
        self.stdout.write(
            f"{summary.batches} batches, {summary.students} students, {summary.comparisons_per_essay:.1f} comparisons per essay: "
            f"exact {summary.grade_exact:.3f}, within one {summary.grade_adjacent:.3f}, QWK {summary.qwk:.3f}, "
            f"Spearman {summary.spearman:.3f}"
        )
        self.stdout.write(
            f"Mean P(grade) {summary.mean_p_primary:.3f}; ECE {summary.ece:.3f}; reliability {summary.reliability:.3f} "
            f"vs true r² {summary.true_r2:.3f}; 95% coverage {summary.coverage:.3f}"
        )
        self.stdout.write(f"{'P bin':>9} {'students':>8} {'mean P':>7} {'right':>6}")
        for lower, n, mean_p, right in summary.calibration:
            self.stdout.write(f"{lower:>4.1f}–{lower + 0.1:.1f} {n:>8d} {mean_p:>7.3f} {right:>6.3f}")
        for label, (n, right) in summary.by_label.items():
            self.stdout.write(f"'{label}': {n} students, {right:.0%} right" if n else f"'{label}': none")


def _point_json(point: Any) -> dict[str, Any]:
    data = {k: v for k, v in asdict(point).items() if k not in ("p_primary", "correct", "confidence")}
    return data
