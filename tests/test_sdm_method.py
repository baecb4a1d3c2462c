"""The ``sdm`` method on ``shapes`` with a tiny random SDM: contract, samplers, input adapter, editing, save/load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from semsynth.datasets.labelspaces import ADE20K_LABELS, COCOSTUFF_LABELS
from semsynth.datasets.shapes import Shapes
from semsynth.errors import MissingWeightsError, UserError
from semsynth.methods.sdm.method import SDM
from semsynth.methods.sdm.model import SDMUNet
from semsynth.methods.sdm.presets import PRESETS, SDMPreset
from semsynth.methods.sdm.train import train
from semsynth.types import Layout
from tests.method_contract import run_contract

TINY = dict(PRESETS["shapes"].net_config(), channel_mult=(1, 2), attention_resolutions=(2,), spade_hidden=8)


def tiny_net() -> SDMUNet:
    """A tiny shapes SDM with random weights everywhere (the zero-initialised output convs re-drawn too)."""
    torch.manual_seed(0)
    net = SDMUNet(**TINY)
    for conv in net._zero_init_convs():
        conv.reset_parameters()
    return net


@pytest.fixture(scope="module")
def layouts() -> list[Layout]:
    val = Shapes(split="val")
    return [val.layout(index) for index in range(3)]


@pytest.mark.parametrize("settings", [dict(sampler="ddim", steps=2, guidance=1.5),
                                      dict(sampler="ddpm", steps=2, guidance=1.0),
                                      dict(sampler="dpm-solver++", steps=2, guidance=2.0)])
def test_method_contract(settings: dict) -> None:
    run_contract(SDM.from_net(tiny_net(), "shapes", **settings))


def test_guidance_changes_samples(layouts: list[Layout]) -> None:
    plain = SDM.from_net(tiny_net(), "shapes", steps=3, guidance=1.0).generate(layouts[0], 0)
    guided = SDM.from_net(tiny_net(), "shapes", steps=3, guidance=3.0).generate(layouts[0], 0)
    assert not torch.equal(plain, guided)


@pytest.mark.parametrize("dtype,tolerance", [("bfloat16", 2.0), ("float16", 0.3)])
def test_half_precision_network_follows_float32(layouts: list[Layout], dtype: str, tolerance: float) -> None:
    """The network cast whole to bf16/fp16 (norms computed in float32) gives nearly the float32 samples."""
    settings = dict(steps=3, guidance=2.0)
    reference = SDM.from_net(tiny_net(), "shapes", **settings).generate(layouts[0], 0).float()
    half = SDM.from_net(tiny_net(), "shapes", dtype=dtype, **settings)
    assert next(half.net.parameters()).dtype == getattr(torch, dtype)
    assert (half.generate(layouts[0], 0).float() - reference).abs().mean() < tolerance


def test_save_and_load_round_trip(tmp_path, layouts: list[Layout]) -> None:
    method = SDM.from_net(tiny_net(), "shapes", steps=2)
    method.save(tmp_path / "sdm.safetensors")
    loaded = SDM(dataset="shapes", checkpoint=tmp_path / "sdm.safetensors", steps=2)
    assert torch.equal(loaded.generate(layouts[0], 5), method.generate(layouts[0], 5))


def test_train_resumes_and_exports_fp16_weights_that_load(tmp_path, layouts: list[Layout]) -> None:
    options = dict(batch_size=2, crop=32, drop_rate=0.5, log_every=1, quiet=True,
                   **{k: v for k, v in TINY.items() if k != "num_classes"})
    train("shapes", tmp_path, steps=1, **options)
    exported = train("shapes", tmp_path, steps=2, **options)   # resumes at step 1
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2] and all(entry["vb"] >= 0 for entry in log)
    assert {tensor.dtype for tensor in load_file(str(exported)).values()} == {torch.float16}
    image = SDM(dataset="shapes", checkpoint=exported, steps=2).generate(layouts[0], 0)
    assert image.shape == (3, 64, 64)
    with pytest.raises(UserError, match="resume"):
        train("shapes", tmp_path, steps=3, resume=False, **options)


def test_training_options_override_the_preset_and_none_means_whole_images(tmp_path) -> None:
    with pytest.raises(UserError, match="unknown sdm training option.*learning_rate"):
        train("shapes", tmp_path / "bad", steps=1, learning_rate=1.0)
    tiny = {k: v for k, v in TINY.items() if k != "num_classes"}
    train("shapes", tmp_path, steps=1, batch_size=1, crop=None, quiet=True, **tiny)
    saved = json.loads((tmp_path / "train_options.json").read_text())
    assert saved["crop"] is None and saved["batch_size"] == 1 and saved["lr"] == PRESETS["shapes"].training["lr"]
    assert saved["config"]["norm_groups"] == 8 and saved["config"]["spade_hidden"] == 8


def test_torchrun_two_rank_training_writes_one_log_and_checkpoint(tmp_path, layouts: list[Layout]) -> None:
    """``bench train`` under torchrun (gloo on the CPU): rank 0 alone logs and checkpoints, resumes, and exports."""
    tiny = [f"--set={key}={json.dumps(list(v) if isinstance(v, tuple) else v)}"
            for key, v in TINY.items() if key != "num_classes"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "semsynth", "train", "--method", "sdm", "--dataset", "shapes", "--batch-size", "1",
               "--set", "crop=32", "--set", "log_every=1", *tiny, "--out", str(tmp_path), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for steps in (1, 2):   # the second run resumes at step 1
        result = subprocess.run([*command, "--steps", str(steps)], capture_output=True, text=True, env=env,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2]
    checkpoint = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert checkpoint["step"] == 2
    image = SDM(dataset="shapes", checkpoint=tmp_path / "sdm_shapes.safetensors", steps=2).generate(layouts[0], 0)
    assert image.shape == (3, 64, 64)


def test_bad_settings_and_missing_weights(tmp_path) -> None:
    with pytest.raises(UserError, match="sampler"):
        SDM.from_net(tiny_net(), "shapes", sampler="euler")
    with pytest.raises(UserError, match="unknown setting"):
        SDM.from_net(tiny_net(), "shapes", temperature=2)
    with pytest.raises(MissingWeightsError):
        SDM(dataset="shapes", checkpoint=tmp_path / "absent.safetensors")


def test_shapes_input_is_one_hot_plus_instance_edges(layouts: list[Layout]) -> None:
    layout = layouts[0]
    y = PRESETS["shapes"].channels(layout)
    assert y.shape == (11, 64, 64)
    assert torch.equal(y[:10].argmax(0), layout.labels) and torch.equal(y[:10].sum(0), torch.ones(64, 64))
    assert torch.equal(y[10], layout.edges())


def test_ade20k_shift_sends_other_to_150() -> None:
    labels = torch.tensor([[0, 1, 150]])
    y = PRESETS["ade20k"].channels(Layout(labels, ADE20K_LABELS))
    assert y.shape == (151, 1, 3)
    assert y.argmax(0).tolist() == [[150, 0, 149]] and torch.equal(y.sum(0), torch.ones(1, 3))


def test_cocostuff_unlabelled_to_182_and_edges() -> None:
    labels = torch.tensor([[255, 0, 181, 181]])
    instances = torch.tensor([[0, 1, 2, 2]])
    y = PRESETS["cocostuff"].channels(Layout(labels, COCOSTUFF_LABELS, instances))
    assert y.shape == (184, 1, 4)
    assert y[:183].argmax(0).tolist() == [[182, 0, 181, 181]]
    assert y[183].tolist() == [[1.0, 1.0, 1.0, 0.0]]


def test_cityscapes_edges_read_through_8_bits() -> None:
    space = Shapes.label_space
    labels = torch.zeros(1, 3, dtype=torch.long)
    instances = torch.tensor([[26001, 26002, 3]])   # thing ids above 255 collapse to 255, as the official loader
    clipped = SDMPreset(10, "instances_clipped", {}).channels(Layout(labels, space, instances))
    assert clipped[-1].tolist() == [[0.0, 1.0, 1.0]]
    assert SDMPreset(10, "instances", {}).channels(Layout(labels, space, instances))[-1].tolist() == [[1.0, 1.0, 1.0]]


def test_edit_keeps_unedited_pixels_and_regenerates_the_region(layouts: list[Layout]) -> None:
    method = SDM.from_net(tiny_net(), "shapes", steps=3)
    image = Shapes(split="val")[0].image
    region = torch.zeros(64, 64, dtype=torch.bool)
    region[16:48, 16:48] = True
    edited = method.edit(image, layouts[1], region, seed=0)
    assert edited.dtype == torch.uint8 and edited.shape == image.shape
    assert torch.equal(edited[:, ~region], image[:, ~region])
    assert not torch.equal(edited[:, region], image[:, region])
    assert not torch.equal(method.edit(image, layouts[1], region, seed=1), edited)


def test_shipped_shapes_checkpoint_loads_and_matches_the_catalog(layouts: list[Layout]) -> None:
    from semsynth import load_method, weights

    assert weights.verify("sdm-shapes") == "ok"
    method = load_method("sdm", dataset="shapes", steps=2)
    assert method.checkpoint.name == "sdm_shapes.safetensors" and method.net.config["spade_hidden"] == 16
    assert method.net.config["norm_groups"] == 8 and method.settings["guidance"] == 1.5
    image = method.generate(layouts[0], seed=0)
    assert image.shape == (3, 64, 64) and image.dtype == torch.uint8


def test_official_format_fp16_state_dict_loads(tmp_path) -> None:
    net = SDMUNet(**PRESETS["shapes"].net_config())
    torch.save({key: value.half() for key, value in net.state_dict().items()}, tmp_path / "ema_0.9999_000000.pt")
    method = SDM(dataset="shapes", checkpoint=tmp_path / "ema_0.9999_000000.pt", steps=2)
    assert next(method.net.parameters()).dtype == torch.float32
    torch.testing.assert_close(method.net.state_dict(), {k: v.half().float() for k, v in net.state_dict().items()})


def test_official_presets_follow_the_shared_label_conventions() -> None:
    """Each official dataset preset maps labels and instances exactly as the official loader (tests'
    ``official_conventions.SDM``)."""
    from tests.official_conventions import SDM as SDM_CONVENTIONS

    for dataset, convention in SDM_CONVENTIONS.items():
        assert PRESETS[dataset].convention == convention, dataset
