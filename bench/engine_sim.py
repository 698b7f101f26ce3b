"""The honest-numbers yardstick: grade accuracy, calibration and reliability on simulated batches.

Runs `assessments.engine.simulate.simulate_batch` (the real pairing → population fit → grading
loop) for our pairing, random pairing and the replaced system's ("reference") on the same seeds
(same essays, same truth), for several judges and two grade scales, and prints per strategy and
budget: exact and within-one grade agreement, quadratic weighted κ, Spearman, mean P(primary),
the expected calibration error (ECE) of P(primary grade) with its reliability table, accuracy
per confidence label, reported reliability against the true r² (and sirt's SSR beside them),
and 95% interval coverage. Then the goals of the honest-numbers issue, met or not, and a
reliability diagram (PNG).

Judges (see `simulate.JudgeProfile`): "default" (an LLM-like judge: 0.3 logits of position
bias, 6% lapses, 0.5 logits of pair-to-pair noise), "clean" (3% lapses, no noise), "noisy"
(a weaker judge, 10% lapses, 0.8 logits of noise). Anchors: 1–2 per grade, each anywhere in
its grade's band.

Usage: python bench/engine_sim.py [--seeds 40] [--plot var/bench/reliability.png] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from assessments.engine.simulate import (
    HarnessSummary,
    JudgeProfile,
    SimulationConfig,
    judge_agreement,
    simulate_batch,
    summarise,
)

JUDGES = {
    "default": JudgeProfile(),
    "clean": JudgeProfile(lapse_rate=0.03, pair_noise=0.0, position_bias=0.3),
    "noisy": JudgeProfile(discrimination=1.3, lapse_rate=0.10, pair_noise=0.8, position_bias=0.4),
}
SCALES = {
    "A-F (6)": ("F", "E", "D", "C", "B", "A"),
    "9-step": ("F", "F+", "E-", "E", "E+", "D-", "D", "D+", "C"),
}
STRATEGIES = ("ours", "random", "reference")


def _run(config: SimulationConfig) -> tuple[SimulationConfig, object]:
    return config, simulate_batch(config).final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40, help="simulated batches per cell (40 students each)")
    parser.add_argument("--plot", default="var/bench/reliability.png", help="where to write the reliability diagram")
    parser.add_argument("--quick", action="store_true", help="default judge and scale only")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    cells: list[tuple[str, str, str, float]] = []
    for judge in JUDGES if not args.quick else ("default",):
        for scale in SCALES if not args.quick else ("A-F (6)",):
            for strategy in STRATEGIES:
                budgets = (6.0, 10.0, 20.0) if (judge, scale) == ("default", "A-F (6)") else (10.0,)
                if strategy == "ours" and (judge, scale) == ("default", "A-F (6)"):
                    budgets = (4.0, 6.0, 8.0, 10.0, 20.0)
                cells += [(judge, scale, strategy, b) for b in budgets]
    configs = [
        SimulationConfig(strategy=strategy, seed=seed, judge=JUDGES[judge], grades=SCALES[scale], comparisons_per_essay=budget)
        for judge, scale, strategy, budget in cells
        for seed in range(args.seeds)
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        finals = list(pool.map(_run, configs, chunksize=4))
    summary: dict[tuple[str, str, str, float], HarnessSummary] = {}
    for cell in cells:
        judge, scale, strategy, budget = cell
        points = [
            point
            for config, point in finals
            if config.judge == JUDGES[judge]
            and config.grades == SCALES[scale]
            and config.strategy == strategy
            and config.comparisons_per_essay == budget
        ]
        summary[cell] = summarise(points)
    print(
        f"{args.seeds} batches per cell, 40 students + 1–2 anchors per grade each; judges' agreement with the truth on "
        + ", ".join(f"{name} {judge_agreement(j):.0%}" for name, j in JUDGES.items() if not args.quick or name == "default")
    )
    _print_table(summary)
    _print_calibration(summary)
    _print_goals(summary)
    _plot(summary, args.plot)
    print(f"\n(runtime {time.perf_counter() - started:.0f} s)")


def _print_table(summary: dict[tuple[str, str, str, float], HarnessSummary]) -> None:
    print(
        f"\n{'judge':8s}{'scale':9s}{'strategy':10s}{'per essay':>9s}{'exact':>7s}{'±1':>6s}{'QWK':>6s}{'Spear':>7s}"
        f"{'mean P':>8s}{'ECE':>7s}{'high':>12s}{'medium':>12s}{'reliab':>8s}{'true r²':>8s}{'|diff|':>7s}"
        f"{'SSR':>6s}{'cover':>7s}"
    )
    for (judge, scale, strategy, _), s in summary.items():
        high, medium = s.by_label["high"], s.by_label["medium"]
        print(
            f"{judge:8s}{scale:9s}{strategy:10s}{s.comparisons_per_essay:>9.1f}{s.grade_exact:>7.3f}{s.grade_adjacent:>6.2f}"
            f"{s.qwk:>6.2f}{s.spearman:>7.3f}{s.mean_p_primary:>8.3f}{s.ece:>7.3f}"
            f"{_label(high):>12s}{_label(medium):>12s}{s.reliability:>8.3f}{s.true_r2:>8.3f}{s.reliability_error:>7.3f}"
            f"{s.ssr_sirt:>6.3f}{s.coverage:>7.3f}"
        )
    print(
        "  exact/±1: projected grade = true grade / within one; mean P: mean P(projected grade); high/medium: share right "
        "(students); reliab: what the service reports; SSR: sirt's, from a weak-prior ML fit; cover: 95% intervals"
    )


def _label(entry: tuple[int, float]) -> str:
    n, right = entry
    return f"{right:.2f} ({n})" if n else "–"


def _print_calibration(summary: dict[tuple[str, str, str, float], HarnessSummary]) -> None:
    for budget in (10.0, 20.0):
        cell = ("default", "A-F (6)", "ours", budget)
        if cell not in summary:
            continue
        s = summary[cell]
        print(f"\nReliability table, ours, default judge, A–F, {budget:g} per essay ({s.students} students, ECE {s.ece:.3f})")
        print(f"{'P bin':>7s}{'students':>10s}{'mean P':>9s}{'right':>8s}")
        for lower, n, mean_p, right in s.calibration:
            print(f"{lower:>5.1f}–{lower + 0.1:.1f}{n:>9d}{mean_p:>9.3f}{right:>8.3f}")


def _print_goals(summary: dict[tuple[str, str, str, float], HarnessSummary]) -> None:
    print("\nGoals of the honest-numbers issue (default judge, A–F):")
    ours = {
        b: summary[("default", "A-F (6)", "ours", b)]
        for b in (4.0, 6.0, 8.0, 10.0, 20.0)
        if ("default", "A-F (6)", "ours", b) in summary
    }
    random10 = summary.get(("default", "A-F (6)", "random", 10.0))
    for budget in (10.0, 20.0):
        if budget in ours:
            s = ours[budget]
            print(f"  ECE ≤ 0.05 at {budget:g}/essay: {s.ece:.3f} {'met' if s.ece <= 0.05 else 'MISSED'}")
            high, medium = s.by_label["high"][1], s.by_label["medium"][1]
            print(f"  'high' right ≥ 80%: {high:.0%}; 'medium' right 60–80%: {medium:.0%}")
    for (judge, scale, strategy, budget), s in summary.items():
        if budget == 10.0:
            ok = abs(s.reliability - s.true_r2) <= 0.05
            print(
                f"  reliability within ±0.05 of true r² ({judge}, {scale}, {strategy}): {s.reliability:.3f} vs {s.true_r2:.3f} "
                f"{'met' if ok else 'MISSED'}; coverage {s.coverage:.3f} {'met' if 0.93 <= s.coverage <= 0.97 else 'MISSED'}"
            )
    if random10 is not None and 10.0 in ours:
        gain = ours[10.0].grade_exact - random10.grade_exact
        print(f"  exact agreement ours − random at 10/essay ≥ +0.08: {gain:+.3f} {'met' if gain >= 0.08 else 'MISSED'}")
        budgets = sorted(ours)
        exact = [ours[b].grade_exact for b in budgets]
        reach = next((b for b, e in zip(budgets, exact, strict=True) if e >= random10.grade_exact), None)
        share = f"{reach / 10:.0%}" if reach else "more than 100%"
        print(
            f"  ours reaches random's exact agreement at 10/essay ({random10.grade_exact:.3f}) with {share} "
            "of its comparisons (goal ≤ 60%)"
        )


def _plot(summary: dict[tuple[str, str, str, float], HarnessSummary], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    axis.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="perfectly calibrated")
    for (judge, scale, strategy, budget), s in summary.items():
        if scale != "A-F (6)" or budget != 10.0 or (judge != "default" and strategy != "ours"):
            continue
        x = [mean_p for _, n, mean_p, _ in s.calibration if n >= 20]
        y = [right for _, n, _, right in s.calibration if n >= 20]
        axis.plot(x, y, marker="o", label=f"{strategy}, {judge} judge (ECE {s.ece:.3f})")
    axis.set_xlabel("P(projected grade) reported")
    axis.set_ylabel("share of students whose true grade it was")
    axis.set_title("Reliability diagram, 10 comparisons per essay (simulated)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(loc="upper left", fontsize=8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, bbox_inches="tight")
    print(f"\nReliability diagram: {path}")


if __name__ == "__main__":
    main()
