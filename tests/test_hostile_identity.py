"""Hostile use of runs, with real files and real `bench` processes: changed inputs on resume, damaged or orphaned
files, two processes on one folder, checks before anything is written, file modes, the process count, and
`bench sample --run` repeating a run's samples byte for byte."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests import standins
from tests.fixtures_datasets import write_ade20k
from tests.test_runner import PLUGIN_PATH, bench, record_of

PALETTE = ["run", "--method", "palette", "--quiet"]
SLOW = [*PALETTE, "--set", "delay=0.6", "--limit", "8", "--samples-per-layout", "2", "--batch-size", "1",
        "--metrics", "miou"]        # 0.6 s a sample: about 10 s in all


def _env(**extra):
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), os.environ.get("PYTHONPATH", "")]),
            **extra}


def _refused(result, *needles):
    """Exit 2, exactly one line on stderr, no traceback, the line naming every needle."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _run_dir(out: Path) -> Path:
    (run_dir,) = [path for path in out.iterdir() if path.is_dir()]
    return run_dir


def _pngs(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.png"))}


def _start_slow(out: Path) -> tuple[subprocess.Popen, Path]:
    """The SLOW run in a process of its own; returns it once its manifest has 2 lines."""
    process = subprocess.Popen([sys.executable, "-m", "semsynth", *SLOW, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        found = list(out.glob("*/manifest.rank0.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 2:
            return process, found[0].parent
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the run never got going: {process.communicate()[1][-2000:]}")


# -- item 2: the run identity --------------------------------------------------------------------------------

def test_resume_refuses_weights_with_other_bytes(tmp_path):
    weights = tmp_path / "inade_copy.safetensors"
    shutil.copy(Path(__file__).parents[1] / "semsynth" / "assets" / "inade_shapes.safetensors", weights)
    args = ["run", "--method", "inade", "--checkpoint", str(weights), "--limit", "2", "--samples-per-layout", "1",
            "--metrics", "miou", "--quiet"]
    first = record_of(bench(*args, "--out", str(tmp_path / "runs")).stdout)
    run_dir = _run_dir(tmp_path / "runs")
    assert first["checkpoint"]["path"] == str(weights.resolve()) and len(first["checkpoint"]["sha256"]) == 64
    assert record_of(bench(*args, "--resume", str(run_dir)).stdout)["metrics"] == first["metrics"]

    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01                                    # one bit of the last tensor: still a loadable file
    weights.write_bytes(bytes(data))
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    _refused(bench(*args, "--resume", str(run_dir), check=False), "checkpoint_sha256",
             first["checkpoint"]["sha256"][:20], "start a new run")
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before


def test_resume_refuses_a_second_weights_file_with_other_bytes(tmp_path):
    """PITI loads two files (base + ``upsample_weights``): the identity and the record hold both sha256."""
    upsampler = tmp_path / "upsampler_copy.safetensors"
    shutil.copy(Path(__file__).parents[1] / "semsynth" / "assets" / "piti_shapes_upsample.safetensors", upsampler)
    args = ["run", "--method", "piti", "--set", f"upsample_weights={upsampler}", "--set", "steps=2", "--set",
            "up_steps=2", "--limit", "2", "--samples-per-layout", "1", "--metrics", "miou", "--quiet"]
    first = record_of(bench(*args, "--out", str(tmp_path / "runs")).stdout)
    assert first["extra_weights"]["upsample_weights"]["path"] == str(upsampler.resolve())
    data = bytearray(upsampler.read_bytes())
    data[-3] ^= 0x01                                    # one bit of the last tensor: still a loadable file
    upsampler.write_bytes(bytes(data))
    _refused(bench(*args, "--resume", str(_run_dir(tmp_path / "runs")), check=False), "extra_weights_sha256",
             "start a new run")


@pytest.fixture(scope="module")
def ade_with_alexnet(tmp_path_factory):
    """An ADE20K-layout folder and a weights folder with a stand-in AlexNet trunk (LPIPS on ade20k)."""
    root = tmp_path_factory.mktemp("ade")
    write_ade20k(root / "a")
    (root / "weights").mkdir()
    standins.alexnet(root / "weights" / "alexnet-owt-7be5be79.pth", seed=1)
    return root


def test_resume_refuses_another_data_root_and_accepts_the_same_one_spelled_otherwise(ade_with_alexnet, tmp_path):
    env = {"SEMSYNTH_WEIGHTS": str(ade_with_alexnet / "weights")}
    args = [*PALETTE, "--dataset", "ade20k", "--limit", "2", "--samples-per-layout", "2", "--metrics", "lpips"]
    first = record_of(bench(*args, "--data-root", str(ade_with_alexnet / "a"), "--out", str(tmp_path / "runs"),
                            env_extra=env).stdout)
    run_dir = _run_dir(tmp_path / "runs")
    assert first["data_root"] == str((ade_with_alexnet / "a").resolve())
    again = bench(*args, "--data-root", "a", "--resume", str(run_dir), env_extra=env, cwd=ade_with_alexnet)
    again = record_of(again.stdout)
    assert again["metrics"] == first["metrics"] and again["timing"]["generated"] == 0

    shutil.copytree(ade_with_alexnet / "a", tmp_path / "b")       # the same files, another root
    _refused(bench(*args, "--data-root", str(tmp_path / "b"), "--resume", str(run_dir), env_extra=env,
                   check=False), "data_root", "restore")


def test_sample_run_refuses_a_changed_data_root_from_the_environment(ade_with_alexnet, tmp_path):
    env = {"SEMSYNTH_WEIGHTS": str(ade_with_alexnet / "weights"), "SEMSYNTH_DATA": str(tmp_path / "data")}
    write_ade20k(tmp_path / "data" / "ade20k")
    bench(*PALETTE, "--dataset", "ade20k", "--limit", "1", "--samples-per-layout", "2", "--metrics", "lpips",
          "--out", str(tmp_path / "runs"), env_extra=env)
    run_dir = _run_dir(tmp_path / "runs")
    write_ade20k(tmp_path / "other" / "ade20k")
    moved = {**env, "SEMSYNTH_DATA": str(tmp_path / "other")}
    _refused(bench("sample", "--run", str(run_dir), "--index", "0", "--out", str(tmp_path / "g.png"),
                   env_extra=moved, check=False), "data_root")
    assert not (tmp_path / "g.png").exists()


def test_run_json_of_the_old_format_is_refused_with_the_reason(tmp_path):
    args = [*PALETTE, "--limit", "2", "--metrics", "miou"]
    bench(*args, "--out", str(tmp_path))
    run_dir = _run_dir(tmp_path)
    saved = json.loads((run_dir / "run.json").read_text())
    old = {"identity": {"method": "palette", "dataset": "shapes", "checkpoint": None, "split": None, "limit": 2,
                        "samples_per_layout": None, "metrics": ["miou"], "segmenter": None,
                        "protocol": "semsynth-v1", "settings": {}}, "config": saved["config"]}
    (run_dir / "run.json").write_text(json.dumps(old))
    _refused(bench(*args, "--resume", str(run_dir), check=False), "earlier semsynth", "sha256", "start a new run")
    (run_dir / "run.json").write_text("{garbage")
    _refused(bench(*args, "--resume", str(run_dir), check=False), "not valid JSON")


# -- item 9: everything checked before the run folder exists ---------------------------------------------------

@pytest.mark.parametrize("args, needles", [
    (["--method", "palette", "--metrics", "miou", "--segmenter", "nope"], ["nope"]),
    (["--method", "palette", "--metrics", "miou", "--segmenter", "miou=nope"], ["nope"]),
    (["--method", "palette", "--set", "colour=3"], ["colour"]),
    (["--method", "palette", "--metrics", "mcsd"], ["resample"]),
    (["--method", "real", "--metrics", "lpips"], ["samples per layout"]),
])
def test_refused_runs_leave_no_folder(tmp_path, args, needles):
    _refused(bench("run", *args, "--limit", "2", "--out", str(tmp_path / "runs"), check=False), *needles)
    assert not (tmp_path / "runs").exists()


def test_missing_method_weights_evaluator_weights_and_data_are_reported_together(tmp_path):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    result = bench("run", "--method", "sdm", "--dataset", "ade20k", "--data-root", str(tmp_path / "no-data"),
                   "--limit", "1", "--out", str(tmp_path / "runs"), check=False,
                   env_extra={"SEMSYNTH_WEIGHTS": str(empty), "SEMSYNTH_CACHE": str(tmp_path / "cache"),
                              "TORCH_HOME": str(tmp_path / "torch")})
    _refused(result, "inputs are missing: (1)", "'sdm-ade20k'", "no-data", "'inception-torchscript'",
             "'alexnet-torchvision'")                   # the method's weights, the data, the evaluators'
    assert not (tmp_path / "runs").exists()


def test_a_run_whose_metrics_would_be_empty_is_refused(tmp_path, monkeypatch):
    from semsynth import protocols
    from semsynth.errors import UserError
    from semsynth.runner import Run, RunConfig

    only_diversity = protocols.DatasetProtocol(metrics={"lpips": protocols.MetricSpec("lpips", {
        "backbone": "shapes-segnet"})}, samples_per_layout=2)
    monkeypatch.setitem(protocols.PROTOCOLS, "diversity-only",
                        protocols.Protocol("diversity-only", "LPIPS only", {"shapes": only_diversity}))
    with pytest.raises(UserError, match="no metric of protocol 'diversity-only'.*deterministic"):
        Run(RunConfig(method="real", dataset="shapes", protocol="diversity-only", out=str(tmp_path / "runs")))
    assert not (tmp_path / "runs").exists()


# -- items 6, 11, 12: damaged samples, two processes, orphans ----------------------------------------------------

def test_damaged_and_deleted_samples_are_generated_again_with_one_warning(tmp_path):
    args = [*PALETTE, "--limit", "4", "--samples-per-layout", "2", "--metrics", "miou,lpips", "--batch-size", "3"]
    whole = record_of(bench(*args, "--out", str(tmp_path / "whole")).stdout)
    expected = _pngs(_run_dir(tmp_path / "whole") / "samples")
    bench(*args, "--out", str(tmp_path / "runs"))
    run_dir = _run_dir(tmp_path / "runs")
    samples = sorted((run_dir / "samples").glob("*.png"))
    samples[0].write_bytes(samples[0].read_bytes()[:100])                      # truncated
    samples[1].write_bytes(samples[1].read_bytes()[:-20])                      # IEND and part of the data lost
    from PIL import Image
    Image.new("RGB", (32, 32)).save(samples[2])                                # wrong size
    samples[3].unlink()                                                        # deleted
    (run_dir / "result.json").unlink()

    resumed = bench(*args, "--resume", str(run_dir))
    warnings = [line for line in resumed.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: 3 stored sample(s)"), resumed.stderr
    record = record_of(resumed.stdout)
    assert record["timing"]["generated"] == 4 and record["metrics"] == whole["metrics"]
    assert _pngs(run_dir / "samples") == expected


def test_second_process_on_a_run_folder_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    process, run_dir = _start_slow(tmp_path)
    try:
        _refused(bench(*SLOW, "--resume", str(run_dir), check=False), f"in use by process {process.pid}")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    # what a writer killed in the middle of a file leaves: temporaries beside the samples and the record
    orphans = [run_dir / "samples" / ".val_000007_s12345.png.a1b2c3d4", run_dir / ".result.json.k_9x2z1q",
               run_dir / ".run.json.0f0f0f0f"]
    for orphan in orphans:
        orphan.write_bytes(b"\x89PNG half")
    done = len((run_dir / "manifest.rank0.jsonl").read_text().splitlines())
    record = record_of(bench(*SLOW, "--resume", str(run_dir)).stdout)
    assert record["timing"]["generated"] == 16 - done
    assert not any(orphan.exists() for orphan in orphans)
    assert not [path for path in run_dir.rglob(".*") if path.name != ".lock"]


# -- item 13: file modes follow the umask ------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_records_samples_and_leaderboards_follow_the_umask(tmp_path, umask, mode):
    def with_umask():
        os.umask(umask)

    for args in ([*PALETTE, "--limit", "2", "--metrics", "miou", "--out", str(tmp_path / "runs")],
                 ["leaderboard", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "boards")]):
        result = subprocess.run([sys.executable, "-m", "semsynth", *args], capture_output=True, text=True,
                                env=_env(), preexec_fn=with_umask)
        assert result.returncode == 0, result.stderr
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"run.json", "result.json", "manifest.rank0.jsonl", "shapes.md"} <= names and len(files) >= 7
    assert {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in files} == \
        {path.name: oct(mode) for path in files}


# -- item 3: the number of processes does not move a metric ------------------------------------------------------

def test_two_torchrun_processes_give_the_metrics_of_one_to_every_digit(tmp_path):
    args = [*PALETTE, "--limit", "7", "--samples-per-layout", "2", "--metrics", "fid,miou,lpips"]
    one = record_of(bench(*args, "--batch-size", "5", "--out", str(tmp_path / "one")).stdout)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             "-m", "semsynth", *args, "--batch-size", "3", "--out", str(tmp_path / "two")],
                            capture_output=True, text=True, env=_env(OMP_NUM_THREADS="1"), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    two = json.loads((_run_dir(tmp_path / "two") / "result.json").read_text())
    assert two["metrics"] == one["metrics"]
    # bootstrap intervals and FID-infinity come from the same rows in plan order: also to every digit
    assert set(one["metrics_ci"]) == {"fid", "miou", "lpips"} and two["metrics_ci"] == one["metrics_ci"]
    assert two["fid_infinity"] == one["fid_infinity"] and one["fid_infinity"]["fid"]["ns"][-1] == 7
    assert _pngs(_run_dir(tmp_path / "two") / "samples") == _pngs(_run_dir(tmp_path / "one") / "samples")


# -- item 15: the record's seeds and `bench sample --run` ----------------------------------------------------------

def test_record_names_every_sample_seed_and_sample_run_repeats_the_pngs_byte_for_byte(tmp_path):
    record = record_of(bench(*PALETTE, "--limit", "3", "--samples-per-layout", "3", "--batch-size", "4",
                             "--metrics", "miou,lpips", "--out", str(tmp_path / "runs")).stdout)
    run_dir = _run_dir(tmp_path / "runs")
    stored = _pngs(run_dir / "samples")
    assert record["seeds"] == [0, 1, 2] and "sample_seeds" in record["seed_rule"]
    assert {f"{example}_s{seed}.png" for example, seeds in record["sample_seeds"].items() for seed in seeds} == \
        set(stored)
    from semsynth.runner import sample_seed
    assert record["sample_seeds"]["val_000001"] == [sample_seed("val_000001", k) for k in range(3)]

    out = bench("sample", "--run", str(run_dir), "--index", "1", "--out", str(tmp_path / "grid.png"))
    written = _pngs(tmp_path / "grid")
    assert len(written) == 3 and all(stored[name] == data for name, data in written.items())
    assert (tmp_path / "grid.png").is_file() and out.stdout.count("wrote ") == 4
    _refused(bench("sample", "--run", str(run_dir), "--index", "3", "--out", str(tmp_path / "g.png"), check=False),
             "--index 3")
    _refused(bench("sample", "--run", str(run_dir), "--method", "palette", "--out", str(tmp_path / "g.png"),
                   check=False), "--method")


def test_sample_images_equal_the_stored_ones_as_tensors_too(tmp_path):
    """The same through the Python API, on a method with weights (INADE, batch of 4 in the run, 1 by 1 here)."""
    from semsynth.reporting.grid import run_samples
    from semsynth.store import read_png

    bench("run", "--method", "inade", "--limit", "2", "--samples-per-layout", "2", "--batch-size", "4",
          "--metrics", "miou", "--quiet", "--out", str(tmp_path / "runs"))
    run_dir = _run_dir(tmp_path / "runs")
    files = run_samples(run_dir, 0, tmp_path / "g.png")
    for file in files[:-1]:
        assert torch.equal(read_png(file), read_png(run_dir / "samples" / file.name))
        assert file.read_bytes() == (run_dir / "samples" / file.name).read_bytes()


def test_garbage_manifest_lines_are_redone_not_a_traceback(tmp_path):
    """Lines that are not ours (binary junk, other JSON, names outside samples/) are skipped on resume, and their
    samples generated again: same metrics as the first run."""
    args = [*PALETTE, "--limit", "2", "--samples-per-layout", "2", "--metrics", "miou"]
    first = record_of(bench(*args, "--out", str(tmp_path)).stdout)
    run_dir = _run_dir(tmp_path)
    manifest = run_dir / "manifest.rank0.jsonl"
    manifest.write_bytes(manifest.read_bytes() + b'\xff\xfe junk\n[1]\n{"file": 5}\n{"file": "../run.json"}\n')
    (run_dir / "result.json").unlink()
    resumed = bench(*args, "--out", str(tmp_path), "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert record_of(resumed.stdout)["metrics"]["miou"]["value"] == first["metrics"]["miou"]["value"]


def test_impossible_plan_sizes_and_too_few_images_for_fid_are_one_line(tmp_path):
    huge = bench(*PALETTE, "--limit", "2", "--samples-per-layout", str(10**8), "--out", str(tmp_path),
                 check=False)
    _refused(huge, "--samples-per-layout")
    single = bench("run", "--method", "shapes-oracle", "--limit", "1", "--samples-per-layout", "1",
                   "--metrics", "fid", "--quiet", "--out", str(tmp_path), check=False)
    _refused(single, "FID needs at least 2 images")
