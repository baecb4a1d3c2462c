"""Launchers of `bench reproduce`: a SIGKILLed plan finishes without redoing finished runs, and submitit's local
executor runs a two-run plan, one job per run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PLUGIN_PATH = Path(__file__).parent / "plugins" / "palette_plugin"

# inade-table2 with two of its rows played by the palette plugin (slow enough to be killed mid-plan)
TRACK = {"track": "test", "dataset": "shapes", "protocol": "semsynth-v1",
         "metrics": {"mIoU": "miou", "accuracy": "miou.pixel_accuracy"},
         "methods": {"INADE": {"method": "palette", "settings": {"delay": 0.3}},
                     "SPADE": {"method": "palette", "settings": {"noise": 8.0, "delay": 0.3}}}}


def test_sigkill_then_same_command_finishes_without_redoing_finished_runs(tmp_path):
    track = tmp_path / "test-track.json"
    track.write_text(json.dumps(TRACK))
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    command = [sys.executable, "-m", "semsynth", "reproduce", "inade-table2", "--track", str(track), "--limit", "6",
               "--samples-per-layout", "1", "--batch-size", "1", "--runs-dir", str(runs), "--reports-dir",
               str(reports), "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline, killed_in = time.time() + 180, None
    while time.time() < deadline and killed_in is None:
        finished = list(runs.glob("inade-table2/*/*/result.json"))
        manifests = [m for m in runs.glob("inade-table2/*/*/manifest.rank0.jsonl")
                     if not (m.parent / "result.json").exists() and 2 <= len(m.read_text().splitlines()) < 6]
        if finished and manifests:
            process.send_signal(signal.SIGKILL)
            killed_in = manifests[0].parent
        time.sleep(0.05)
    process.wait()
    assert killed_in is not None, f"the plan never reached its second run: {process.stderr.read().decode()[-800:]}"
    first = finished[0]
    stamp, done = first.stat().st_mtime_ns, len((killed_in / "manifest.rank0.jsonl").read_text().splitlines())
    assert not (killed_in / "result.json").exists() and not (reports / "inade-table2.test.md").exists()

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert first.stat().st_mtime_ns == stamp                                   # the finished run was not redone
    assert [p.parent for p in runs.glob("inade-table2/*/*/run.json")].count(killed_in) == 1
    resumed = json.loads((killed_in / "result.json").read_text())
    assert resumed["timing"]["generated"] == 6 - done                          # only what the kill left undone
    report = (reports / "inade-table2.test.md").read_text()
    assert "| **INADE** | mIoU |" in report
    assert "| SPADE | mIoU | " in report and "not run" not in report.split("| SPADE | mIoU |")[1].split("\n")[0]


def test_submitit_local_executor_runs_a_two_run_plan(tmp_path):
    import submitit

    from semsynth.reporting.reproduce import Options, reproduce

    options = Options(track="shapes", limit=2, samples_per_layout=2, methods=["shapes-oracle", "real"],
                      metrics=["miou"], runs_dir=str(tmp_path / "runs"), reports_dir=str(tmp_path / "reports"))
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=10)
    report = reproduce("inade-table2", options, executor=executor)
    records = sorted((tmp_path / "runs" / "inade-table2").glob("*/*/result.json"))
    assert len(records) == 2 and {json.loads(p.read_text())["method"] for p in records} == {"shapes-oracle", "real"}
    assert len(list((tmp_path / "submitit").glob("*_result.pkl"))) == 2          # one job per run
    text = report.read_text()
    for method in ("shapes-oracle", "real"):
        line = next(line for line in text.splitlines() if line.startswith(f"| {method} |"))
        assert "—" not in line.split("|")[2], line                               # its mIoU is there
    stamps = [p.stat().st_mtime_ns for p in records]
    reproduce("inade-table2", options, executor=executor)                        # nothing left to submit
    assert len(list((tmp_path / "submitit").glob("*_result.pkl"))) == 2
    assert [p.stat().st_mtime_ns for p in records] == stamps


@pytest.mark.slow
def test_torchrun_ranks_walk_the_plan_together_and_shard_each_run(tmp_path):
    args = ["reproduce", "inade-table2", "--track", "shapes", "--methods", "shapes-oracle,real", "--metrics", "miou",
            "--limit", "5", "--samples-per-layout", "2", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "semsynth", *args, "--runs-dir", str(tmp_path / "one"),
                          "--reports-dir", str(tmp_path / "r1")], capture_output=True, text=True, env=env, timeout=600)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "semsynth", *args, "--runs-dir", str(tmp_path / "two"), "--reports-dir",
                          str(tmp_path / "r2")], capture_output=True, text=True, env=env, timeout=600)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("report: ") == 1                                    # rank 0 writes the report
    for name in ("shapes-oracle", "real"):
        runs = [next((tmp_path / side).glob(f"inade-table2/shapes-{name}-*/*/")) for side in ("one", "two")]
        assert {p.name for p in runs[1].glob("manifest.rank*.jsonl")} == {"manifest.rank0.jsonl",
                                                                             "manifest.rank1.jsonl"}
        metrics = [json.loads((run / "result.json").read_text())["metrics"] for run in runs]
        assert metrics[0] == metrics[1]


@pytest.mark.slow
def test_submitit_job_with_two_tasks_shards_its_run_like_torchrun(tmp_path):
    import submitit

    from semsynth.reporting.reproduce import Options, reproduce

    options = Options(track="shapes", limit=3, samples_per_layout=2, methods=["shapes-oracle"], metrics=["miou"],
                      runs_dir=str(tmp_path / "runs"), reports_dir=str(tmp_path / "reports"))
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=10, tasks_per_node=2)
    report = reproduce("inade-table2", options, executor=executor)
    run = next((tmp_path / "runs").glob("inade-table2/shapes-shapes-oracle-*/*/"))
    assert {p.name for p in run.glob("manifest.rank*.jsonl")} == {"manifest.rank0.jsonl", "manifest.rank1.jsonl"}
    assert (run / "result.json").is_file() and "| shapes-oracle |" in report.read_text()


def test_a_finished_run_of_since_retrained_weights_is_run_again(tmp_path, monkeypatch):
    """Same plan, same weights name, another file behind it: the earlier record is not reported, a new run is."""
    import torch

    from semsynth.launchers import RunJob
    from semsynth.methods.dpsims.generator import Generator, GeneratorConfig
    from semsynth.methods.dpsims.method import DPSIMS
    from semsynth.reporting.plan import RunSpec

    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path / "weights"))
    (tmp_path / "weights").mkdir()

    def train(seed: int) -> None:
        torch.manual_seed(seed)
        tiny = GeneratorConfig(encoder_channels=(4,) * 5, image_channels=(4,) * 5, pyramid_channels=4, spade_hidden=4)
        DPSIMS.from_generator(Generator(tiny), instances=True).save(tmp_path / "weights" / "dpsims_shapes_div0"
                                                                    ".safetensors")

    spec = RunSpec("dpsims", "shapes", "semsynth-v1", ("miou",), weights="dpsims-shapes-div0", limit=2,
                   samples_per_layout=1)
    job = RunJob(spec, tmp_path / "runs")
    train(0)
    first = job()
    assert first["how"] == "ran" and job() == {**first, "how": "earlier"}
    train(1)
    again = job()
    assert again["how"] == "ran" and again["record"] != first["record"] and Path(first["record"]).exists()
    recorded = [json.loads(Path(r["record"]).read_text())["checkpoint"]["sha256"] for r in (first, again)]
    assert recorded[0] != recorded[1]
