"""Writing a run to `--out`: plots, CSVs, the Markdown report, the schema and the JSON artefact.

Everything is drawn from the artefact itself, and the artefact, written last, lists every other
file with its size and sha256 (`files`), so a reader can check that nothing was changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from assessments.research.artefact import ArtefactFile, RunArtefact
from assessments.research.plots import plots_draw
from assessments.results.building import essay_results
from assessments.results.schema import AnchorAlignment, BatchResults, EssayResult
from assessments.results.writers import essay_results_csv_write

ARTEFACT_NAME = "artefact.json"
SCHEMA_FILE_NAME = "artefact.schema.json"
RESULTS_NAME = "results.csv"
COMPARISONS_NAME = "comparisons.csv"
REPORT_NAME = "report.md"
COMPARISON_COLUMNS = (
    "id",
    "round",
    "essay_a",
    "essay_b",
    "winner_id",
    "status",
    "confidence",
    "judge",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "prompt_sha256",
    "error_category",
)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artefacts_write(artefact: RunArtefact, out: Path) -> tuple[Path, RunArtefact]:
    """Write every file of the run into `out`; returns the artefact's path and the final artefact."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, str]] = [(p, "png") for p in plots_draw(artefact, out)]
    if artefact.results is not None:
        written.append((_results_csv(artefact.results, out / RESULTS_NAME), "csv"))
        written.append((_comparisons_csv(artefact.results, out / COMPARISONS_NAME), "csv"))
    schema_path = out / SCHEMA_FILE_NAME
    schema_path.write_text(json.dumps(RunArtefact.model_json_schema(), indent=2) + "\n", encoding="utf-8")
    written.append((schema_path, "json-schema"))
    report = out / REPORT_NAME
    report.write_text(report_markdown(artefact, files=[p.name for p, _ in written]), encoding="utf-8")
    written.append((report, "markdown"))
    final = artefact.model_copy(
        update={
            "files": [ArtefactFile(name=p.name, kind=kind, bytes=p.stat().st_size, sha256=file_sha256(p)) for p, kind in written]
        }
    )
    path = out / ARTEFACT_NAME
    path.write_text(final.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path, final


def results_rows(results: BatchResults) -> list[EssayResult]:
    """One row per essay, best first, built from the document as the batch export builds them."""
    return essay_results(results.bt_summary.essays, results.grade_projections.essays)


def _results_csv(results: BatchResults, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        essay_results_csv_write(results_rows(results), handle)
    return path


def _comparisons_csv(results: BatchResults, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COMPARISON_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(c.model_dump() for c in results.comparisons)
    return path


def _reliability(value: float | None, note: str | None) -> str:
    return f"{value:.2f}" if value is not None else (note or "–")


def _ssr(value: float | None) -> str:
    """sirt's SSR, or what a value below 0 means (no reliability at all, never a figure to read)."""
    if value is not None and value < 0:
        return f"{value:.3f}: below 0, which means too few comparisons for the essays' differences to show (read it as none)"
    return _f(value, 3)


def _f(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def report_markdown(artefact: RunArtefact, *, files: list[str]) -> str:
    """The human summary of a run: judge, inputs, estimate, results, anchor alignment, files."""
    run, estimate, judge = artefact.run, artefact.estimate, artefact.run.judge
    lines = [f"# ENG5 run {run.run_id[:8]}: {run.mode}", ""]
    if not judge.is_language_model:
        lines += [
            f"> **Judge: {judge.provider}/{judge.model}, the offline mock. It is NOT a language model**: it scores surface",
            "> features of the text (length, vocabulary range, sentence and paragraph structure). These results show",
            "> the runner and the flow working, not an assessment of the essays.",
            "",
        ]
    lines += [
        f"- Mode: `{run.mode}`; state: `{run.state}`" + (f" ({run.end_reason})" if run.end_reason else ""),
        f"- Judge: {judge.display_name} (`{judge.provider}/{judge.model}`)"
        + (f", temperature {judge.temperature:g}" if judge.temperature is not None else "")
        + (f", reasoning effort {judge.reasoning_effort}" if judge.reasoning_effort else ""),
        f"- Batching mode: `{run.batching_mode}`; seed {run.seed}; grade scale `{run.grade_scale}`",
        f"- Batch: {run.batch_id if run.batch_id is not None else 'none (no model called)'}; "
        f"assignment: {run.assignment_id if run.assignment_id is not None else 'none'}",
        f"- Created {run.created_at:%Y-%m-%d %H:%M:%S %Z}; runner {run.runner_version}; git {run.git_sha or 'unknown'}",
        f"- Inputs: {len(artefact.inputs.anchors)} anchors, {len(artefact.inputs.essays)} student essays "
        "(ids are hashes of the texts; `artefact.json` maps them to files)",
        "",
        "## Estimate",
        "",
        f"{estimate.expected_comparisons} comparisons of {estimate.n_items} essays "
        f"(about {estimate.comparisons_per_essay:g} per essay, budget: {estimate.budget_source}); rounds if the budget is "
        f"spent: {', '.join(map(str, estimate.round_sizes)) or 'none'} (a batch stops earlier at reliability "
        f"{estimate.reliability_target:g}).",
        f"Tokens: about {estimate.tokens.input_per_comparison:.0f} in and {estimate.tokens.output_per_comparison} out per "
        f"comparison; {estimate.tokens.total_input:,} in, {estimate.tokens.total_output:,} out in all.",
        f"Cost at list prices of {estimate.prices_as_of}: ${estimate.cost_usd:.4f}"
        + (f" (${estimate.cost_usd_with_caching:.4f} with prompt caching)" if estimate.cost_usd_with_caching is not None else "")
        + (" with the batch-API discount" if estimate.batch_discount_applied else "")
        + ".",
    ]
    lines += [f"- {note}" for note in estimate.notes]
    if run.end_message:
        lines += ["", f"Batch: {run.end_message}"]
    results = artefact.results
    if results is not None:
        bt, costs = results.bt_summary, results.costs
        lines += [
            "",
            "## Results",
            "",
            f"{bt.n_comparisons} comparisons judged; reliability {_reliability(bt.reliability, bt.reliability_note)} "
            f"(the share of the spread in the ranking that is real; sirt's SSR {_ssr(bt.ssr_sirt)}; adaptive pairing "
            f"inflates it); separation {_f(bt.separation)}; "
            f"P(first shown wins) {_f(bt.p_first_wins)}; order effect {_f(bt.order_effect, signed=True)} ± "
            f"{_f(bt.order_effect_se)} logits. Cost ${costs.total_usd:.4f} "
            f"(estimated ${estimate.cost_usd:.4f}); tokens {costs.input_tokens:,} in, {costs.output_tokens:,} out.",
            "",
            "| rank | essay | role | grade | θ | SE | comparisons | P(grade) |",
            "|---:|---|---|---|---:|---:|---:|---:|",
        ]
        for row in results_rows(results):
            grade = row.anchor_grade or row.projected_grade or "–"
            probability = "" if row.anchor_grade else _f(row.grade_probability)
            lines.append(
                f"| {row.rank or '–'} | `{row.essay_id}` | {row.role} | {grade} | {_f(row.theta)} "
                f"| {_f(row.se)} | {row.comparisons} | {probability} |"
            )
        grading = results.grade_projections
        if not grading.available and run.mode == "execute":
            lines += ["", f"Grades were not projected: {grading.reason}."]
    alignment = results.anchor_alignment if results is not None else None
    if alignment is not None:
        lines += _alignment_section(alignment)
    if artefact.warnings:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in artefact.warnings]]
    lines += [
        "",
        "## Files",
        "",
        f"- `{ARTEFACT_NAME}`: the artefact (schema `{artefact.schema_name}` v{artefact.schema_version}; its `results`: "
        f"`{results.schema_name}` v{results.schema_version}, as the API exports a batch)"
        if results is not None
        else f"- `{ARTEFACT_NAME}`: the artefact (schema `{artefact.schema_name}` v{artefact.schema_version})",
    ]
    lines += [f"- `{name}`" for name in files]
    return "\n".join(lines) + "\n"


def _alignment_section(alignment: AnchorAlignment) -> list[str]:
    zero = ", ".join(f"{a.grade} `{a.id}`" for a in alignment.zero_win_anchors) or "none"
    lines = [
        "",
        "## Anchor alignment",
        "",
        f"Kendall τ (expert grade vs θ) {_f(alignment.kendall_tau)} over {alignment.n_anchors} anchors; "
        f"{len(alignment.inversions)} anchor pairs in the wrong order; {len(alignment.direct_inversions)} direct "
        f"inversions (a lower-graded anchor won a comparison); anchors with zero wins: {zero}.",
        "",
        "| grade | anchor | θ | rank among anchors | wins / comparisons | win rate |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for a in alignment.anchors:
        lines.append(
            f"| {a.grade} | `{a.id}` | {_f(a.theta)} | {a.rank_among_anchors or '–'} | {a.wins} / {a.comparisons} "
            f"| {_f(a.win_rate)} |"
        )
    if alignment.direct_inversions:
        lines += ["", "### Direct inversions, with the judge's justification", ""]
        for inv in alignment.direct_inversions:
            lines.append(
                f"- round {inv.round}: {inv.winner.grade} `{inv.winner.id}` beat {inv.loser.grade} `{inv.loser.id}` "
                f"(confidence {inv.confidence or '–'}): {inv.justification or '(no justification)'}"
            )
    return lines
