"""HRNetV2-W48 (HRNet/HRNet-Semantic-Segmentation ``seg_hrnet``) on Cityscapes, the segmenter GCDP used: port,
weights, segmenter.

``align_corners``: one flag drives every bilinear resize (fuse layers, head, test-time upsampling). The repo's
``lib/config/default.py`` and README ("we use align_corners=True for upsampling", the table that lists
``hrnet_cs_8090_torch11.pth``) say True; only the Cityscapes yaml of the later HRNet-OCR branch sets False. We
default to True, the setting documented for the released checkpoint; both variants match their golden outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ... import weights
from ...datasets.labelspaces import CITYSCAPES_LABELS
from ...errors import UserError
from ...registry import SEGMENTERS
from ._blocks import BasicBlock, Bottleneck, conv_bn, imagenet_normalize, residual_stage
from ._common import PortedSegmenter, check_images, evaluation_space, load_strict, read_state_dict


BLOCKS = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}

# experiments/cityscapes/seg_hrnet_w48_*.yaml, as a dict in the yaml's own layout (STAGE1's NUM_RANCHES typo too).
W48_CITYSCAPES = {
    "DATASET": {"NUM_CLASSES": 19},
    "MODEL": {"NAME": "seg_hrnet", "ALIGN_CORNERS": True, "EXTRA": {
        "FINAL_CONV_KERNEL": 1,
        "STAGE1": {"NUM_MODULES": 1, "NUM_RANCHES": 1, "BLOCK": "BOTTLENECK", "NUM_BLOCKS": [4],
                   "NUM_CHANNELS": [64], "FUSE_METHOD": "SUM"},
        "STAGE2": {"NUM_MODULES": 1, "NUM_BRANCHES": 2, "BLOCK": "BASIC", "NUM_BLOCKS": [4, 4],
                   "NUM_CHANNELS": [48, 96], "FUSE_METHOD": "SUM"},
        "STAGE3": {"NUM_MODULES": 4, "NUM_BRANCHES": 3, "BLOCK": "BASIC", "NUM_BLOCKS": [4, 4, 4],
                   "NUM_CHANNELS": [48, 96, 192], "FUSE_METHOD": "SUM"},
        "STAGE4": {"NUM_MODULES": 3, "NUM_BRANCHES": 4, "BLOCK": "BASIC", "NUM_BLOCKS": [4, 4, 4, 4],
                   "NUM_CHANNELS": [48, 96, 192, 384], "FUSE_METHOD": "SUM"}}}}


def _resize(x: torch.Tensor, size: Sequence[int], align_corners: bool) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=align_corners)


class HighResolutionModule(nn.Module):
    """Parallel branches of residual blocks, then every output resolution sums all branches (``fuse_layers``):
    finer inputs go through strided 3x3 convs, coarser ones through a 1x1 conv and bilinear upsampling."""

    def __init__(self, block: type[nn.Module], num_blocks: Sequence[int], in_channels: Sequence[int],
                 channels: Sequence[int], align_corners: bool, multi_scale_output: bool = True) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.branches = nn.ModuleList(residual_stage(block, cin, ch, n)
                                      for cin, ch, n in zip(in_channels, channels, num_blocks))
        self.out_channels = [ch * block.expansion for ch in channels]
        self.fuse_layers = self._fuse_layers(self.out_channels, multi_scale_output) if len(channels) > 1 else None
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _fuse_layers(channels: Sequence[int], multi_scale_output: bool) -> nn.ModuleList:
        rows = []
        for i in range(len(channels) if multi_scale_output else 1):
            row: list[nn.Module | None] = []
            for j, cj in enumerate(channels):
                if j > i:
                    row.append(conv_bn(cj, channels[i], 1, relu=False))
                elif j == i:
                    row.append(None)
                else:   # i - j stride-2 convs; only the last changes the width, and it has no ReLU
                    steps = [conv_bn(cj, cj, 3, 2) for _ in range(i - j - 1)]
                    row.append(nn.Sequential(*steps, conv_bn(cj, channels[i], 3, 2, relu=False)))
            rows.append(nn.ModuleList(row))
        return nn.ModuleList(rows)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                if j == i:
                    y = y + xs[j]
                elif j > i:
                    y = y + _resize(row[j](xs[j]), xs[i].shape[-2:], self.align_corners)
                else:
                    y = y + row[j](xs[j])
            fused.append(self.relu(y))
        return fused


class HighResolutionNet(nn.Module):
    """``seg_hrnet.HighResolutionNet``: stride-4 stem, Bottleneck layer1, stages 2-4 of parallel branches, all
    branches upsampled to 1/4 and concatenated, 1x1 head. Returns the 1/4-resolution class logits."""

    def __init__(self, extra: Mapping[str, Any], num_classes: int = 19, align_corners: bool = True) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        stage1 = extra["STAGE1"]
        block = BLOCKS[stage1["BLOCK"]]
        self.layer1 = residual_stage(block, 64, stage1["NUM_CHANNELS"][0], stage1["NUM_BLOCKS"][0])
        previous = [stage1["NUM_CHANNELS"][0] * block.expansion]
        for index in (2, 3, 4):
            config = extra[f"STAGE{index}"]
            block = BLOCKS[config["BLOCK"]]
            channels = [ch * block.expansion for ch in config["NUM_CHANNELS"]]
            setattr(self, f"transition{index - 1}", self._transition(previous, channels))
            modules = []
            for _ in range(config["NUM_MODULES"]):
                modules.append(HighResolutionModule(block, config["NUM_BLOCKS"], channels, config["NUM_CHANNELS"],
                                                    align_corners))
                channels = modules[-1].out_channels
            previous = channels
            setattr(self, f"stage{index}", nn.Sequential(*modules))
        kernel = extra["FINAL_CONV_KERNEL"]
        width = sum(previous)
        self.last_layer = nn.Sequential(nn.Conv2d(width, width, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                        nn.Conv2d(width, num_classes, kernel, 1, 1 if kernel == 3 else 0))

    @classmethod
    def from_official_config(cls, config: Mapping[str, Any]) -> "HighResolutionNet":
        """Build from the experiment yaml as a dict (``{"DATASET": {"NUM_CLASSES"}, "MODEL": {"ALIGN_CORNERS",
        "EXTRA": {...}}}``, e.g. ``W48_CITYSCAPES``); a missing ALIGN_CORNERS takes default.py's True."""
        model = config["MODEL"]
        return cls(model["EXTRA"], config["DATASET"]["NUM_CLASSES"], bool(model.get("ALIGN_CORNERS", True)))

    @staticmethod
    def _transition(previous: Sequence[int], current: Sequence[int]) -> nn.ModuleList:
        """Per new branch: None (same width), a 3x3 conv changing the width, or stride-2 3x3 convs from the
        coarsest previous branch for a branch that did not exist yet."""
        layers: list[nn.Module | None] = []
        for i, channels in enumerate(current):
            if i < len(previous):
                layers.append(conv_bn(previous[i], channels, 3) if channels != previous[i] else None)
            else:
                steps = i + 1 - len(previous)
                layers.append(nn.Sequential(*(conv_bn(previous[-1], channels if k == steps - 1 else previous[-1], 3, 2)
                                              for k in range(steps))))
        return nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for index in (2, 3, 4):
            transition = getattr(self, f"transition{index - 1}")
            xs = [xs[min(i, len(xs) - 1)] if layer is None else layer(xs[min(i, len(xs) - 1)])
                  for i, layer in enumerate(transition)]
            xs = getattr(self, f"stage{index}")(xs)
        size = xs[0].shape[-2:]
        x = torch.cat([xs[0]] + [_resize(y, size, self.align_corners) for y in xs[1:]], 1)
        return self.last_layer(x)


def official_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Key map of the released file: the training wrapper ``FullModel`` saves ``model.<key>`` plus its criterion's
    buffers under ``loss.``; the official test loader strips ``model.`` and skips the rest. Plain state_dicts pass."""
    if not any(key.startswith("model.") for key in state):
        return dict(state)
    return {key[len("model."):]: value for key, value in state.items() if not key.startswith("loss.")}


@SEGMENTERS.register_module(name="hrnet-w48")
class HRNetW48(PortedSegmenter):
    """HRNetV2-W48 on Cityscapes (19 trainIds): ImageNet-normalised RGB, logits at 1/4 resized bilinearly (with
    ``align_corners``) to the input size. ``long_side=2048`` first resizes the image as the official test does
    (TEST.BASE_SIZE); the default None feeds images at their own resolution."""

    name = "hrnet-w48"
    datasets = ("cityscapes",)
    weights = {"cityscapes": "hrnet-w48-cityscapes"}
    input_size = "own resolution (official test: long side 2048, 1024x2048)"
    label_spaces = {"cityscapes": evaluation_space(CITYSCAPES_LABELS)}

    def __init__(self, dataset: str | None = None, checkpoint: str | Path | None = None, pretrained: bool = True,
                 device: str = "cpu", align_corners: bool = True, long_side: int | None = None,
                 **options: Any) -> None:
        super().__init__(dataset, None, False, device, align_corners=align_corners, **options)
        self.long_side = long_side
        if pretrained or checkpoint is not None:
            file = weights.path(self.weights[self.dataset], checkpoint)
            load_strict(self.net, official_state(read_state_dict(file)), file)

    def build_net(self, align_corners: bool = True, **options: Any) -> nn.Module:
        if options:
            raise UserError(f"hrnet-w48 has no option(s) {', '.join(sorted(options))}; it takes align_corners "
                            "and long_side")
        config = {**W48_CITYSCAPES, "MODEL": {**W48_CITYSCAPES["MODEL"], "ALIGN_CORNERS": align_corners}}
        return HighResolutionNet.from_official_config(config)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 RGB -> ImageNet-normalised input; with ``long_side`` first resized like cv2.INTER_LINEAR (no
        antialiasing, rounded back to uint8 values)."""
        check_images(images, self.name)
        x = images.to(self.device, self.dtype)
        if self.long_side is not None:
            height, width = images.shape[-2:]
            scale = self.long_side / max(height, width)
            size = (int(height * scale + 0.5), int(width * scale + 0.5))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False).round().clamp(0, 255)
        return imagenet_normalize(x / 255)

    @torch.no_grad()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Logits resized to the network input, then (if it was resized) to the image size, as the test does."""
        x = self.preprocess(images)
        align = self.net.align_corners
        logits = _resize(self.net(x), x.shape[-2:], align)
        return logits if logits.shape[-2:] == images.shape[-2:] else _resize(logits, images.shape[-2:], align)
