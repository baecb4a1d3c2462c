"""``bench run --task joint`` and the track rows that ask for it: GCDP Table 1's joint generation (image and layout
from noise) scored by FID, mIoU of the segmenter against the generated layout and FSD, through the resumable runner
and ``bench reproduce gcdp-table1``. The shipped gcdp shapes weights at 2 sampling steps, 2-3 pairs."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from semsynth import cli, load_method, load_segmenter
from semsynth.reporting import plan as plans
from semsynth.reporting.leaderboard import load_records
from semsynth.reporting.reproduce import Options, reproduce
from semsynth.runner import sample_seed
from semsynth.store import png_bytes, read_label_png, read_png

FAST = ["--set", "steps=2", "--quiet", "--batch-size", "2"]


def _run(out: Path, *extra: str) -> dict:
    code = cli.main(["run", "--method", "gcdp", "--task", "joint", "--protocol", "gcdp-paper", "--limit", "3",
                     "--out", str(out), *FAST, *extra])
    assert code == 0
    return json.loads(next(out.glob("*/result.json")).read_text())


def test_track_rows_ask_for_the_joint_task():
    plan = plans.build("gcdp-table1", "shapes", limit=4)
    ours = [cell for cell in plan.cells if cell.method == "Ours"]
    assert {cell.metric for cell in ours} == {"FID", "mIoU", "FSD"} and len({cell.run for cell in ours}) == 1
    run = ours[0].run
    assert (run.task, run.protocol, run.metrics) == ("joint", "gcdp-paper", ("fid", "miou", "fsd"))
    assert "--task joint" in run.command() and run.key != plans.replace(run, task="layout-to-image").key
    assert "--task" not in plans.replace(run, task="layout-to-image").command()
    paper = next(cell.run for cell in plans.build("gcdp-table1", "paper").cells if cell.run is not None)
    assert (paper.task, paper.dataset) == ("joint", "cityscapes")
    track = {**plans.load_track("shapes"),
             "tables": {"gcdp-table1": {"protocol": "gcdp-paper", "rows": {"Ours": {"method": "sdm", "task": "joint"},
                                                                            "GANformer": {"method": "gcdp",
                                                                                          "task": "nope"}}}}}
    reasons = {cell.method: cell.reason for cell in plans.build("gcdp-table1", track).cells}
    assert reasons["Ours"].startswith("method 'sdm' has no joint generation (generate_joint)")
    assert reasons["GANformer"].startswith("unknown task 'nope'")


def test_joint_run_records_fid_miou_against_the_generated_layouts_and_fsd(tmp_path):
    record = _run(tmp_path)
    assert record["task"] == "joint" and (record["n_layouts"], record["samples_per_layout"]) == (3, 1)
    assert set(record["metrics"]) == {"fid", "miou", "fsd"}
    assert (record["metrics"]["fsd"]["generated"], record["metrics"]["fsd"]["reference"]) == ("layouts", "labels")
    run_dir = next(tmp_path.glob("shapes-gcdp-*"))
    identity = json.loads((run_dir / "run.json").read_text())["identity"]
    assert identity["task"] == "joint" and identity["metrics"]["fsd"]["options"]["generated"] == "layouts"
    # the stored pair is the method's generate_joint for the plan's seed, and mIoU compares the segmenter with it
    method = load_method("gcdp", dataset="shapes", steps=2)
    seed = sample_seed("val_000000", 0)
    image, layout = method.generate_joint(seed)
    stored = read_label_png(run_dir / "samples" / f"val_000000_s{seed}_layout.png")
    assert torch.equal(stored, layout.labels)
    segmenter = load_segmenter("shapes-segnet", dataset="shapes")
    keys = [f"{name}_s{seeds[0]}" for name, seeds in sorted(record["sample_seeds"].items())]
    layouts = torch.stack([read_label_png(run_dir / "samples" / f"{key}_layout.png") for key in keys])
    predicted = segmenter.predict(torch.stack([read_png(run_dir / "samples" / f"{key}.png") for key in keys])).cpu()
    ious = [((layouts == c) & (predicted == c)).sum() / ((layouts == c) | (predicted == c)).sum()
            for c in range(10) if ((layouts == c) | (predicted == c)).any()]
    assert abs(100 * float(torch.stack(ious).double().mean()) - record["metrics"]["miou"]["value"]) < 1e-4
    assert load_records(tmp_path) == []                  # joint records stay out of the layout -> image boards


def test_joint_run_resumes_a_damaged_pair_to_the_same_record(tmp_path, capsys):
    first = _run(tmp_path, "--metrics", "miou,fsd")
    run_dir = next(tmp_path.glob("shapes-gcdp-*"))
    layout = next((run_dir / "samples").glob("*_layout.png"))
    layout.write_bytes(png_bytes(torch.zeros(3, 64, 64, dtype=torch.uint8)))    # an RGB file where a label map was
    (run_dir / "result.json").unlink()
    assert cli.main(["run", "--method", "gcdp", "--task", "joint", "--protocol", "gcdp-paper", "--limit", "3",
                     "--metrics", "miou,fsd", "--resume", str(run_dir), *FAST]) == 0
    assert "1 stored sample(s) did not decode or had the wrong size" in capsys.readouterr().err
    again = json.loads((run_dir / "result.json").read_text())
    assert again["metrics"] == first["metrics"] and again["timing"]["generated"] == 1
    assert cli.main(["run", "--method", "gcdp", "--protocol", "gcdp-paper", "--limit", "3", "--metrics", "miou,fsd",
                     "--resume", str(run_dir), *FAST]) == 2                     # the task is part of the identity
    assert "task" in capsys.readouterr().err


def test_joint_task_of_a_method_without_generate_joint_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["run", "--method", "sdm", "--task", "joint", "--limit", "2", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "method 'sdm' has no joint generation" in error and len(error.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
    assert cli.main(["run", "--method", "gcdp", "--task", "joint", "--metrics", "lpips", "--limit", "2",
                     "--out", str(tmp_path)]) == 2
    assert "'lpips' is not defined for joint generation" in capsys.readouterr().err


def test_reproduce_gcdp_table1_fills_the_ours_cells(tmp_path):
    options = Options(track="shapes", limit=2, methods=["gcdp"], runs_dir=str(tmp_path / "runs"),
                      reports_dir=str(tmp_path / "reports"))
    report = reproduce("gcdp-table1", options)
    record = json.loads(next((tmp_path / "runs").rglob("result.json")).read_text())
    assert record["task"] == "joint"
    text = report.read_text()
    assert report.name == "gcdp-table1.shapes.md" and "3 of 12 published cells reproduced" in text
    for metric, key, published in (("FID", "fid", "20.36"), ("mIoU", "miou", "65.80"), ("FSD", "fsd", "42.22")):
        line = next(line for line in text.splitlines() if line.startswith(f"| **Ours** | {metric} |"))
        assert f"Cityscapes {published}" in line and f"{record['metrics'][key]['value']:.2f}" in line, line
        assert "2 pairs (protocol: whole val split)" in line
    assert "gcdp: 2 (image, layout) pairs generated jointly" in text and "--task joint" in text
