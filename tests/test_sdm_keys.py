"""The released SDM configurations build with the official key names: the four full key lists (ADE20K 151,
CelebAMask-HQ 20, Cityscapes 36, COCO-Stuff 184 channels) load strictly, shape-only on the meta device."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from semsynth.methods.sdm.model import SDMUNet
from semsynth.methods.sdm.presets import PRESETS
from tests.golden import load_case, shape_only_state

KEYS = Path(__file__).parent / "data" / "sdm_keys"
LISTS = {"ade20k": 151, "celebamask": 20, "cityscapes": 36, "cocostuff": 184}


def _rows(channels: int) -> list[list]:
    """Rows ``[key, shape, dtype]`` of the research key list ``sdm_keys_nc<channels>.txt`` ('key (d1, d2, ...)')."""
    rows = []
    for line in (KEYS / f"sdm_keys_nc{channels}.txt").read_text().splitlines():
        match = re.fullmatch(r"(\S+) \(([\d, ]*)\)", line.strip())
        shape = [int(size) for size in match.group(2).replace(" ", "").split(",") if size]
        rows.append([match.group(1), shape, "float32"])
    return rows


def _assert_loads(net: SDMUNet, rows: list[list]) -> None:
    net.load_state_dict(shape_only_state(rows), strict=True, assign=True)
    state = net.state_dict()
    for key, shape, _ in rows:
        assert list(state[key].shape) == shape, key


@pytest.mark.parametrize("dataset,channels", sorted(LISTS.items()))
def test_full_key_list_loads_strictly(dataset: str, channels: int) -> None:
    preset = PRESETS[dataset]
    assert preset.cond_channels == channels
    rows = _rows(channels)
    params = int((KEYS / f"sdm_params_nc{channels}.txt").read_text().split()[-1])
    with torch.device("meta"):
        net = SDMUNet(**preset.net_config())
    assert sum(p.numel() for p in net.parameters()) == params
    assert [key for key, *_ in rows] == list(net.state_dict())
    _assert_loads(net, rows)


def test_golden_full_size_key_list_loads_strictly() -> None:
    case = load_case("sdm_unet")
    rows = case.keys("keys_fullsize_ade20k_151ch.json")
    with torch.device("meta"):
        net = SDMUNet(**PRESETS["ade20k"].net_config())
    _assert_loads(net, rows)
