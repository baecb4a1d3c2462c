"""Checks shared by the segmenter port tests: golden inputs, rule weights, meta-device key lists, checkpoint round
trips through the real loading path, and the ``predict`` contract."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from tests.golden import GoldenCase, check_rule_sums, name_rule_v1, shape_only_state


def golden_images(case: GoldenCase) -> torch.Tensor:
    """The case's ``inputs.image_uint8_hwc_rgb`` as a uint8 ``[1, 3, H, W]`` batch."""
    return case.tensors["inputs.image_uint8_hwc_rgb"].permute(2, 0, 1)[None].contiguous()


def rule_state(case: GoldenCase, keep: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The ``name_rule_v1`` state_dict of the case (float64), after checking the recorded per-key sums."""
    rows = case.keys()
    state = name_rule_v1(rows, keep)
    check_rule_sums(rows, state)
    return state


def load_golden_net(net: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """``net`` in float64 eval mode with ``state`` loaded strictly (official names and shapes)."""
    net = net.double().eval()
    net.load_state_dict(state, strict=True)
    return net


def assert_meta_load(build: Callable[[], nn.Module], rows: list[list]) -> None:
    """The network that ``build`` makes (on the meta device, no memory) takes the listed key list strictly."""
    with torch.device("meta"):
        net = build()
    net.load_state_dict(shape_only_state(rows), strict=True, assign=True)


def write_official_checkpoint(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Save ``state`` as float32 the way training scripts wrap it (``{"state_dict": ...}``, DataParallel
    ``module.`` prefix); returns the tensors as saved."""
    saved = {key: value.float() if value.is_floating_point() else value for key, value in state.items()}
    torch.save({"state_dict": {f"module.{key}": value for key, value in saved.items()}, "epoch": 1}, path)
    return saved


def assert_loaded(net: nn.Module, saved: dict[str, torch.Tensor]) -> None:
    """Every entry of ``net``'s state_dict equals the saved tensor of the same name."""
    loaded = net.state_dict()
    assert set(loaded) == set(saved)
    for key, value in saved.items():
        assert torch.equal(loaded[key].cpu(), value), key


def assert_predict_contract(segmenter, batch: int, height: int, width: int) -> None:
    """``predict`` on random uint8 images: int64 ``[B, H, W]`` labels inside the segmenter's label space."""
    images = torch.randint(0, 256, (batch, 3, height, width), generator=torch.Generator().manual_seed(0),
                           dtype=torch.uint8)
    labels = segmenter.predict(images)
    assert labels.dtype == torch.int64
    assert labels.shape == (batch, height, width)
    assert int(labels.min()) >= 0 and int(labels.max()) < segmenter.label_space.num_classes


def assert_label_mapping(segmenter, dataset: str) -> None:
    """``map_labels`` sends every class of ``dataset`` to the segmenter class of the same name, or to ignore."""
    from semsynth.registry import DATASETS, lookup

    space = lookup(DATASETS, dataset).label_space
    mapped = segmenter.map_labels(torch.arange(space.num_classes), dataset)
    ignore = segmenter.label_space.ignore_index
    names = segmenter.label_space.class_names
    assert int((mapped != ignore).sum()) >= len(names)   # every segmenter class is reachable
    for raw, target in enumerate(mapped.tolist()):
        assert target == ignore or names[target] == space.class_names[raw], (raw, target)
