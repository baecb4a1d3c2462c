"""The papers' tables as data: every cell is complete, sits on the paper line it names, and the CLI prints them."""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from semsynth.errors import UserError
from semsynth.reporting import published

ROOT = Path(__file__).resolve().parents[1]
PAPERS = Path(os.environ.get("SEMSYNTH_PAPERS", ROOT.parent / "shared" / "papers"))
REQUIRED = {"method", "dataset", "metric", "value", "printed", "direction", "own", "line"}

# Cells counted by hand in the papers: rows x value columns.
EXPECTED_CELLS = {
    "sdm-table1": 12 * 8, "sdm-table2": 3 * 4, "sdm-table3": 12 * 4, "sdm-table4": 5 * 3, "sdm-table5": 2 * 4,
    "inade-table1": 7 * 12, "inade-table2": 8 * 16, "inade-table3": 8 * 12, "inade-table4": 3 * 14,
    "piti-table1": 5 * 6, "piti-table2": 1 * 3, "piti-table3a": 3 * 1, "piti-table3b": 4 * 1, "piti-table4": 3 * 5,
    "piti-table5": 5 * 12, "piti-figure6": 12 * 2,
    "dpsims-table-s4": 4 * 3, "dpsims-table-s5": 9 * 2, "dpsims-table-s6": 4 * 2, "dpsims-table-s7": 3 * 4,
    "dpsims-table-s8": 3 * 2, "dpsims-table-s9": 3 * 3, "dpsims-table-s10": 2 * 3, "dpsims-table-s11": 4 * 2,
    "dpsims-table-s12": 4 * 2, "dpsims-table-s13": 2 * 2,
    "gcdp-table1": 4 * 3,
}


def bench(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "semsynth", *args], capture_output=True, text=True, env=env)


def all_cells():
    for paper in published.papers():
        for spec in paper["tables"]:
            for cell in spec["cells"]:
                yield paper, spec, cell


def test_every_table_has_protocol_title_and_complete_cells():
    assert published.tables(), "no paper file loaded"
    for paper, spec, cell in all_cells():
        assert spec["title"] and isinstance(spec["protocol"], dict) and spec["protocol"], spec["id"]
        assert REQUIRED <= cell.keys(), (spec["id"], cell)
        assert cell["direction"] in ("lower", "higher"), (spec["id"], cell)
        assert isinstance(cell["own"], bool) and isinstance(cell["line"], int)
        if cell["value"]:
            float(cell["value"])
            assert cell["value"] in cell["printed"], (spec["id"], cell)


def test_table_ids_are_unique_and_every_paper_has_an_own_method():
    ids = [spec["id"] for paper in published.papers() for spec in paper["tables"]]
    assert len(ids) == len(set(ids))
    for paper in published.papers():
        assert any(c["own"] for spec in paper["tables"] for c in spec["cells"]), paper["paper"]


def test_cell_counts_match_the_papers():
    counted = {table_id: len(spec["cells"]) for table_id, spec in published.tables().items()}
    assert {k: counted.get(k) for k in EXPECTED_CELLS} == EXPECTED_CELLS
    assert set(counted) == set(EXPECTED_CELLS), "a table without a hand count"
    for spec in published.tables().values():
        assert spec["expected_cells"] == len(spec["cells"])


@pytest.mark.skipif(not PAPERS.is_dir(), reason="paper texts not available (set SEMSYNTH_PAPERS)")
def test_each_cell_is_printed_on_its_source_line():
    for paper, spec, cell in all_cells():
        lines = (PAPERS / paper["paper_file"]).read_text(encoding="utf-8").split("\n")
        caption = lines[spec["caption_line"] - 1].lower()
        if not spec.get("caption_missing"):
            label = spec["title"].split(":")[0].split("(")[0].strip().lower()   # "table 3" of "Table 3(a): ..."
            assert label in caption, (spec["id"], spec["caption_line"])
        line = lines[cell["line"] - 1]
        if cell["printed"]:
            assert cell["printed"] in line, (spec["id"], cell)
        if cell["value"]:
            assert cell["value"] in line, (spec["id"], cell)


def test_unknown_table_names_the_known_ones():
    with pytest.raises(UserError, match="sdm-table1"):
        published.table("sdm-table99")


def test_markdown_has_one_row_per_cell():
    text = published.render_markdown("sdm-table1")
    assert text.count("\n| ") == 1 + len(published.table("sdm-table1"))


def test_cli_list_names_every_table_without_torch():
    result = bench("reproduce", "--list")
    assert result.returncode == 0, result.stderr
    listed = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert listed == list(published.tables())
    code = "import sys; from semsynth.cli import main; main(['reproduce', '--list']); assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True).returncode == 0


def test_cli_published_csv_equals_the_cells():
    result = bench("reproduce", "sdm-table1", "--published", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "table,method,dataset,metric,value"
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    cells = published.table("sdm-table1")
    assert [(r["method"], r["dataset"], r["metric"], r["value"]) for r in rows] == \
        [(c["method"], c["dataset"], c["metric"], c["value"]) for c in cells]
    by_key = {(r["method"], r["dataset"], r["metric"]): r["value"] for r in rows}
    assert by_key[("SDM (Ours)", "Cityscapes", "FID")] == "42.1"
    assert by_key[("OASIS", "CelebAMask-HQ", "FID")] == ""   # printed n/a


@pytest.mark.parametrize("args", [("reproduce", "nope", "--published"), ("reproduce", "sdm-table1", "--track", "nope"),
                                  ("reproduce",)])
def test_cli_user_errors_are_one_line(args):
    result = bench(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_doubts_are_kept_beside_the_printed_value_and_shown_in_markdown():
    cells = published.table("sdm-table1")
    spade = {c["dataset"]: c for c in cells if c["method"] == "SPADE" and c["metric"] == "FID"}
    assert spade["ADE20K"]["value"] == "22.6" and "swapped" in spade["ADE20K"]["doubt"]
    result = bench("reproduce", "sdm-table1", "--published", "--format", "md")
    assert result.returncode == 0 and "look swapped" in result.stdout
