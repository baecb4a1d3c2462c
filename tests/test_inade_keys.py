"""The full-size official INADE checkpoints' key lists load strictly into networks built from the presets."""

from __future__ import annotations

import pytest
import torch

from semsynth.methods.inade.model import INADEEncoder, INADEGenerator
from semsynth.methods.inade.presets import OFFICIAL_OPTIONS
from tests.golden import load_case, shape_only_state

GENERATOR = load_case("inade_generator")
ENCODER = load_case("inade_encoder")


def _strict_meta_load(net: torch.nn.Module, rows: list[list]) -> None:
    net.load_state_dict(shape_only_state(rows), strict=True, assign=True)
    own = {key: list(value.shape) for key, value in net.state_dict().items()}
    assert own == {row[0]: list(row[1]) for row in rows}


@pytest.mark.parametrize("dataset", ["ade20k", "cityscapes"])
def test_full_size_generator_keys(dataset):
    with torch.device("meta"):
        net = INADEGenerator.from_official_config(OFFICIAL_OPTIONS[dataset])
    _strict_meta_load(net, GENERATOR.keys(f"keys_fullsize_{dataset}.json"))
    assert net.output_size == ((256, 512) if dataset == "cityscapes" else (256, 256))


@pytest.mark.parametrize("dataset", ["ade20k", "cityscapes", "celebamask"])
def test_full_size_encoder_keys(dataset):
    with torch.device("meta"):
        net = INADEEncoder.from_official_config(OFFICIAL_OPTIONS[dataset])
    _strict_meta_load(net, ENCODER.keys("keys_fullsize_noise_nc64.json"))

