"""End-to-end `bench` runs on `shapes`: records, the entry-point plugin, kill-and-resume, discrimination."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import manifest_with, sigkill_when

PLUGIN_PATH = Path(__file__).parent / "plugins" / "palette_plugin"


def bench(*args, check=True, env_extra=None, **kwargs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), os.environ.get("PYTHONPATH", "")]),
           **(env_extra or {})}
    result = subprocess.run([sys.executable, "-m", "semsynth", *args], capture_output=True, text=True, env=env,
                            **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def record_of(stdout: str) -> dict:
    path = [line.split("record: ", 1)[1] for line in stdout.splitlines() if line.startswith("record: ")][0]
    return json.loads(Path(path).read_text())


def test_real_on_shapes_records_and_leaderboard(tmp_path):
    out = bench("run", "--method", "real", "--dataset", "shapes", "--limit", "64", "--out", str(tmp_path / "runs"),
                "--quiet")
    record = record_of(out.stdout)
    assert record["schema"] == 1 and record["method"] == "real" and record["n_layouts"] == 64
    assert record["samples_per_layout"] == 1 and record["seeds"] == [0] and "crc32" in record["seed_rule"]
    fid, miou = record["metrics"]["fid"], record["metrics"]["miou"]
    assert 0 <= fid["value"] < 50 and fid["n_fake"] == 64 and fid["n_real"] == 2000 and fid["reference"] == "train"
    assert fid["backbone"] == "shapes-segnet" and fid["protocol"] == "semsynth-v1"
    assert miou["value"] >= 90 and miou["segmenter"] == "shapes-segnet" and len(miou["per_class"]) == 10
    assert set(record["timing"]) >= {"generate_s", "evaluate_s", "images_per_s"}
    assert set(record["env"]) == {"semsynth", "torch", "device", "device_name", "git"}
    assert record["timing"]["seconds_per_image"] > 0 and record["timing"]["timed_images"] == 64
    assert {"fid", "miou"} <= set(record["metrics_ci"]) and record["fid_infinity"]["fid"]["ns"][-1] == 64
    assert len(list((tmp_path / "runs").rglob("*.png"))) == 64
    bench("leaderboard", "--dataset", "shapes", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "lb"))
    board = (tmp_path / "lb" / "shapes.md").read_text()
    assert "| ref | `real` | 0." in board and "comparable only within the `shapes` track" in board


def test_entry_point_plugin_is_listed_and_runs(tmp_path):
    assert "palette" in bench("list", "methods").stdout.split()
    out = bench("run", "--method", "palette", "--limit", "3", "--samples-per-layout", "2", "--metrics", "miou,lpips",
                "--out", str(tmp_path), "--quiet")
    record = record_of(out.stdout)
    assert record["method"] == "palette" and record["samples_per_layout"] == 2
    assert record["settings"]["noise"] == 24.0
    assert record["metrics"]["lpips"]["value"] > 0


def test_sigkill_then_resume_gives_identical_metrics(tmp_path):
    args = ["run", "--method", "palette", "--set", "delay=0.15", "--limit", "10", "--samples-per-layout", "2",
            "--batch-size", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), os.environ.get("PYTHONPATH", "")])}
    killed_out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "semsynth", *args, "--out", str(killed_out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    manifest = sigkill_when(process, manifest_with(killed_out, lambda lines: len(lines) >= 5), timeout=120)
    assert manifest is not None, "the run never got going"
    run_dir = manifest.parent
    done = len(manifest.read_text().splitlines())
    assert 5 <= done < 20 and not (run_dir / "result.json").exists()

    resumed = record_of(bench(*args, "--resume", str(run_dir)).stdout)
    assert resumed["timing"]["generated"] == 20 - done
    # the cost per image counts the killed attempt's images too (delay=0.15 s each)
    assert resumed["timing"]["timed_images"] >= 20 and resumed["timing"]["seconds_per_image"] >= 0.15
    whole = record_of(bench(*args, "--out", str(tmp_path / "whole")).stdout)
    assert resumed["metrics"] == whole["metrics"]
    assert resumed["metrics_ci"] == whole["metrics_ci"] and resumed["fid_infinity"] == whole["fid_infinity"]
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == \
        sorted(p.name for p in next((tmp_path / "whole").glob("*/samples")).glob("*.png"))


def test_resume_refuses_other_settings(tmp_path):
    out = record_of(bench("run", "--method", "palette", "--limit", "2", "--metrics", "miou", "--out", str(tmp_path),
                          "--quiet").stdout)
    run_dir = next(tmp_path.glob("shapes-palette-*"))
    result = bench("run", "--method", "palette", "--limit", "3", "--metrics", "miou", "--resume", str(run_dir),
                   check=False)
    assert result.returncode == 2 and "other inputs (n_layouts: 2 -> 3)" in result.stderr and out


@pytest.mark.parametrize("flag, metric, worse", [("ignore_layout=true", "miou", 40.0),
                                                 ("ignore_seed=true", "lpips", None)])
def test_shapes_discriminates_degenerate_generators(tmp_path, flag, metric, worse):
    common = ["run", "--method", "palette", "--limit", "24", "--samples-per-layout", "3", "--metrics", metric,
              "--quiet"]
    good = record_of(bench(*common, "--out", str(tmp_path / "good")).stdout)["metrics"][metric]["value"]
    bad = record_of(bench(*common, "--set", flag, "--out", str(tmp_path / "bad")).stdout)["metrics"][metric]["value"]
    if worse is not None:
        assert good - bad > worse, (good, bad)
    else:
        assert bad < 1e-9 < good, (good, bad)


def test_user_errors_are_one_line_exit_2(tmp_path):
    cases = [
        ["run", "--method", "nope"],
        ["run", "--method", "palette", "--dataset", "nope"],
        ["run", "--method", "palette", "--metrics", "fid,bogus"],
        ["run", "--method", "palette", "--metrics", "miou,mcsd"],          # palette has no resample
        ["run", "--method", "real", "--metrics", "lpips"],                 # one sample per layout
        ["run", "--method", "palette", "--metrics", "fid", "--segmenter", "shapes-segnet"],
        ["run", "--method", "palette", "--metrics", "miou", "--segmenter", "lpips=shapes-segnet"],
        ["run", "--method", "palette", "--set", "colour=3"],
        ["run", "--method", "palette", "--resume", str(tmp_path / "missing")],
        ["run", "--method", "real", "--dataset", "ade20k", "--data-root", str(tmp_path / "missing")],
        ["weights", "path", "inception-clean-nope"],
        ["leaderboard", "--runs", str(tmp_path / "empty")],
        ["datasets", "check", "--dataset", "ade20k", "--data-root", str(tmp_path / "missing")],
    ]
    for args in cases:
        result = bench(*args, *(["--out", str(tmp_path / "runs")] if args[0] == "run" else []), check=False)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) >= 1 and not any(line.startswith("  File") for line in lines), (args, result.stderr)
    assert not list(tmp_path.rglob("*.png"))    # every error came before generation
    assert "metric 'mcsd' needs a method with resample and 'palette' has none" in \
        bench("run", "--method", "palette", "--metrics", "mcsd", "--out", str(tmp_path), check=False).stderr


def _planned(tmp_path, **config):
    from semsynth.runner import Plan, RunConfig

    plan = Plan(RunConfig(dataset="shapes", out=str(tmp_path), quiet=True, **config), prepare_metrics=False)
    return plan.metric_specs


def test_metrics_the_run_cannot_compute_are_left_out_unless_named(tmp_path):
    assert set(_planned(tmp_path, method="inade")) == {"fid", "lpips", "miou", "texture", "mcsd", "misd"}
    assert set(_planned(tmp_path, method="real")) == {"fid", "miou", "texture"}     # deterministic, no resample
    assert set(_planned(tmp_path, method="shapes-oracle", samples_per_layout=1)) == {"fid", "miou", "texture"}


def test_segmenter_reaches_every_metric_with_a_segmenter_or_the_named_ones(tmp_path, monkeypatch):
    from semsynth import protocols
    from semsynth.errors import UserError

    two = protocols.DatasetProtocol(metrics={"miou": protocols.MetricSpec("miou", {"segmenter": "a"}),
                                             "miou_mf": protocols.MetricSpec("miou", {"segmenter": "b"}),
                                             "lpips": protocols.MetricSpec("lpips", {"backbone": "shapes-segnet"})},
                                    samples_per_layout=2)
    monkeypatch.setitem(protocols.PROTOCOLS, "two-segmenters",
                        protocols.Protocol("two-segmenters", "two mIoU metrics", {"shapes": two}))

    def segmenters(segmenter):
        specs = _planned(tmp_path, method="shapes-oracle", protocol="two-segmenters", segmenter=segmenter)
        return {name: spec.options.get("segmenter") for name, spec in specs.items()}

    assert segmenters(None) == {"miou": "a", "miou_mf": "b", "lpips": None}
    assert segmenters("shapes-segnet") == {"miou": "shapes-segnet", "miou_mf": "shapes-segnet", "lpips": None}
    assert segmenters("miou_mf=shapes-segnet") == {"miou": "a", "miou_mf": "shapes-segnet", "lpips": None}
    assert segmenters("miou=x,miou_mf=y") == {"miou": "x", "miou_mf": "y", "lpips": None}
    with pytest.raises(UserError, match="METRIC=NAME"):
        segmenters("lpips=x")


# -- class / instance diversity: extra samples planned, stored, sharded and resumed like the others -------------

INADE_ARGS = ["run", "--method", "inade", "--limit", "4", "--metrics", "mcsd,misd", "--batch-size", "4", "--quiet"]


@pytest.fixture(scope="module")
def inade_single(tmp_path_factory):
    """One uninterrupted single-process INADE run with mCSD/mISD (the shipped shapes checkpoint)."""
    out = tmp_path_factory.mktemp("inade-single")
    return record_of(bench(*INADE_ARGS, "--out", str(out)).stdout)


def test_region_diversity_is_the_same_over_two_torchrun_ranks_with_per_rank_manifests(tmp_path, inade_single):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc-per-node", "2", "-m", "semsynth", *INADE_ARGS, "--out", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = [path.parent for path in tmp_path.glob("*/result.json")]
    double = json.loads((run_dir / "result.json").read_text())
    for name in ("mcsd", "misd"):
        one, two = inade_single["metrics"][name], double["metrics"][name]
        assert two["n_regions"] == one["n_regions"] and two["n_layouts"] == one["n_layouts"] == 4
    assert double["metrics"] == inade_single["metrics"]        # to every digit: states gathered in plan order
    timing = inade_single["timing"]
    assert timing["generated"] == 16 and timing["extra_generated"] >= 2 * 3 * 4
    keys = {}
    for rank in (0, 1):    # every line of each rank's own manifest is whole and names a sample of its layouts
        lines = [json.loads(line) for line in (run_dir / f"manifest.rank{rank}.jsonl").read_text().splitlines()]
        keys[rank] = {entry["key"] for entry in lines}
        assert len(keys[rank]) == len(lines)
        assert {key.split("_")[1] for key in keys[rank]} == {f"{i:06d}" for i in range(rank, 4, 2)}
    stored = {path.stem for path in (run_dir / "samples").glob("*.png")}
    assert keys[0] | keys[1] == stored and len(stored) == timing["generated"] + timing["extra_generated"]


def test_region_diversity_survives_sigkill_and_resume(tmp_path, inade_single):
    process = subprocess.Popen([sys.executable, "-m", "semsynth", *INADE_ARGS, "--out", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    extras_started = manifest_with(tmp_path, lambda lines: sum("_r" in line for line in lines) >= 5)
    manifest = sigkill_when(process, extras_started, timeout=300)
    assert manifest is not None, "the run never reached its extra samples"
    run_dir = manifest.parent
    done = len(manifest.read_text().splitlines())
    total = inade_single["timing"]["generated"] + inade_single["timing"]["extra_generated"]
    assert 16 < done < total and not (run_dir / "result.json").exists()

    resumed = record_of(bench(*INADE_ARGS, "--resume", str(run_dir)).stdout)
    assert resumed["timing"]["generated"] == 0 and resumed["timing"]["extra_generated"] == total - done
    assert resumed["metrics"] == inade_single["metrics"]


def test_record_names_the_weights_loaded_even_if_the_file_is_replaced_mid_run(tmp_path):
    """result.json carries the sha256 taken when the run loaded its weights, not a re-hash at the end."""
    import shutil

    from semsynth import weights
    from semsynth.runner import Run, RunConfig

    checkpoint = tmp_path / "inade.safetensors"
    shutil.copy(weights.path("inade-shapes"), checkpoint)
    loaded = weights.sha256(checkpoint)
    run = Run(RunConfig(method="inade", dataset="shapes", checkpoint=str(checkpoint), limit=2, metrics=["miou"],
                        out=str(tmp_path / "runs"), quiet=True))
    checkpoint.write_bytes(b"replaced while the run was generating")
    record = run.execute()
    assert record["checkpoint"]["sha256"] == loaded != weights.sha256(checkpoint)
