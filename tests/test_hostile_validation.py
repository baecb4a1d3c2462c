"""Hostile inputs of the validation classes (issue 12 items 5, 7, 8, 18): bad settings, devices, output folders,
checkpoints and dataset files. Each is tried with real files through a real ``bench`` process and must end with
exit 2, exactly one stderr line, no traceback and nothing new on disk; the Python API raises the suite's errors."""

from __future__ import annotations

import http.server
import io
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import semsynth
from semsynth import checkpoints, weights
from semsynth.errors import UserError
from semsynth.store import atomic_write_json
from tests import fixtures_datasets as fx

REPO = Path(__file__).resolve().parent.parent
SDM_SHIPPED = weights.ASSETS / "sdm_shapes.safetensors"
INADE_SHIPPED = weights.ASSETS / "inade_shapes.safetensors"


def listing(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def refused(tmp_path: Path, *args: str) -> str:
    """Run ``bench ARGS`` in ``tmp_path/work``; assert the hostile-input contract and return the error line."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    before = listing(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "semsynth", *args, "--quiet"], capture_output=True, text=True,
                            cwd=work, env=env, timeout=600)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert listing(tmp_path) == before, "a refused command left files behind"
    return lines[0]


# -- item 5: settings against declared types and ranges -------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["--guidance", "nan"], "guidance=nan must be a finite number"),
    (["--set", "guidance=Infinity"], "guidance=inf must be a finite number"),
    (["--set", "steps=2.7"], "steps=2.7 must be a whole number"),
    (["--set", "steps=abc"], "steps='abc' must be a whole number"),
    (["--steps", str(10**11)], "steps=100000000000 is out of range; allowed: 1..1000"),
    (["--set", "eta=-0.5"], "eta=-0.5 is out of range"),
    (["--set", "sampler=euler"], "sampler='euler' is not allowed; choose one of ddpm, ddim, dpm-solver++"),
    (["--set", "dtype=[1]"], "dtype=[1] must be a str"),
])
def test_bad_settings_are_one_line_errors(tmp_path: Path, args: list[str], expected: str) -> None:
    line = refused(tmp_path, "run", "--method", "sdm", "--limit", "1", "--out", str(tmp_path / "runs"), *args)
    assert expected in line and "method 'sdm'" in line


def test_settings_are_canonical_and_bools_take_true_false() -> None:
    sys.path.insert(0, str(REPO / "tests" / "plugins" / "palette_plugin"))
    import palette_plugin  # noqa: F401  (registers "palette", whose bools are inferred from their defaults)

    method = semsynth.load_method("palette", noise=8, ignore_seed="true", ignore_layout=False)
    assert method.settings == {"noise": 8.0, "delay": 0.0, "ignore_layout": False, "ignore_seed": True}
    assert isinstance(method.settings["noise"], float)
    with pytest.raises(UserError, match="ignore_seed=1 must be true or false"):
        semsynth.load_method("palette", ignore_seed=1)
    with pytest.raises(UserError, match="delay=1000.0 is out of range"):
        semsynth.load_method("palette", delay=1000.0)
    sdm = semsynth.load_method("sdm", steps=4.0, guidance=2)
    assert sdm.settings["steps"] == 4 and isinstance(sdm.settings["steps"], int) and sdm.settings["guidance"] == 2.0
    from tests.plugins.class_colours import ClassColours   # no declarations at all: types inferred from defaults

    assert ClassColours(noise=3).settings == {"noise": 3.0}
    with pytest.raises(UserError, match="noise=nan must be a finite number"):
        ClassColours(noise=math.nan)


def test_records_are_strict_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "result.json", {"guidance": math.nan})
    assert listing(tmp_path) == set()
    from semsynth.evaluators.miou import scores

    empty = scores(torch.zeros(3, 3))                       # nothing measured: null in the record, not NaN
    assert empty["value"] is None and empty["pixel_accuracy"] is None
    json.dumps(empty, allow_nan=False)


@pytest.mark.parametrize("method, args, expected", [
    ("sdm", ["--set", "lr=abc"], "sdm training: setting lr='abc' must be a number"),
    ("sdm", ["--set", "lr=NaN"], "lr=nan must be a finite number"),
    ("sdm", ["--set", "crop=2.5"], "crop=2.5 must be a whole number"),
    ("sdm", ["--set", "model_channels=abc"], "sdm network: setting model_channels='abc' must be a whole number"),
    ("inade", ["--set", "ngf=abc"], "inade training: setting ngf='abc' must be a whole number"),
    ("sdm", ["--device", "foo"], "unknown device 'foo'"),
])
def test_bad_training_options_are_one_line_errors(tmp_path: Path, method: str, args: list[str],
                                                   expected: str) -> None:
    line = refused(tmp_path, "train", "--method", method, "--steps", "1", "--out", str(tmp_path / "trained"), *args)
    assert expected in line


def test_training_into_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "a_file"
    file.write_text("not a folder")
    assert "is a file, not a folder" in refused(tmp_path, "train", "--method", "sdm", "--steps", "1",
                                                "--out", str(file))


# -- item 8: devices, output folders, Python API ---------------------------------------------------------------

@pytest.mark.parametrize("device, expected", [
    ("foo", "unknown device 'foo'"),
    ("cpu:3", "there is one CPU device"),
    pytest.param("cuda", "no CUDA GPU", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has a GPU")),
])
def test_bad_devices_are_one_line_errors(tmp_path: Path, device: str, expected: str) -> None:
    line = refused(tmp_path, "run", "--method", "shapes-oracle", "--limit", "1", "--device", device,
                   "--out", str(tmp_path / "runs"))
    assert expected in line


def test_unusable_output_folders_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    file = tmp_path / "a_file"
    file.write_text("not a folder")
    assert "a_file is a file, not a folder" in refused(tmp_path, "run", "--method", "shapes-oracle", "--limit", "1",
                                                       "--out", str(file))
    assert "which is a file" in refused(tmp_path, "run", "--method", "shapes-oracle", "--limit", "1",
                                        "--out", str(file / "runs"))
    assert "cannot be written" in refused(tmp_path, "run", "--method", "shapes-oracle", "--limit", "1",
                                          "--out", "/proc/semsynth-runs")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        assert "cannot be written" in refused(tmp_path, "run", "--method", "shapes-oracle", "--limit", "1",
                                              "--out", str(locked / "runs"))
    finally:
        locked.chmod(0o755)


def test_python_api_refuses_bad_seeds_batches_and_devices() -> None:
    method = semsynth.load_method("shapes-oracle")
    layout = semsynth.load_dataset("shapes")[0].layout
    for seed in (2**64, "abc", None, -1, 2.5, True):
        with pytest.raises(UserError, match="seed must be a whole number"):
            method.generate(layout, seed)
        with pytest.raises(UserError, match="seed must be a whole number"):
            method.generate_batch([layout], [seed])
    assert torch.equal(method.generate(layout, np.int64(3)), method.generate(layout, 3))
    with pytest.raises(UserError, match="empty batch"):
        method.generate_batch([], [])
    with pytest.raises(UserError, match="list of layouts"):
        method.generate_batch(layout, [0])
    for device in ("foo", "", "cpu:1"):
        with pytest.raises(UserError):
            semsynth.load_method("shapes-oracle", device=device)
    sdm = semsynth.load_method("sdm", steps=1)
    with pytest.raises(UserError, match="seed must be a whole number"):
        sdm.generate(layout, 2**64)


# -- item 8: hostile checkpoints ---------------------------------------------------------------------------------

def _torch_bytes(value, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


class Unsafe:
    def __reduce__(self):
        return (print, ("this must never run",))


def _write_checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    """Hostile checkpoint files -> (path, expected part of the error line)."""
    from semsynth.methods.sdm.model import SDMUNet
    from semsynth.methods.sdm.presets import PRESETS

    files: dict[str, tuple[bytes, str, str]] = {}
    state = checkpoints.load(SDM_SHIPPED)[0]
    sdm_zip = _torch_bytes(state)
    narrow = SDMUNet(**dict(PRESETS["shapes"].net_config(), spade_hidden=8)).state_dict()
    files["empty"] = (b"", "empty.pt", "the file is empty")
    files["truncated zip"] = (sdm_zip[: len(sdm_zip) // 2], "truncated.pt", "cannot read weights file")
    files["truncated legacy"] = (_torch_bytes(state, legacy=True)[:4000], "legacy.pt", "cannot read weights file")
    files["truncated safetensors"] = (SDM_SHIPPED.read_bytes()[:50000], "cut.safetensors", "cannot read weights")
    files["random bytes"] = (np.random.RandomState(0).bytes(4096), "random.pt", "neither a torch file nor safetensors")
    files["html"] = (b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head></html>",
                     "drive.pt", "it is an HTML page")
    files["wrong keys"] = (_torch_bytes({"weight": torch.zeros(3)}), "keys.pt", "does not fit the SDMUNet")
    files["wrong shapes"] = (_torch_bytes(narrow), "narrow.pt", "of another shape")
    files["other method"] = (INADE_SHIPPED.read_bytes(), "inade.safetensors", "holds a network config this method")
    files["pickle"] = (_torch_bytes({"weight": Unsafe()}), "evil.pt", "is not a plain tensor checkpoint and is "
                                                                       "refused as unsafe")
    files["no tensors"] = (_torch_bytes({"weight": 1}), "numbers.pt", "holds no tensor state_dict")
    out = {}
    for case, (data, name, expected) in files.items():
        (folder / name).write_bytes(data)
        out[case] = (folder / name, expected)
    save_file({"weight": torch.zeros(2)}, str(folder / "config.safetensors"), metadata={"config": "{not json"})
    out["garbage config"] = (folder / "config.safetensors", "not a JSON object")
    out["a folder"] = (folder, "is not a file")
    return out


def test_hostile_checkpoints_are_one_line_errors(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for case, (path, expected) in _write_checkpoints(folder).items():
        line = refused(tmp_path, "run", "--method", "sdm", "--limit", "1", "--checkpoint", str(path),
                       "--out", str(tmp_path / "runs"))
        assert expected in line and str(path) in line, (case, line)
        assert "weights_only" not in line and "this must never run" not in line, (case, line)


def test_hostile_checkpoints_raise_user_errors_in_the_api(tmp_path: Path) -> None:
    for case, (path, expected) in _write_checkpoints(tmp_path).items():
        for name in ("sdm", "inade") if case != "other method" else ("sdm",):
            with pytest.raises(UserError) as error:
                semsynth.load_method(name, checkpoint=path)
            assert str(path) in str(error.value) and "\n" not in str(error.value), (case, name)


# -- item 18: a download that is not a checkpoint -----------------------------------------------------------------

def test_file_format_tells_checkpoints_from_web_pages(tmp_path: Path) -> None:
    save_file({"w": torch.ones(2)}, str(tmp_path / "a.safetensors"))
    assert checkpoints.file_format((tmp_path / "a.safetensors").read_bytes()[:64]) == "safetensors"
    assert checkpoints.file_format(_torch_bytes({"w": torch.ones(2)})[:64]) == "torch"
    assert checkpoints.file_format(_torch_bytes({"w": torch.ones(2)}, legacy=True)[:64]) == "torch"
    assert checkpoints.file_format(SDM_SHIPPED.read_bytes()[:64]) == "safetensors"
    page = b"\n  <!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>Google Drive</title>"
    assert checkpoints.file_format(page) == "html"
    assert checkpoints.file_format(b"<html><body>Quota exceeded</body></html>") == "html"
    assert checkpoints.file_format(b"") is None and checkpoints.file_format(b"GIF89a\x01\x00") is None


class _Page(http.server.BaseHTTPRequestHandler):
    """Drive's answer for a large file (an HTML warning page), or a real torch file at /model.pt."""

    page = b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head></html>"

    def do_GET(self) -> None:
        body = _torch_bytes({"w": torch.ones(2)}) if self.path == "/model.pt" else self.page
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_fetch_refuses_an_html_page_and_leaves_nothing(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/uc?id=x"
        weights.register(weights.WeightSpec(name="test-drive-page", file="release/model.pt", url=url))
        with pytest.raises(UserError, match="is not a checkpoint: it is an HTML page.*nothing was saved"):
            weights.fetch("test-drive-page", dest=tmp_path / "weights", progress=False)
        assert listing(tmp_path) == set()
        weights.register(weights.WeightSpec(name="test-drive-file", file="model.pt", url=url.replace(
            "/uc?id=x", "/model.pt")))
        fetched = weights.fetch("test-drive-file", dest=tmp_path / "weights", progress=False)
        assert listing(tmp_path) == {"weights", "weights/model.pt"}
        assert torch.equal(checkpoints.load(fetched)[0]["w"], torch.ones(2))
    finally:
        server.shutdown()
        weights.CATALOG.pop("test-drive-page", None)
        weights.CATALOG.pop("test-drive-file", None)


# -- item 7: faulty dataset files are refused by `bench run` as by `bench datasets check` ----------------------

def _check_line(tmp_path: Path, dataset: str, root: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "semsynth", "datasets", "check", "--dataset", dataset,
                             "--data-root", str(root)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 2
    return result.stderr.strip().splitlines()[0].removeprefix("problem: val: ")


def _run_refused(tmp_path: Path, dataset: str, root: Path) -> str:
    return refused(tmp_path, "run", "--method", "real", "--dataset", dataset, "--data-root", str(root),
                   "--out", str(tmp_path / "runs"))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_mismatched_lists_are_refused_by_run_with_the_check_message(tmp_path: Path) -> None:
    ade = fx.write_ade20k(tmp_path / "data")
    (ade / "annotations" / "validation" / "ADE_val_00000002.png").unlink()
    expected = _check_line(tmp_path, "ade20k", ade.parent)
    assert "1 image(s) without label map" in expected and "ADE_val_00000002" in expected
    assert expected in _run_refused(tmp_path, "ade20k", ade.parent)


def test_wrong_size_labels_and_instances_are_refused(tmp_path: Path) -> None:
    ade = fx.write_ade20k(tmp_path / "data")
    label = ade / "annotations" / "validation" / "ADE_val_00000001.png"
    Image.fromarray(np.zeros((40, 20), dtype=np.uint8)).save(label)                    # another aspect ratio
    expected = _check_line(tmp_path, "ade20k", ade.parent)
    assert f"label map {label} is 20x40" in expected
    assert expected in _run_refused(tmp_path, "ade20k", ade.parent)

    city = fx.write_cityscapes(tmp_path / "data")
    instance = next((city / "gtFine" / "val" / "frankfurt").glob("*_instanceIds.png"))
    Image.fromarray(np.zeros((16, 32), dtype=np.uint16)).save(instance)
    expected = _check_line(tmp_path, "cityscapes", city)
    assert f"instance map {instance} is 32x16" in expected
    assert expected in _run_refused(tmp_path, "cityscapes", city)


@pytest.mark.parametrize("fault", ["truncated jpeg", "random jpeg", "truncated png", "empty png"])
def test_corrupt_image_files_are_one_line_errors_naming_the_file(tmp_path: Path, fault: str) -> None:
    ade = fx.write_ade20k(tmp_path / "data")
    image = ade / "images" / "validation" / "ADE_val_00000001.jpg"
    label = ade / "annotations" / "validation" / "ADE_val_00000001.png"
    target = image if "jpeg" in fault else label
    if fault.startswith("truncated"):
        _truncate(target)
    elif fault == "random jpeg":
        target.write_bytes(np.random.RandomState(1).bytes(2000))
    else:
        target.write_bytes(b"")
    expected = _check_line(tmp_path, "ade20k", ade.parent)
    assert expected.startswith("unreadable") and str(target) in expected
    assert expected in _run_refused(tmp_path, "ade20k", ade.parent)
    with pytest.raises(UserError, match="unreadable"):
        semsynth.load_dataset("ade20k", root=ade.parent)[0]


def test_a_sound_dataset_still_runs(tmp_path: Path) -> None:
    ade = fx.write_ade20k(tmp_path / "data")
    dataset = semsynth.load_dataset("ade20k", root=ade.parent)
    dataset.validate(len(dataset))
    assert dataset.check() == [] and dataset[0].image.shape[0] == 3
    assert json.loads(json.dumps(semsynth.load_method("sdm").describe(), allow_nan=False))["settings"]["steps"] == 10
