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


def test_conv_resampling_config_uses_official_names() -> None:
    net = SDMUNet.from_official_config(dict(load_case("sdm_unet").case["constructor"], resblock_updown=False))
    keys = set(net.state_dict())
    assert {"input_blocks.2.0.op.weight", "output_blocks.1.2.conv.weight"} <= keys
    out = net(torch.randn(1, 3, 16, 24), torch.tensor([3]), torch.rand(1, 6, 16, 24))
    assert out.shape == (1, 6, 16, 24)


def test_new_attention_order_equals_legacy_with_regrouped_qkv() -> None:
    from semsynth.nn.attention import AttentionBlock

    torch.manual_seed(0)
    legacy = AttentionBlock(64, num_head_channels=32, legacy_order=True)
    new = AttentionBlock(64, num_head_channels=32, legacy_order=False)
    new.load_state_dict(legacy.state_dict())
    heads, ch = 2, 32
    order = torch.arange(3 * 64).reshape(heads, 3, ch).transpose(0, 1).reshape(-1)  # [q k v per head] -> [q][k][v]
    new.qkv.weight.data, new.qkv.bias.data = legacy.qkv.weight[order], legacy.qkv.bias[order]
    torch.nn.init.normal_(legacy.proj_out.weight)
    new.proj_out.load_state_dict(legacy.proj_out.state_dict())
    x = torch.randn(2, 64, 4, 5)
    torch.testing.assert_close(new(x), legacy(x))
