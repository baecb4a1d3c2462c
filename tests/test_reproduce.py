"""`bench reproduce TABLE`: plans from track data, the report without data, the shapes track, and the user errors."""
from __future__ import annotations

import json
import os

import pytest

from semsynth import cli
from semsynth.reporting import plan as plans
from semsynth.reporting import published
from semsynth.reporting.reproduce import Options, reproduce

PAPER = plans.load_track("paper")


def test_track_files_name_only_printed_rows_datasets_and_metrics():
    """A row, dataset or metric renamed in the published data must not silently turn into 'not in the suite'."""
    tables = published.tables()
    printed = {kind: {cell[kind] for spec in tables.values() for cell in spec["cells"]}
               for kind in ("method", "dataset", "metric")}
    for name in ("paper", "shapes"):
        track = plans.load_track(name)
        assert set(track["metrics"]) <= printed["metric"], name
        assert set(track.get("datasets", {})) <= printed["dataset"], name
        assert set(track["methods"]) <= printed["method"], name
        for table_id, entry in track.get("tables", {}).items():
            rows = {cell["method"] for cell in published.table(table_id)}
            assert set(entry.get("rows", {})) <= rows, (name, table_id, set(entry.get("rows", {})) - rows)
    assert set(PAPER["tables"]) == set(tables)      # every table has its protocol preset on the paper track


def test_paper_plan_binds_cells_to_shared_runs_or_reasons():
    plan = plans.build("sdm-table1", "paper", limit=48)
    sdm = [c for c in plan.cells if c.method == "SDM (Ours)" and c.dataset == "ADE20K"]
    assert {c.metric for c in sdm} == {"FID", "LPIPS"} and sdm[0].run == sdm[1].run
    assert sdm[0].run.protocol == "sdm-paper" and sdm[0].run.metrics == ("fid", "lpips")
    assert sdm[0].run.dataset == "ade20k" and sdm[0].run.limit == 48
    spade = next(c for c in plan.cells if c.method == "SPADE")
    assert spade.run is None and spade.reason == "SPADE is not in the suite"
    assert len(plan.runs) == 8 and plan.report_name == "sdm-table1.md"
    accuracy = next(c for c in plans.build("inade-table2", "paper").cells
                    if c.method == "INADE" and c.metric == "accuracy" and c.dataset == "Cityscapes")
    assert (accuracy.key, accuracy.value_field, accuracy.run.protocol) == ("miou", "pixel_accuracy", "inade-paper")
    deepfashion = next(c for c in plans.build("inade-table2", "paper").cells if c.dataset == "DeepFashion")
    assert deepfashion.reason and "not in the suite" in deepfashion.reason


def test_shapes_plan_rows_settings_weights_references_and_filters():
    plan = plans.build("sdm-table4", "shapes", limit=4)
    by_row = {c.method: c for c in plan.cells if c.metric == "FID"}
    assert by_row["SDM structure=yes, condition position=Dec, guidance=no"].run.settings == (("guidance", "1.0"),)
    assert "--set guidance=1.0" in by_row["SDM structure=yes, condition position=Dec, guidance=no"].run.command()
    assert "'sdm-shapes-enc' are not in the catalog" in by_row["SDM structure=no, condition position=Enc, "
                                                               "guidance=no"].reason
    references = {spec.method: spec.metrics for spec in plan.references}
    assert references == {"shapes-oracle": ("fid", "lpips", "miou"), "real": ("fid", "miou")}   # real: K = 1
    only = plans.build("sdm-table1", "shapes", methods=["real"], metrics=["fid"])
    assert [spec.method for spec in only.runs] == ["real"]
    assert next(c for c in only.cells if c.method == "INADE").reason == "left out (--methods real)"
    custom = {**plans.load_track("shapes"), "methods": {"INADE": "inade-v2"}}
    assert next(c for c in plans.build("inade-table2", custom).cells
                if c.method == "INADE").reason == "method 'inade-v2' is not in the suite yet"


def test_report_without_data_names_what_is_missing_per_cell(tmp_path, monkeypatch):
    monkeypatch.delenv("SEMSYNTH_DATA", raising=False)
    report = reproduce("sdm-table1", Options(runs_dir=str(tmp_path / "runs"), reports_dir=str(tmp_path / "reports")))
    text = report.read_text()
    assert report.name == "sdm-table1.md" and "0 of 96 published cells reproduced" in text
    row = next(line for line in text.splitlines() if line.startswith("| **SDM (Ours)** | ADE20K | FID | 27.5 |"))
    numbers = [int(n) for n in row.split("not run, see ", 1)[1].split(" |")[0].strip("[]").split("][")]
    why = {n: line for line in text.splitlines() for n in numbers if line.startswith(f"{n}. ")}
    assert any("no data root for 'ade20k'" in line and "--data-root ade20k=DIR" in line
               and "sceneparsing.csail.mit.edu" in line for line in why.values()), why
    assert "| Pix2PixHD | ADE20K | FID | 81.8 | not run: Pix2PixHD is not in the suite |" in text
    assert "SPADE's ADE20K and COCO-Stuff FIDs look swapped" in text             # the recorded doubts
    assert "bench reproduce sdm-table1 --runs-dir" in text and "bench run --method sdm --dataset ade20k" in text
    assert not list((tmp_path / "runs").rglob("run.json"))                      # nothing started


def test_shapes_report_runs_once_and_reuses_finished_runs(tmp_path):
    options = Options(track="shapes", limit=2, samples_per_layout=2, methods=["shapes-oracle", "real"],
                      metrics=["miou"], runs_dir=str(tmp_path / "runs"), reports_dir=str(tmp_path / "reports"))
    report = reproduce("inade-table2", options)
    records = sorted((tmp_path / "runs" / "inade-table2").glob("*/*/result.json"))
    assert report.name == "inade-table2.shapes.md" and len(records) == 2
    stamps = [path.stat().st_mtime_ns for path in records]
    text = report.read_text()
    oracle = next(line for line in text.splitlines() if line.startswith("| shapes-oracle |"))
    record = json.loads(next(p for p in records if "oracle" in str(p)).read_text())
    assert f"{record['metrics']['miou']['value']:.2f}" in oracle
    assert "| **INADE** | mIoU | Cityscapes 61.02 · ADE20K 34.96" in text and "left out (--methods" in text
    assert (tmp_path / "reports" / "inade-table2.shapes.png").stat().st_size > 10_000
    reproduce("inade-table2", options)
    assert [path.stat().st_mtime_ns for path in sorted((tmp_path / "runs").rglob("result.json"))] == stamps


@pytest.mark.parametrize("args, message", [
    (["sdm-table1", "--launcher", "slurm"], "needs --partition"),
    (["sdm-table1", "--data-root", "/data/ade20k"], "DATASET=DIR"),
    (["sdm-table1", "--track", "nope"], "unknown track 'nope'"),
    (["sdm-table99"], "unknown table 'sdm-table99'"),
])
def test_reproduce_user_errors_are_one_line(args, message, capsys):
    assert cli.main(["reproduce", *args]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_slurm_without_slurm_is_a_user_error(tmp_path, capsys):
    if os.environ.get("SLURM_JOB_ID") or any(os.path.exists(os.path.join(d, "srun"))
                                             for d in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("this machine has SLURM")
    code = cli.main(["reproduce", "sdm-table1", "--track", "shapes", "--launcher", "slurm", "--partition", "gpu",
                     "--runs-dir", str(tmp_path), "--reports-dir", str(tmp_path)])
    assert code == 2 and "no SLURM on this machine" in capsys.readouterr().err


def test_paper_track_takes_the_sizes_the_table_states(monkeypatch):
    stated = published.tables()["sdm-table1"]["protocol"]
    monkeypatch.setitem(stated, "n_layouts", 500)
    monkeypatch.setitem(stated, "samples_per_layout", 3)
    run = next(c.run for c in plans.build("sdm-table1", "paper").cells if c.run is not None)
    assert (run.limit, run.samples_per_layout) == (500, 3)
    run = next(c.run for c in plans.build("sdm-table1", "paper", limit=8).cells if c.run is not None)
    assert (run.limit, run.samples_per_layout) == (8, 3)                       # the command line wins
    run = next(c.run for c in plans.build("sdm-table1", "shapes").cells if c.run is not None)
    assert (run.limit, run.samples_per_layout) == (None, None)                 # shapes keeps semsynth-v1's sizes


def test_published_vs_reproduced_plot_writes_a_png_for_each_track(tmp_path):
    from PIL import Image

    from semsynth.reporting.plots.cells import published_vs_reproduced

    cells = [{"table": "t", "method": m, "dataset": d, "metric": k, "published": p, "reproduced": r}
             for m, d, k, p, r in [("sdm", "ADE20K", "FID", "27.5", 30.1), ("inade", "ADE20K", "FID", "35.2", 33.0),
                                   ("sdm", "ADE20K", "LPIPS", "0.524", None), ("real", "shapes", "FID", None, 0.9)]]
    paper = published_vs_reproduced(cells, tmp_path / "paper.png")
    shapes = published_vs_reproduced([{**c, "track": "shapes"} for c in cells], tmp_path / "shapes.png")
    empty = published_vs_reproduced([{**cells[2]}], tmp_path / "empty.png")
    sizes = [Image.open(path).size for path in (paper, shapes, empty)]
    assert sizes[0][0] > 1.5 * sizes[2][0] and sizes[0][1] < 600     # two metrics: 2 panels in 1 row; one: 1
    assert paper.read_bytes() != shapes.read_bytes()                             # y = x line only on the paper
    assert not list(tmp_path.glob(".*"))                                          # written atomically
