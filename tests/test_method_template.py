"""The method template: checkpoints resolved by the base class from presets (sha256 checked against the catalog),
presets that name the datasets they cover, the shared checkpoint IO, and ``bench train`` through the registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import semsynth
from semsynth import checkpoints, weights
from semsynth.cli import main
from semsynth.datasets.shapes import Shapes
from semsynth.errors import MissingWeightsError, UserError
from semsynth.methods.base import Method, Preset
from tests.plugins.class_colours import ClassColours

SDM_SHIPPED = weights.ASSETS / "sdm_shapes.safetensors"


def bench(*args: str, weights_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"SEMSYNTH_WEIGHTS": str(weights_dir)} if weights_dir else {})}
    return subprocess.run([sys.executable, "-m", "semsynth", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.fixture
def perturbed(tmp_path: Path) -> Path:
    """A weights folder whose sdm_shapes.safetensors differs from the shipped file in its last byte."""
    folder = tmp_path / "weights"
    folder.mkdir()
    copy = folder / SDM_SHIPPED.name
    shutil.copyfile(SDM_SHIPPED, copy)
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0x01
    copy.write_bytes(bytes(data))
    return copy


def test_a_perturbed_catalog_file_is_refused_before_a_run_folder_exists(perturbed: Path, tmp_path: Path) -> None:
    result = bench("run", "--method", "sdm", "--limit", "1", "--steps", "1", "--metrics", "miou", "--quiet",
                   "--out", str(tmp_path / "runs"), weights_dir=perturbed.parent)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = weights.spec("sdm-shapes").sha256
    assert str(perturbed) in lines[0] and weights.sha256(perturbed) in lines[0] and expected in lines[0]
    assert "remove it" in lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_weights_verify_exits_2_on_a_mismatch_and_0_otherwise(perturbed: Path) -> None:
    bad = bench("weights", "verify", weights_dir=perturbed.parent)
    assert bad.returncode == 2
    assert any(line.startswith("sdm-shapes") and "MISMATCH" in line for line in bad.stdout.splitlines())
    assert "sdm-shapes" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    good = bench("weights", "verify")
    assert good.returncode == 0 and "MISMATCH" not in good.stdout, good.stdout


def test_an_explicit_checkpoint_is_the_users_file_and_is_recorded(perturbed: Path) -> None:
    method = semsynth.load_method("sdm", dataset="shapes", checkpoint=perturbed, steps=1)
    assert method.checkpoint == perturbed


def test_sha256_is_cached_per_path_mtime_and_size(tmp_path: Path) -> None:
    file = tmp_path / "blob.bin"
    file.write_bytes(b"a" * 100)
    first = weights.sha256(file)
    assert weights.sha256(file) == first
    file.write_bytes(b"b" * 100)
    os.utime(file, ns=(1, 1))          # a new mtime, the same size: the cache must not answer
    assert weights.sha256(file) != first


def test_the_record_names_the_catalog_file_and_its_sha256(tmp_path: Path) -> None:
    result = bench("run", "--method", "inade", "--limit", "1", "--samples-per-layout", "1", "--metrics", "miou",
                   "--quiet", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    record = json.loads(next(tmp_path.glob("*/result.json")).read_text())
    assert record["checkpoint"]["path"] == str(weights.ASSETS / "inade_shapes.safetensors")
    assert record["checkpoint"]["sha256"] == weights.spec("inade-shapes").sha256


class Named(Method):
    """A method whose only preset names a catalog file (the shapes evaluator network's)."""

    name = "named"
    presets = {"shapes": Preset(weights="shapes-segnet", settings={"scale": 2})}
    defaults = {"scale": 1}

    def generate(self, layout, seed):
        return torch.zeros(3, *self.resolution, dtype=torch.uint8)


def test_presets_name_the_catalog_file_and_the_datasets_they_cover() -> None:
    method = Named(dataset="shapes")
    assert method.checkpoint == weights.path("shapes-segnet") and method.settings == {"scale": 2}
    with pytest.raises(UserError, match="named has no preset for dataset 'ade20k'; known: shapes"):
        Named(dataset="ade20k")
    with pytest.raises(UserError, match="inade has no preset for dataset 'cocostuff'; known: ade20k, celebamask"):
        semsynth.load_method("inade", dataset="cocostuff")
    assert ClassColours(dataset="ade20k").checkpoint is None     # no presets: any dataset, no weights


def test_missing_catalog_weights_name_the_file_the_places_and_the_source() -> None:
    with pytest.raises(MissingWeightsError, match=r"'sdm-cityscapes'.*cityscapes\.pt.*not found in .*issues/2"):
        semsynth.load_method("sdm", dataset="cityscapes")


def test_checkpoints_read_both_shipped_formats_and_refuse_pickles(tmp_path: Path) -> None:
    assert weights.verify("sdm-shapes") == "ok" and weights.verify("inade-shapes") == "ok"   # never rewritten
    state, config = checkpoints.load(weights.ASSETS / "inade_shapes.safetensors")   # written with the old key
    networks = checkpoints.split(state, ("G", "E"))
    assert config["ngf"] == 6 and networks["G"] and networks["E"]
    assert checkpoints.split(networks["G"], ("G", "E")) == {"G": networks["G"], "E": {}}   # an official file
    assert set(checkpoints.join(networks)) == set(state)
    torch.save({"weights": Path("x")}, tmp_path / "object.pt")
    with pytest.raises(UserError, match="not a plain tensor checkpoint and is refused as unsafe"):
        checkpoints.load(tmp_path / "object.pt")
    with pytest.raises(UserError, match="inade_shapes.safetensors holds a network config this method cannot build"):
        semsynth.load_method("sdm", dataset="shapes", checkpoint=weights.ASSETS / "inade_shapes.safetensors")
    with pytest.raises(UserError, match="sdm_shapes.safetensors holds a network config this method cannot build"):
        semsynth.load_method("inade", dataset="shapes", checkpoint=SDM_SHIPPED)
    torch.save(checkpoints.load(SDM_SHIPPED)[0], tmp_path / "sdm_official_format.pt")   # no config: the preset's
    with pytest.raises(UserError, match="sdm_official_format.pt does not fit the INADEGenerator"):
        semsynth.load_method("inade", dataset="shapes", checkpoint=tmp_path / "sdm_official_format.pt")
    from semsynth.methods.sdm.model import SDMUNet
    from semsynth.methods.sdm.presets import PRESETS

    narrow = SDMUNet(**dict(PRESETS["shapes"].net_config(), spade_hidden=8))   # saved without its config
    torch.save(narrow.state_dict(), tmp_path / "narrow.pt")
    with pytest.raises(UserError, match=r"narrow.pt does not fit the SDMUNet.*80 of another shape"):
        semsynth.load_method("sdm", dataset="shapes", checkpoint=tmp_path / "narrow.pt")


def test_bench_train_finds_a_plugins_trainer_through_the_registry(tmp_path: Path, capsys) -> None:
    out = tmp_path / "train"
    assert main(["train", "--method", "class-colours", "--dataset", "shapes", "--steps", "6", "--out", str(out),
                 "--quiet"]) == 0
    file = out / "class_colours_shapes.safetensors"
    assert f"trained: {file}" in capsys.readouterr().out
    trained = semsynth.load_method("class-colours", dataset="shapes", checkpoint=file, noise=0.0)
    assert trained.checkpoint == file and not torch.equal(trained.colours, ClassColours().colours)
    layout = Shapes(split="val").layout(0)
    image = trained.generate(layout, seed=0)
    label = int(layout.labels[0, 0])
    assert image[:, 0, 0].tolist() == trained.colours[label].round().to(torch.uint8).tolist()


def test_a_method_without_training_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["train", "--method", "shapes-oracle", "--out", str(tmp_path / "o")]) == 2
    assert "method 'shapes-oracle' cannot be trained" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
