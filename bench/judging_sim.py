"""People beside the LLM, simulated: what hybrid and moderation designs do to the ranking's
accuracy, to the agreement figures and to the wall time, on batches whose truth is known.

Pure engine (no database): students with a hidden quality θ ~ N(0, 1); a connected design of
pairs (`pairing.initial_design`, k comparisons per essay); an LLM judge and human judges, each a
Bradley–Terry judge with its own discrimination, position bias and lapse rate (a lapse is a coin
flip); people are slower (a gamma-distributed time per judgement) and come and go (each teacher
is available for part of the session). For each design it prints:

- Spearman between the fitted θ (`scoring.fit_bt`, every judgement) and the truth;
- the AI–human agreement the service reports (`agreement.agreement`) against the true expected
  agreement on the pairs people judged, and how often its Wilson 95% interval covers it;
- the human–human agreement where two people judged a pair;
- the wall time of the people's part (judgements spread over the teachers while they are there).

Designs: `llm` (the LLM judges the whole budget), `hybrid` (the LLM judges 70%, people 30% on
fresh pairs), `moderation` (the LLM judges the whole budget, people re-judge 10% of its pairs,
blind; a second person takes a pair once every sampled pair has one).

Usage: python bench/judging_sim.py [--students 40] [--k 10] [--seeds 30] [--teachers 4]
This is not the service's adaptive loop (which `bench/engine_sim.py` runs): it isolates what
people add.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from assessments.engine.agreement import agreement
from assessments.engine.pairing import initial_design
from assessments.engine.scoring import fit_bt


@dataclass(frozen=True)
class Judge:
    discrimination: float  # logits of advantage per unit of true θ
    position_bias: float  # logits in favour of the essay shown first
    lapse: float  # share of coin-flip verdicts


LLM = Judge(discrimination=1.8, position_bias=0.3, lapse=0.06)
HUMAN = Judge(discrimination=1.3, position_bias=0.1, lapse=0.08)
SECONDS_PER_HUMAN_JUDGEMENT = 45.0


def p_first_wins(judge: Judge, theta: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    logit = judge.discrimination * (theta[first] - theta[second]) + judge.position_bias
    return judge.lapse / 2 + (1 - judge.lapse) / (1 + np.exp(-logit))


def verdicts(judge: Judge, theta: np.ndarray, pairs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The winner's index of each (first, second) pair."""
    first_won = rng.random(len(pairs)) < p_first_wins(judge, theta, pairs[:, 0], pairs[:, 1])
    return np.where(first_won, pairs[:, 0], pairs[:, 1])


def p_better_wins(judge: Judge, theta: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """P(the truly better essay wins), averaged over which one is shown first."""
    better = np.where(theta[pairs[:, 0]] >= theta[pairs[:, 1]], pairs[:, 0], pairs[:, 1])
    worse = np.where(better == pairs[:, 0], pairs[:, 1], pairs[:, 0])
    return 0.5 * (p_first_wins(judge, theta, better, worse) + 1 - p_first_wins(judge, theta, worse, better))


def people_wall_time(n_judgements: int, teachers: int, rng: np.random.Generator) -> float:
    """Hours until `n_judgements` are done by teachers each present for a random share (30–100%)
    of the session: the work rate is the sum of those presences."""
    if n_judgements == 0:
        return 0.0
    seconds = rng.gamma(shape=4.0, scale=SECONDS_PER_HUMAN_JUDGEMENT / 4.0, size=n_judgements).sum()
    presence = rng.uniform(0.3, 1.0, size=teachers).sum()
    return seconds / presence / 3600.0


def one_run(design: str, *, students: int, k: int, teachers: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=students)
    budget_pairs = initial_design(students, k=k, is_anchor=np.zeros(students, dtype=bool), seed=seed)
    pairs, judges = [], []
    if design == "hybrid":
        cut = round(0.7 * len(budget_pairs))
        llm_pairs, human_pairs = budget_pairs[:cut], budget_pairs[cut:]
        person = rng.integers(0, teachers, size=len(human_pairs))
    else:
        llm_pairs, human_pairs = budget_pairs, budget_pairs[:0]
        person = np.zeros(0, dtype=np.int64)
    if design == "moderation":
        share = max(1, round(0.1 * len(llm_pairs)))
        sample = llm_pairs[rng.choice(len(llm_pairs), size=share, replace=False)]
        # Fewest human verdicts first: each sampled pair once, then a second person on a few.
        second_round = sample[: max(1, share // 4)] if teachers > 1 else sample[:0]
        human_pairs = np.concatenate([sample, second_round])
        person = np.concatenate([rng.integers(0, teachers, size=share), np.full(len(second_round), -1)])
        first_person = person[: len(second_round)]
        person[share:] = (first_person + 1 + rng.integers(0, teachers - 1, size=len(second_round))) % teachers
        human_pairs = np.array([p if rng.random() < 0.5 else p[::-1] for p in human_pairs])  # sides drawn again
    pairs = np.concatenate([llm_pairs, human_pairs]).astype(np.int64)
    judges = np.array(["llm"] * len(llm_pairs) + [f"human:{p}" for p in person])
    winner = np.concatenate([verdicts(LLM, theta, llm_pairs, rng), verdicts(HUMAN, theta, human_pairs, rng)])
    outcome = (winner == pairs[:, 0]).astype(float)
    fit = fit_bt(pairs[:, 0], pairs[:, 1], outcome, n_items=students, allow_disconnected=True)
    rho = float(spearmanr(fit.theta, theta).statistic)
    report = agreement(
        pairs[:, 0], pairs[:, 1], winner, judges, np.array([j.startswith("human") for j in judges]), n_items=students
    )
    result = {
        "spearman": rho,
        "human_judgements": float(len(human_pairs)),
        "hours": people_wall_time(len(human_pairs), teachers, rng),
    }
    if report.ai_human.n:
        judged = human_pairs
        p_l, p_h = p_better_wins(LLM, theta, judged), p_better_wins(HUMAN, theta, judged)
        truth = float(np.mean(p_l * p_h + (1 - p_l) * (1 - p_h)))
        result |= {
            "ai_human": float(report.ai_human.rate or 0.0),
            "ai_human_true": truth,
            "covered": float(report.ai_human.low <= truth <= report.ai_human.high),  # type: ignore[operator]
        }
    if report.human_human.n:
        result["human_human"] = float(report.human_human.rate or 0.0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--k", type=int, default=10, help="comparisons per essay (the budget)")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--teachers", type=int, default=4)
    args = parser.parse_args()
    print(
        f"{args.students} students, {args.k} comparisons per essay, {args.seeds} seeds, {args.teachers} teachers; "
        f"LLM {LLM}, people {HUMAN}, {SECONDS_PER_HUMAN_JUDGEMENT:.0f} s per human judgement"
    )
    columns = ("Spearman", 9), ("people", 7), ("hours", 6), ("AI-human", 9), ("true", 6), ("CI covers", 9), ("human-human", 11)
    print(f"{'design':<11} " + " ".join(f"{name:>{width}}" for name, width in columns))
    for design in ("llm", "hybrid", "moderation"):
        runs = [one_run(design, students=args.students, k=args.k, teachers=args.teachers, seed=s) for s in range(args.seeds)]

        def mean(key: str, runs: list[dict[str, float]] = runs) -> str:
            values = [r[key] for r in runs if key in r]
            return f"{np.mean(values):.3f}" if values else "-"

        print(
            f"{design:<11} {mean('spearman'):>9} {mean('human_judgements'):>7} {mean('hours'):>6} {mean('ai_human'):>9} "
            f"{mean('ai_human_true'):>6} {mean('covered'):>9} {mean('human_human'):>11}"
        )


if __name__ == "__main__":
    main()
