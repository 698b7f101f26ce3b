"""PNG plots of a run, drawn from its artefact alone (matplotlib, Agg backend: no display).

- `caterpillar.png`: every essay's θ with its 95% interval, best first; anchors marked with their
  grade; the grade boundaries (cut points) as horizontal lines;
- `anchor_alignment.png`: the anchors' θ against their expert grade, with Kendall τ;
- `comparisons_per_essay.png`: how many judged comparisons each essay had;
- `position_bias.png`: P(the essay shown first wins) per round and overall, with 95% intervals.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit
import matplotlib.pyplot as plt

from assessments.plots import PlotRow, caterpillar_png
from assessments.research.artefact import RunArtefact
from assessments.results.schema import BatchResults

ANCHOR_COLOUR = "#c0392b"
STUDENT_COLOUR = "#2c3e50"


def plots_draw(artefact: RunArtefact, out: Path) -> list[Path]:
    """Draw every plot the artefact has data for; returns the files written."""
    results = artefact.results
    if results is None or not results.bt_summary.essays:
        return []
    written = [
        _caterpillar(artefact, out / "caterpillar.png"),
        _comparisons_per_essay(artefact, out / "comparisons_per_essay.png"),
    ]
    if results.anchor_alignment is not None and results.anchor_alignment.anchors:
        written.append(_anchor_alignment(artefact, out / "anchor_alignment.png"))
    if any(c.winner for c in results.comparisons):
        written.append(_position_bias(artefact, out / "position_bias.png"))
    return written


def _subtitle(artefact: RunArtefact) -> str:
    judge = artefact.run.judge
    who = f"{judge.provider}/{judge.model}" + ("" if judge.is_language_model else " (offline mock, NOT an LLM)")
    return f"{artefact.run.mode}, run {artefact.run.run_id[:8]}; judge {who}"


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def _results(artefact: RunArtefact) -> BatchResults:
    """The run's results: plots are drawn only for runs that have some."""
    assert artefact.results is not None
    return artefact.results


def _caterpillar(artefact: RunArtefact, path: Path) -> Path:
    """The admin's caterpillar plot (`assessments.plots.caterpillar_png`), written to a file."""
    results = _results(artefact)
    rows = [
        PlotRow(label=e.id[:8], theta=e.theta, se=e.se or 0.0, anchor_grade=e.grade if e.role == "anchor" else None)
        for e in results.bt_summary.essays
        if e.theta is not None
    ]
    grading = results.grade_projections
    path.write_bytes(
        caterpillar_png(
            rows=rows,
            cuts=grading.cuts if grading.available else (),
            cut_se=grading.cut_se if grading.available else (),
            grades=grading.grades if grading.available else (),
            title="Essays by θ; anchors with their grade",
            note=_subtitle(artefact),
        )
    )
    return path


def _anchor_alignment(artefact: RunArtefact, path: Path) -> Path:
    alignment = _results(artefact).anchor_alignment
    assert alignment is not None  # drawn only for runs with graded anchors
    grades = artefact.run.grades
    theta_of = {e.id: e for e in _results(artefact).bt_summary.essays}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_grade: dict[str, list[tuple[float, float, str]]] = {}
    for standing in alignment.anchors:
        essay = theta_of[standing.id]
        by_grade.setdefault(standing.grade, []).append((essay.theta or 0.0, essay.se or 0.0, standing.id))
    for grade, members in by_grade.items():
        # Anchors of one grade side by side (lowest θ on the left), each label beside its own
        # point, and labels stepped up and down, so that same-grade anchors never overlap.
        members.sort()
        spread = min(0.7, 0.18 * (len(members) - 1))
        for k, (theta, se, anchor_id) in enumerate(members):
            x = grades.index(grade) + (spread * (k / (len(members) - 1) - 0.5) if len(members) > 1 else 0.0)
            ax.errorbar(x, theta, yerr=1.96 * se, fmt="o", color=ANCHOR_COLOUR, capsize=3)
            ax.annotate(anchor_id[:8], (x, theta), fontsize=6, xytext=(4, 2 + 7 * (k % 3)), textcoords="offset points")
    ax.set_xticks(range(len(grades)))
    ax.set_xticklabels(grades)
    ax.set_xlim(-0.6, len(grades) - 0.4)
    ax.set_xlabel("expert grade")
    ax.set_ylabel("θ (logits), 95% interval")
    tau = alignment.kendall_tau
    tau_text = f"Kendall τ = {tau:.2f}" if tau is not None else "Kendall τ undefined"
    ax.set_title(
        f"Anchors: θ against expert grade; {tau_text}, {len(alignment.inversions)} inverted pairs\n{_subtitle(artefact)}",
        fontsize=9,
    )
    return _save(fig, path)


def _comparisons_per_essay(artefact: RunArtefact, path: Path) -> Path:
    essays = sorted(_results(artefact).bt_summary.essays, key=lambda e: (e.role, -e.comparisons))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.2 * len(essays) + 2), 3.8))
    colours = [ANCHOR_COLOUR if e.role == "anchor" else STUDENT_COLOUR for e in essays]
    ax.bar(range(len(essays)), [e.comparisons for e in essays], color=colours)
    ax.set_xticks(range(len(essays)))
    ax.set_xticklabels([e.id[:8] for e in essays], rotation=90, fontsize=6)
    ax.set_ylabel("judged comparisons")
    ax.set_title(f"Comparisons per essay (anchors red)\n{_subtitle(artefact)}", fontsize=9)
    return _save(fig, path)


def _position_bias(artefact: RunArtefact, path: Path) -> Path:
    decided = [c for c in _results(artefact).comparisons if c.winner]
    rounds = sorted({c.round for c in decided})
    labels, shares, errors = [], [], []
    for group, label in [*(([c for c in decided if c.round == r], f"round {r}") for r in rounds), (decided, "all")]:
        n = len(group)
        p = sum(c.winner == "a" for c in group) / n
        labels.append(f"{label}\n(n={n})")
        shares.append(p)
        errors.append(1.96 * math.sqrt(p * (1 - p) / n) if n else 0.0)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(labels)), 3.8))
    ax.bar(range(len(labels)), shares, yerr=errors, capsize=4, color=[STUDENT_COLOUR] * (len(labels) - 1) + ["#16a085"])
    ax.axhline(0.5, color="#7f8c8d", ls="--", lw=0.8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("P(essay shown first wins)")
    order = _results(artefact).bt_summary.order_effect if artefact.results else None
    fitted = f"; fitted order effect {order:+.2f} logits" if order is not None else ""
    ax.set_title(f"Position bias{fitted}\n{_subtitle(artefact)}", fontsize=9)
    return _save(fig, path)
