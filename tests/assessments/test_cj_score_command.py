"""`manage.py cj_score`: any CJ judgement file in, reliability and per-item estimates out."""

import csv
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("CJ_META_ANALYSIS_DIR", ROOT.parent / "shared" / "datasets" / "cj-meta-analysis"))


def _write(tmp_path, text, name="judgements.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _simulated_file(tmp_path, *, first_shown=False, n=8, m=400, bias=0.0, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.linspace(-2, 2, n)
    lines = ["judge,winner,loser" + (",first_shown" if first_shown else "")]
    for row in range(m):
        a, b = rng.choice(n, size=2, replace=False)
        first_wins = rng.random() < 1 / (1 + np.exp(-(truth[a] - truth[b] + bias)))
        winner, loser = (a, b) if first_wins else (b, a)
        lines.append(f"j{row % 4},item{winner},item{loser}" + (f",item{a}" if first_shown else ""))
    return _write(tmp_path, "\n".join(lines) + "\n")


def _run(*args):
    out, err = StringIO(), StringIO()
    call_command("cj_score", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_one_json_object_with_every_item_ranked(tmp_path):
    out, _ = _run(_simulated_file(tmp_path), "--json", "--split-halves", "5")
    result = json.loads(out)
    assert {"items", "reliability", "ssr", "ssr_sirt", "separation", "n_items", "n_comparisons"} <= set(result)
    assert (result["n_items"], result["n_comparisons"]) == (8, 400)
    assert [item["rank"] for item in result["items"]] == list(range(1, 9))
    assert set(result["items"][0]) == {"id", "theta", "se", "infit", "outfit", "comparisons", "rank"}
    truth = [int(item["id"].removeprefix("item")) for item in result["items"]]  # true order is by index
    assert np.corrcoef(truth, range(8, 0, -1))[0, 1] > 0.9
    assert 0.5 < result["ssr"] < 1.0
    assert 0.5 < result["reliability"] < 1.0 and result["population_sd"] > 0
    assert result["split_half"]["n_splits"] == 5
    assert result["position_bias"] is None


def test_it_writes_the_per_item_csv(tmp_path):
    out_file = tmp_path / "results.csv"
    out, _ = _run(_simulated_file(tmp_path), "--out", out_file, "--split-halves", "0")
    rows = list(csv.DictReader(out_file.open()))
    assert list(rows[0]) == ["id", "theta", "se", "infit", "outfit", "comparisons", "rank"]
    assert len(rows) == 8
    assert sum(float(r["theta"]) for r in rows) == pytest.approx(0.0, abs=1e-6)
    assert "written to" in out


def test_it_measures_position_bias_when_first_shown_is_known(tmp_path):
    out, _ = _run(_simulated_file(tmp_path, first_shown=True, m=3000, bias=0.6), "--split-halves", "0")
    assert "Position bias: first shown won" in out
    result = json.loads(_run(_simulated_file(tmp_path, first_shown=True, m=3000, bias=0.6), "--json", "--split-halves", "0")[0])
    bias = result["position_bias"]
    assert bias["order_effect"] == pytest.approx(0.6, abs=3 * bias["order_effect_se"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1: the file is empty"),
        ("a,b\nx,y\n", "line 1"),
        ("winner,loser\nx,\n", "line 2, column loser"),
        ("winner,loser,first_shown\nx,y,z\n", "line 2, column first_shown"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_and_column(tmp_path, text, expected):
    with pytest.raises(CommandError, match=expected):
        _run(_write(tmp_path, text))


def test_a_bad_file_exits_non_zero(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "cj_score", str(_write(tmp_path, "winner,loser\nx,\n"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "line 2, column loser" in result.stderr


def test_self_comparisons_are_skipped_and_reported_unless_strict(tmp_path):
    path = _write(tmp_path, "winner,loser\na,b\nb,c\nc,c\nc,a\na,c\n")
    out, err = _run(path, "--json", "--split-halves", "0")
    assert json.loads(out)["skipped_lines"] == [4]
    assert "skipped 1 rows comparing an item with itself (lines 4)" in err
    with pytest.raises(CommandError, match="line 4"):
        _run(path, "--strict")


def test_a_disconnected_design_is_reported_and_refused_when_strict(tmp_path):
    path = _write(tmp_path, "winner,loser\na,b\nb,a\na,b\nc,d\nd,c\nc,d\n")
    out, _ = _run(path, "--split-halves", "0")
    assert "2 disconnected groups" in out
    items = json.loads(_run(path, "--json", "--split-halves", "0")[0])["items"]
    assert {item["id"]: item["component"] for item in items} == {"a": 0, "b": 0, "c": 1, "d": 1}
    with pytest.raises(CommandError, match="2 disconnected groups of items"):
        _run(path, "--strict")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared CJ data not found at {SHARED}")
def test_it_reproduces_sirt_on_a_real_session():
    session = "AlMaimani2017"
    result = json.loads(_run(SHARED / "data" / f"{session}.csv", "--json", "--split-halves", "0")[0])
    reference = {row["individual"]: row for row in csv.DictReader((SHARED / "data-cache" / session / "btm_results.csv").open())}
    ours = {item["id"]: item["theta"] for item in result["items"]}
    assert np.corrcoef([ours[k] for k in reference], [float(r["theta"]) for r in reference.values()])[0, 1] > 0.999
    sirt_ssr = float(next(csv.DictReader((SHARED / "data-cache" / session / "btm_ssr.csv").open()))["ssr"])
    assert result["ssr_sirt"] == pytest.approx(sirt_ssr, abs=0.01)


def test_the_population_reliability_can_be_skipped(tmp_path):
    out, _ = _run(_simulated_file(tmp_path), "--json", "--split-halves", "0", "--no-reliability")
    assert json.loads(out)["reliability"] is None
