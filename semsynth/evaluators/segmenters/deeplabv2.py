"""DeepLab-v2 ResNet-101 with MSC (kazuto1011/deeplab-pytorch), the COCO-Stuff segmenter: port, weights, segmenter.

The official eval output is the element-wise max of the logits at scale 1 and at input scales 0.5 and 0.75.
``resize="legacy"`` (default) rescales the input as PyTorch <= 1.5 did when the released scores were computed (as
if the floored output size had been passed); ``resize="modern"`` uses today's ``scale_factor`` sampling grid. Both
agree whenever H*p and W*p are integers (e.g. the 256x256 images of the SIS papers).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...datasets.labelspaces import COCOSTUFF_LABELS
from ...errors import UserError
from ...registry import SEGMENTERS
from ._common import PortedSegmenter, check_images, evaluation_space


MEAN_BGR = (104.008, 116.669, 122.675)
PYRAMID = (0.5, 0.75)
RESIZE_MODES = ("legacy", "modern")


class ConvBnReLU(nn.Sequential):
    """``conv`` (no bias), ``bn`` and an optional ``relu``: the repo's building unit, keyed ``.conv`` / ``.bn``."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, dilation: int,
                 relu: bool = True) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout, eps=1e-5))
        if relu:
            self.add_module("relu", nn.ReLU())


class Bottleneck(nn.Module):
    """Caffe-style bottleneck: ``reduce`` (1x1, carries the stride), dilated ``conv3x3``, ``increase``; a
    ``shortcut`` projection in the first block of a layer."""

    def __init__(self, cin: int, cout: int, stride: int, dilation: int, downsample: bool) -> None:
        super().__init__()
        mid = cout // 4
        self.reduce = ConvBnReLU(cin, mid, 1, stride, 0, 1)
        self.conv3x3 = ConvBnReLU(mid, mid, 3, 1, dilation, dilation)
        self.increase = ConvBnReLU(mid, cout, 1, 1, 0, 1, relu=False)
        self.shortcut = ConvBnReLU(cin, cout, 1, stride, 0, 1, relu=False) if downsample else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.increase(self.conv3x3(self.reduce(x))) + self.shortcut(x))


def res_layer(blocks: int, cin: int, cout: int, stride: int, dilation: int) -> nn.Sequential:
    """``block1 .. blockN``; the first changes width and stride."""
    layer = nn.Sequential()
    for index in range(blocks):
        layer.add_module(f"block{index + 1}", Bottleneck(cin if index == 0 else cout, cout,
                                                         stride if index == 0 else 1, dilation, index == 0))
    return layer


class Stem(nn.Sequential):
    """7x7 stride-2 conv-BN-ReLU, then a 3x3 stride-2 max-pool with ``ceil_mode=True``."""

    def __init__(self, cout: int) -> None:
        super().__init__()
        self.add_module("conv1", ConvBnReLU(3, cout, 7, 2, 3, 1))
        self.add_module("pool", nn.MaxPool2d(3, 2, 1, ceil_mode=True))


class ASPP(nn.Module):
    """The DeepLab-v2 head: the **sum** of dilated 3x3 convs ``c0 .. c3`` (with bias) straight to the classes."""

    def __init__(self, cin: int, classes: int, rates: Sequence[int]) -> None:
        super().__init__()
        for index, rate in enumerate(rates):
            self.add_module(f"c{index}", nn.Conv2d(cin, classes, 3, 1, rate, rate, bias=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(conv(x) for conv in self.children())


class DeepLabV2(nn.Sequential):
    """ResNet trunk at output stride 8 (dilation 2 and 4 in the last two layers) plus the summed ASPP."""

    def __init__(self, n_classes: int, n_blocks: Sequence[int] = (3, 4, 23, 3),
                 atrous_rates: Sequence[int] = (6, 12, 18, 24)) -> None:
        super().__init__()
        width = [64 * 2 ** power for power in range(6)]
        self.add_module("layer1", Stem(width[0]))
        self.add_module("layer2", res_layer(n_blocks[0], width[0], width[2], 1, 1))
        self.add_module("layer3", res_layer(n_blocks[1], width[2], width[3], 2, 1))
        self.add_module("layer4", res_layer(n_blocks[2], width[3], width[4], 1, 2))
        self.add_module("layer5", res_layer(n_blocks[3], width[4], width[5], 1, 4))
        self.add_module("aspp", ASPP(width[5], n_classes, atrous_rates))


def rescale(x: torch.Tensor, factor: float, resize: str) -> torch.Tensor:
    """Bilinear (align_corners=False) input rescale by ``factor`` with the modern or the pre-1.6 PyTorch grid."""
    if resize == "modern":
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    size = (int(x.shape[-2] * factor), int(x.shape[-1] * factor))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class MSC(nn.Module):
    """Multi-scale inputs with max fusion; in eval mode ``forward`` returns the fused logits at the scale-1 size."""

    def __init__(self, base: nn.Module, scales: Sequence[float] = PYRAMID, resize: str = "legacy") -> None:
        super().__init__()
        if resize not in RESIZE_MODES:
            raise UserError(f"unknown resize '{resize}' for DeepLab MSC; use one of {', '.join(RESIZE_MODES)}")
        self.base = base
        self.scales = tuple(scales)
        self.resize = resize

    @classmethod
    def from_official_config(cls, config: dict[str, Any], resize: str = "legacy") -> "MSC":
        """Build from the case's ``{"DeepLabV2_ResNet101_MSC": {"n_classes": N}}`` (the repo's factory)."""
        arguments = config["DeepLabV2_ResNet101_MSC"]
        return cls(DeepLabV2(arguments["n_classes"]), PYRAMID, resize)

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits at scale 1, then at each rescaled input (each at its own size)."""
        return [self.base(x)] + [self.base(rescale(x, factor, self.resize)) for factor in self.scales]

    @staticmethod
    def fuse(pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
        """Element-wise max of the scale-1 logits and the others resized bilinearly to their size."""
        full, *scaled = pyramid
        size = full.shape[-2:]
        resized = [F.interpolate(logits, size=size, mode="bilinear", align_corners=False) for logits in scaled]
        return torch.stack([full, *resized]).max(dim=0).values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.pyramid(x))


@SEGMENTERS.register_module(name="deeplabv2-r101")
class DeepLabV2Segmenter(PortedSegmenter):
    """DeepLab-v2 ResNet-101 MSC on COCO-Stuff 164k (182 classes); option ``resize`` = 'legacy' | 'modern'."""

    name = "deeplabv2-r101"
    datasets = ("cocostuff",)
    weights = {"cocostuff": "deeplabv2-r101-cocostuff164k"}
    input_size = "own size (256x256 in the SIS papers); MSC scales 1, 0.75, 0.5"
    label_spaces = {"cocostuff": evaluation_space(COCOSTUFF_LABELS)}

    def build_net(self, resize: str = "legacy") -> MSC:
        return MSC(DeepLabV2(182), PYRAMID, resize)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """BGR on the 0-255 scale minus the BGR mean, no scaling (cv2-read images as main.py feeds them)."""
        check_images(images, self.name)
        mean = torch.tensor(MEAN_BGR, dtype=self.dtype, device=self.device)[:, None, None]
        return images.flip(1).to(self.device, self.dtype) - mean

    @torch.no_grad()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities at the input size (main.py's test path on the MSC logits)."""
        return probabilities(self.net(self.preprocess(images)), tuple(images.shape[-2:]))


def probabilities(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Logits resized bilinearly (align_corners=False) to the label size, then softmax over classes."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False).softmax(dim=1)
