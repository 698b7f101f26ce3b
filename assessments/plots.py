"""Server-rendered plots of a batch (matplotlib, Agg backend: no display, safe in any thread).

`caterpillar_png` draws every essay's θ with its 95% interval, best at the top, anchors marked
with their known grade, and the grade boundaries (cut points) as vertical lines.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before any figure exists: never a GUI backend on a server

from matplotlib.axes import Axes
from matplotlib.figure import Figure

Z_95 = 1.96
STUDENT_COLOUR = "#2b6cb0"
ANCHOR_COLOUR = "#c05621"
CUT_COLOUR = "#718096"
# Above this many essays the names no longer fit beside the rows; ranks are shown instead.
MAX_LABELLED_ROWS = 80


@dataclass(frozen=True)
class PlotRow:
    label: str
    theta: float
    se: float
    anchor_grade: str | None = None


def caterpillar_png(
    *,
    rows: Sequence[PlotRow],
    cuts: Sequence[float | None] = (),
    cut_se: Sequence[float | None] = (),
    grades: Sequence[str] = (),
    title: str = "",
    note: str = "",
) -> bytes:
    """PNG bytes of the caterpillar plot (`caterpillar_figure`)."""
    return _png(caterpillar_figure(rows=rows, cuts=cuts, cut_se=cut_se, grades=grades, title=title, note=note))


def caterpillar_figure(
    *,
    rows: Sequence[PlotRow],
    cuts: Sequence[float | None] = (),
    cut_se: Sequence[float | None] = (),
    grades: Sequence[str] = (),
    title: str = "",
    note: str = "",
) -> Figure:
    """The caterpillar plot.

    1. Rows sorted by θ, best at the top; each a point with a horizontal 95% interval (θ ± 1.96·SE).
    2. Anchors drawn as diamonds in their own colour, their known grade written beside them.
    3. Cut points (between consecutive grades) drawn as dashed vertical lines, the grade on
       either side written along the top, each with a shaded band of ± its SE (where the cut
       may lie, given anchors that sit anywhere inside their grades); a missing cut is skipped.
    """
    ordered = sorted(rows, key=lambda r: r.theta)
    n = len(ordered)
    height = min(40.0, max(3.5, 1.6 + 0.24 * n))
    figure = Figure(figsize=(9.0, height), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    if not ordered:
        axes.text(0.5, 0.5, "No essay has been scored yet.", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return figure

    y = list(range(n))
    for is_anchor, colour, marker, name in ((False, STUDENT_COLOUR, "o", "student"), (True, ANCHOR_COLOUR, "D", "anchor")):
        index = [i for i, r in enumerate(ordered) if (r.anchor_grade is not None) == is_anchor]
        if not index:
            continue
        axes.errorbar(
            [ordered[i].theta for i in index],
            [y[i] for i in index],
            xerr=[Z_95 * ordered[i].se for i in index],
            fmt=marker,
            color=colour,
            ecolor=colour,
            elinewidth=1.2,
            capsize=2,
            markersize=5 if is_anchor else 4,
            label=f"{name} (θ ± 95% interval)",
        )
    for i, row in enumerate(ordered):
        if row.anchor_grade is not None:
            axes.annotate(
                row.anchor_grade,
                (row.theta + Z_95 * row.se, i),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                fontweight="bold",
                color=ANCHOR_COLOUR,
            )

    low = min(r.theta - Z_95 * r.se for r in ordered)
    high = max(r.theta + Z_95 * r.se for r in ordered)
    margin = 0.05 * (high - low or 1.0)
    axes.set_xlim(low - margin, high + 4 * margin)
    label_rows = _draw_cuts(axes, cuts=cuts, cut_se=cut_se, grades=grades, n=n, width_in=figure.get_figwidth())

    axes.set_ylim(-0.8, n - 0.2)
    if n <= MAX_LABELLED_ROWS:
        axes.set_yticks(y, [r.label for r in ordered], fontsize=7 if n > 40 else 8)
    else:
        axes.set_yticks([])
        axes.set_ylabel("essays, best at the top")
    axes.set_xlabel("θ (logits): higher is better")
    axes.grid(axis="x", alpha=0.25)
    axes.legend(loc="lower right", fontsize=8, framealpha=0.9)
    if title:
        axes.set_title(title, fontsize=11, loc="left", pad=6 + CUT_LABEL_STEP * label_rows)
    if note:
        # A figure-level label: the constrained layout keeps room for it under the axis label.
        figure.supxlabel(note, fontsize=8, color="#9b2c2c")
    return figure


CUT_LABEL_FONT = 7  # points
CUT_LABEL_STEP = 10  # points between rows of cut labels


def _draw_cuts(
    axes: Axes, *, cuts: Sequence[float | None], cut_se: Sequence[float | None], grades: Sequence[str], n: int, width_in: float
) -> int:
    """Dashed lines at the cut points, shaded ± their SE; the grades either side written along the
    top, on as many rows as it takes for no two labels to overlap. Returns the number of rows."""
    low, high = axes.get_xlim()
    # Data units per point of text: the axes take about 85% of the figure's width.
    per_point = (high - low) / (0.85 * width_in * 72)
    row_ends: list[float] = []  # the right edge of the last label on each row
    placed = sorted(((c, i) for i, c in enumerate(cuts) if c is not None and math.isfinite(c)))
    for cut, i in placed:
        axes.axvline(cut, color=CUT_COLOUR, linestyle="--", linewidth=1)
        se = cut_se[i] if i < len(cut_se) else None
        if se is not None and math.isfinite(se) and se > 0:
            axes.axvspan(cut - se, cut + se, color=CUT_COLOUR, alpha=0.08, linewidth=0)
        if i + 1 >= len(grades):
            continue
        # The cut between grades[i] and grades[i + 1]: name the pair where it stands.
        text = f"{grades[i]} | {grades[i + 1]}"
        half = 0.5 * (len(text) * 0.62 * CUT_LABEL_FONT + 4) * per_point  # half its width, with a little air
        row = next((r for r, end in enumerate(row_ends) if end < cut - half), len(row_ends))
        if row == len(row_ends):
            row_ends.append(cut + half)
        row_ends[row] = cut + half
        axes.annotate(
            text,
            (cut, n - 0.2),
            xytext=(0, 3 + CUT_LABEL_STEP * row),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=CUT_LABEL_FONT,
            color=CUT_COLOUR,
            annotation_clip=False,
        )
    return len(row_ends)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
