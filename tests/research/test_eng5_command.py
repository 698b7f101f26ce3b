"""`manage.py eng5`: every mode on the shipped sample with the offline mock judge, and bad inputs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from django.core.management import CommandError, call_command

from assessments.models import Assignment, Batch
from assessments.research.artefact import SCHEMA_VERSION, RunArtefact
from assessments.research.inventory import SAMPLE_DIR
from assessments.research.writers import file_sha256
from assessments.results.schema import BatchResults
from llmgateway.models import LLMRequest
from tests.research.conftest import inputs_of

ROOT = Path(__file__).resolve().parents[2]


def _eng5(*args: object) -> str:
    out = StringIO()
    call_command("eng5", *map(str, args), stdout=out)
    return out.getvalue()


def _artefact(out: Path) -> RunArtefact:
    return RunArtefact.model_validate_json((out / "artefact.json").read_text(encoding="utf-8"))


def _assert_schema_file_validates(out: Path) -> None:
    """The published schema written beside the artefact validates it (JSON Schema 2020-12)."""
    schema = json.loads((out / "artefact.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(json.loads((out / "artefact.json").read_text(encoding="utf-8")))


def _assert_checksums_match(out: Path, artefact: RunArtefact) -> None:
    assert artefact.files, "the artefact lists the run's files"
    for item in artefact.files:
        path = out / item.name
        assert path.stat().st_size == item.bytes
        assert file_sha256(path) == item.sha256
    assert {p.name for p in out.iterdir()} == {"artefact.json", *(f.name for f in artefact.files)}


@pytest.mark.django_db
def test_plan_lists_the_inputs_and_estimates_without_side_effects(tmp_path):
    output = _eng5("plan", "--comparisons-per-essay", "3", "--out", tmp_path / "never")
    assert "Anchors: 12 (grades from anchor_grades.csv)" in output
    assert "Student essays: 24" in output
    assert "Estimate: 54 comparisons of 36 essays" in output
    assert "NOT a language model" in output
    assert not (tmp_path / "never").exists()
    assert not Assignment.objects.exists() and not Batch.objects.exists()


@pytest.mark.django_db
def test_plan_prices_a_real_model_from_the_manifest_without_its_api_key():
    output = _eng5("plan", "--provider", "anthropic", "--model", "claude-haiku-4-5", "--batching-mode", "provider_batch_api")
    assert "Judge: anthropic/claude-haiku-4-5" in output
    cost = next(line for line in output.splitlines() if line.strip().startswith("cost:"))
    assert cost.strip().startswith("cost: $0.") and "$0.0000 " not in cost
    assert "set ANTHROPIC_API_KEY before execute" in output


@pytest.mark.django_db
def test_dry_run_writes_a_schema_valid_artefact_and_calls_no_model(tmp_path):
    _eng5("dry-run", "--comparisons-per-essay", "3", "--out", tmp_path)
    artefact = _artefact(tmp_path)
    assert (artefact.schema_version, artefact.run.mode, artefact.run.state) == (SCHEMA_VERSION, "dry-run", "not-run")
    assert artefact.results is None
    assert artefact.estimate.expected_comparisons == 54
    assert len(artefact.inputs.anchors) == 12 and len(artefact.inputs.essays) == 24
    assert json.loads((tmp_path / "artefact.schema.json").read_text()) == RunArtefact.model_json_schema()
    assert artefact.schema_name == "cj-eng5-run" and SCHEMA_VERSION == 3
    _assert_schema_file_validates(tmp_path)
    _assert_checksums_match(tmp_path, artefact)
    assert "NOT a language model" in (tmp_path / "report.md").read_text()
    assert not LLMRequest.objects.exists() and not Batch.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_execute_runs_the_sample_through_the_services_and_writes_every_artefact(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    output = _eng5("execute", "--comparisons-per-essay", "3", "--seed", "7", "--out", tmp_path)

    batch = Batch.objects.get()
    assert batch.state == "completed"
    assert f"Batch {batch.pk}: completed" in output and "round" in output
    artefact = _artefact(tmp_path)
    assert artefact.run.batch_id == batch.pk and artefact.run.judge.is_language_model is False
    results = artefact.results
    assert isinstance(results, BatchResults) and (results.schema_name, results.schema_version) == ("cj-results", 2)
    assert results.batch.id == batch.pk and [j.is_language_model for j in results.batch.judges] == [False]
    judged = [c for c in results.comparisons if c.status == "succeeded"]
    assert len(judged) == batch.comparisons_succeeded > 0
    assert all(c.prompt_sha256 and c.winner_id in (c.essay_a, c.essay_b) for c in judged)
    ids = {e.id for e in [*artefact.inputs.anchors, *artefact.inputs.essays]}
    assert {e.id for e in results.bt_summary.essays} == ids
    assert results.grade_projections.available and len(results.grade_projections.essays) == 24
    alignment = results.anchor_alignment
    assert alignment.n_anchors == 12
    _assert_schema_file_validates(tmp_path)
    assert alignment.kendall_tau == pytest.approx(batch.processing_metadata["anchor_alignment"]["kendall_tau"])
    _assert_checksums_match(tmp_path, artefact)
    names = {f.name for f in artefact.files}
    assert {"caterpillar.png", "anchor_alignment.png", "comparisons_per_essay.png", "position_bias.png"} <= names
    assert {"results.csv", "comparisons.csv", "report.md"} <= names
    assert (tmp_path / "results.csv").read_text().count("\n") == 37
    report = (tmp_path / "report.md").read_text()
    assert "It is NOT a language model" in report and "## Anchor alignment" in report

    # No file name reaches a prompt, the database's essay ids or a log line.
    file_names = [p.stem for p in (SAMPLE_DIR / "essays").glob("*.txt")] + ["C+2", "anchor_grades"]
    prompts = json.dumps(list(LLMRequest.objects.values_list("prompt_parts", flat=True)))
    stored_ids = " ".join(batch.essays.values_list("external_id", flat=True))
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "Batch created" in logged  # the flow's log lines were captured
    for name in file_names:
        assert name not in prompts and name not in stored_ids and name not in logged


@pytest.mark.django_db(transaction=True)
def test_anchor_align_judges_the_anchors_as_students_and_reports_their_order(tmp_path):
    output = _eng5("anchor-align", "--comparisons-per-essay", "3", "--out", tmp_path)

    batch = Batch.objects.get()
    assert batch.essays.filter(role="anchor").count() == 0 and batch.essays.count() == 12
    assert batch.assignment.anchors.count() == 0  # the service never knew a grade
    artefact = _artefact(tmp_path)
    results = artefact.results
    alignment = results.anchor_alignment
    assert alignment.n_anchors == 12 and alignment.kendall_tau is not None
    assert "Anchor alignment: Kendall tau" in output
    assert sum(a.comparisons for a in alignment.anchors) == 2 * len([c for c in results.comparisons if c.winner])
    for anchor in alignment.anchors:
        assert anchor.win_rate == pytest.approx(anchor.wins / anchor.comparisons, abs=1e-4)
    assert {a.id for a in alignment.zero_win_anchors} == {a.id for a in alignment.anchors if a.wins == 0}
    for inversion in alignment.direct_inversions:
        assert artefact.run.grades.index(inversion.winner.grade) < artefact.run.grades.index(inversion.loser.grade)
        assert inversion.justification
    assert results.grade_projections.available is False
    assert {e.role for e in results.bt_summary.essays} == {"anchor"}  # graded by the runner, not the service
    _assert_checksums_match(tmp_path, artefact)


@pytest.mark.django_db
def test_plan_reads_docx_and_pdf_inputs(tmp_path, sample):
    from tests.research.conftest import write_docx, write_pdf

    for path in sorted((sample / "essays").glob("essay_0[1-4].txt")):
        paragraphs = path.read_text(encoding="utf-8").split("\n\n")
        if path.stem.endswith(("1", "2")):
            write_docx(path.with_suffix(".docx"), paragraphs)
        else:
            write_pdf(path.with_suffix(".pdf"), [line for p in paragraphs for line in p.splitlines()][:40])
        path.unlink()
    output = _eng5("plan", *inputs_of(sample))
    assert "essay_01.docx" in output and "essay_03.pdf" in output and "Student essays: 24" in output


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (lambda s: [p.unlink() for p in (s / "essays").iterdir()], "empty folder"),
        (lambda s: (s / "anchors" / "anchor_grades.csv").write_text("file,grade\nB.txt,Q\n"), "unknown grade 'Q'"),
        (lambda s: (s / "essays" / "essay_99.docx").write_bytes(b"garbage"), "essay_99.docx: cannot be opened as a Word"),
        (lambda s: (s / "essays" / "essay_01.md").write_text("Another copy of essay one."), "duplicate ids"),
    ],
    ids=["empty-folder", "unknown-grade", "unreadable-file", "duplicate-ids"],
)
def test_bad_inputs_stop_every_mode_with_a_clear_error(sample, spoil, expected):
    spoil(sample)
    for mode in ("plan", "dry-run", "execute"):
        with pytest.raises(CommandError, match=expected.replace("(", r"\(")):
            _eng5(mode, *inputs_of(sample))
    assert not Batch.objects.exists()


def test_a_bad_input_exits_with_a_non_zero_status(sample):
    (sample / "anchors" / "anchor_grades.csv").write_text("file,grade\nB.txt,Q\n")
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "manage.py", "eng5", "plan", *inputs_of(sample)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "unknown grade 'Q'" in done.stderr and str(sample / "anchors" / "B.txt") in done.stderr


@pytest.mark.django_db
def test_an_invalid_judge_is_refused_naming_the_option():
    with pytest.raises(CommandError, match="--model: 'gpt-99' is not a openai model"):
        _eng5("plan", "--provider", "openai", "--model", "gpt-99")
    with pytest.raises(CommandError, match="set ANTHROPIC_API_KEY"):
        _eng5("execute", "--provider", "anthropic")


@pytest.mark.django_db(transaction=True)
def test_execute_can_reuse_an_assignment_with_its_anchors(tmp_path, owner):
    from assessments import services

    assignment = services.assignment_create(
        owner=owner,
        title="Role models (registered earlier)",
        student_prompt=(SAMPLE_DIR / "instructions.md").read_text(),
        instructions=(SAMPLE_DIR / "rubric.md").read_text(),
        grade_scale="eng5_np_legacy_9_step",
    )
    for name, grade in (("F+", "F+"), ("D+", "D+"), ("B", "B"), ("A", "A")):
        text = (SAMPLE_DIR / "anchors" / f"{name}.txt").read_text()
        services.anchor_register(assignment=assignment, label=f"anchor-{grade}", grade=grade, text=text)

    output = _eng5(
        "execute",
        "--assignment-id",
        assignment.pk,
        "--essays",
        SAMPLE_DIR / "essays",
        "--max-comparisons",
        "40",
        "--out",
        tmp_path,
    )

    assert f"Anchors: 4 (grades from assignment {assignment.pk})" in output
    batch = Batch.objects.get()
    assert batch.assignment_id == assignment.pk and batch.comparisons_planned == 40
    artefact = _artefact(tmp_path)
    assert {a.grade_source for a in artefact.inputs.anchors} == {"assignment"}
    assert {e.id for e in artefact.results.bt_summary.essays if e.role == "anchor"} == {a.id for a in artefact.inputs.anchors}
    assert artefact.results.anchor_alignment.n_anchors == 4


@pytest.mark.django_db(transaction=True)
def test_collect_writes_the_results_of_a_run_that_did_not_wait(tmp_path):
    out = tmp_path / "run"
    _eng5("execute", "--out", out, "--comparisons-per-essay", 2)
    finished = _artefact(out)
    # What `--no-wait` leaves: the artefact without results, the batch still running.
    unfinished = finished.model_copy(update={"results": None, "run": finished.run.model_copy(update={"state": "running"})})
    for path in out.iterdir():
        path.unlink()
    (out / "artefact.json").write_text(unfinished.model_dump_json(indent=2), encoding="utf-8")
    batch = Batch.objects.get(pk=finished.run.batch_id)
    Batch.objects.filter(pk=batch.pk).update(state="running", end_reason="", finished_at=None)
    with pytest.raises(CommandError, match=f"batch {batch.pk} is still running"):
        _eng5("collect", "--out", out)

    Batch.objects.filter(pk=batch.pk).update(state=batch.state, end_reason=batch.end_reason, finished_at=batch.finished_at)
    _eng5("collect", "--out", out)
    collected = _artefact(out)
    assert collected.run.state == "completed" and collected.run.run_id == finished.run.run_id
    assert collected.results is not None
    assert collected.results.bt_summary == finished.results.bt_summary  # the same essays under the same run ids
    assert (out / "report.md").exists() and any(p.suffix == ".png" for p in out.iterdir())
    _assert_checksums_match(out, collected)


@pytest.mark.django_db(transaction=True)
def test_an_out_folder_with_another_runs_files_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old_results.csv").write_text("x", encoding="utf-8")
    with pytest.raises(CommandError, match=r"already holds files of another run \(old_results.csv\)"):
        _eng5("dry-run", "--out", out)

    printed = _eng5("dry-run", "--out", out, "--overwrite")
    assert "Deleted 1 file(s) of a previous run" in printed
    assert not (out / "old_results.csv").exists() and (out / "artefact.json").exists()


def test_the_progress_line_counts_against_the_budget_with_round_and_eta():
    from assessments.management.commands.eng5 import Command

    command = Command(stdout=StringIO())
    line = {"rounds": 1, "planned": 108, "succeeded": 40, "failed": 6, "cost_usd": 0.0, "budget": 168}
    command._progress(line)
    command._progress({**line, "rounds": 2, "planned": 168, "succeeded": 103})  # a new round planned: no jump back
    printed = command.stdout._out.getvalue().split("\r")[1:]
    assert printed[0].startswith("[") and "46/168 comparisons (budget) | round 1 | 6 failed" in printed[0]
    assert "109/168 comparisons (budget) | round 2" in printed[1] and "left at most" in printed[1]


def test_the_report_explains_a_negative_ssr():
    from assessments.research.writers import _ssr

    assert _ssr(-5.25).startswith("-5.250: below 0, which means too few comparisons")
    assert _ssr(0.812) == "0.812"


@pytest.mark.django_db(transaction=True)
def test_labels_of_same_grade_anchors_do_not_overlap(tmp_path, monkeypatch):
    from assessments.research import plots

    _eng5("anchor-align", "--out", tmp_path, "--comparisons-per-essay", 3)
    artefact = _artefact(tmp_path)
    boxes: list = []

    def measure(fig, path):
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        boxes.extend(t.get_window_extent(renderer) for t in fig.axes[0].texts)
        return path

    monkeypatch.setattr(plots, "_save", measure)
    plots._anchor_alignment(artefact, tmp_path / "again.png")
    assert len(boxes) == len(artefact.results.anchor_alignment.anchors)
    assert not any(a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1 :])


@pytest.mark.django_db(transaction=True)
def test_two_reproducible_runs_write_byte_identical_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        _eng5("execute", "--comparisons-per-essay", "3", "--seed", "7", "--reproducible", "--out", out)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir()) and "caterpillar.png" in names
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    artefact = _artefact(first)
    assert artefact.run.created_at.year == 2026 and artefact.results.batch.id == 1
    assert [c.id for c in artefact.results.comparisons] == list(range(1, len(artefact.results.comparisons) + 1))
    assert Batch.objects.count() == 2  # two real runs, not one written twice
