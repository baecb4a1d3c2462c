"""DRN-D-105 (fyu/drn ``DRNSeg``), the Cityscapes segmenter of the SPADE-era mIoU: port, weights, segmenter.

Single-scale by default (as CLADE/INADE evaluated); ``multi_scale=True`` follows segment.py's ``--ms`` path (sum of
log-probabilities over the original and five rescaled inputs; PIL resizes emulated with antialiased interpolation,
not covered by a golden case).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...datasets.labelspaces import CITYSCAPES_LABELS
from ...registry import SEGMENTERS
from ._blocks import Bottleneck, conv_bn, residual_stage
from ._common import PortedSegmenter, check_images, evaluation_space


CITYSCAPES_MEAN = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)   # datasets/cityscapes/info.json
CITYSCAPES_STD = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)
MS_SCALES = (0.5, 0.75, 1.25, 1.5, 1.75)    # segment.py --ms, on top of the original scale

# Per DRN-D arch: blocks (convs or bottlenecks) of layer1..layer8, and their widths.
ARCHS = {"drn_d_105": ((1, 1, 3, 4, 23, 3, 1, 1), (16, 32, 64, 128, 256, 512, 512, 512))}


def drn_d_levels(blocks: Sequence[int], channels: Sequence[int]) -> list[nn.Sequential]:
    """layer0..layer8 of a DRN-D: conv stacks at levels 0-2 and 7-8, bottleneck stages at levels 3-6."""
    strides = (1, 1, 2, 2, 2, 1, 1, 1, 1)
    dilations = (1, 1, 1, 1, 1, 2, 4, 2, 1)
    levels = [conv_bn(3, channels[0], 7)]
    cin = channels[0]
    for level in range(1, 9):
        width, count = channels[level - 1], blocks[level - 1]
        stride, dilation = strides[level], dilations[level]
        if level in (3, 4, 5, 6):
            # new_level=False at the dilated stages: every block, the first included, uses the full dilation.
            levels.append(residual_stage(Bottleneck, cin, width, count, stride, dilation))
            cin = width * Bottleneck.expansion
        else:
            layers: list[nn.Module] = []
            for index in range(count):
                layers += list(conv_bn(cin, width, 3, stride if index == 0 else 1, dilation=dilation))
                cin = width
            levels.append(nn.Sequential(*layers))
    return levels


def bilinear_kernel(channels: int, size: int) -> torch.Tensor:
    """The fixed bilinear upsampling kernel ``[channels, 1, size, size]`` of DRNSeg's ``up`` (fill_up_weights)."""
    factor = math.ceil(size / 2)
    centre = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    ramp = 1 - (torch.arange(size, dtype=torch.float64) / factor - centre).abs()
    return (ramp[:, None] * ramp[None, :]).expand(channels, 1, size, size).clone()


class DRNSeg(nn.Module):
    """fyu/drn ``DRNSeg``: DRN trunk at stride 8, 1x1 class conv, fixed bilinear x8 transposed conv.

    ``forward`` returns ``(log_softmax(up(seg(base(x)))), seg(base(x)))`` as the official module does.
    """

    def __init__(self, model_name: str = "drn_d_105", classes: int = 19) -> None:
        super().__init__()
        blocks, channels = ARCHS[model_name]
        self.base = nn.Sequential(*drn_d_levels(blocks, channels))
        self.seg = nn.Conv2d(channels[-1], classes, 1)
        self.up = nn.ConvTranspose2d(classes, classes, 16, stride=8, padding=4, groups=classes, bias=False)
        self.up.weight.requires_grad_(False)
        with torch.no_grad():
            self.up.weight.copy_(bilinear_kernel(classes, 16))

    @classmethod
    def from_official_config(cls, config: dict[str, Any]) -> "DRNSeg":
        """Build from the official ``DRNSeg(model_name, classes, pretrained_model, pretrained)`` arguments."""
        if config.get("pretrained") or config.get("pretrained_model"):
            raise ValueError("DRNSeg: ImageNet initialisation is not ported; load the segmentation checkpoint")
        return cls(config["model_name"], config["classes"])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.seg(self.base(x))
        return F.log_softmax(self.up(logits), dim=1), logits


@SEGMENTERS.register_module(name="drn-d-105")
class DRNSegmenter(PortedSegmenter):
    """DRN-D-105 on Cityscapes (19 trainIds); single-scale, or segment.py's multi-scale sum with ``multi_scale``."""

    name = "drn-d-105"
    datasets = ("cityscapes",)
    weights = {"cityscapes": "drn-d-105-cityscapes"}
    input_size = "own size (H, W multiples of 8; 256x512 in OASIS/INADE); multi_scale=True adds x0.5-1.75"
    label_spaces = {"cityscapes": evaluation_space(CITYSCAPES_LABELS)}

    def build_net(self, multi_scale: bool = False) -> DRNSeg:
        self.multi_scale = multi_scale
        return DRNSeg("drn_d_105", 19)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """RGB / 255 normalised with the Cityscapes mean and std (datasets/cityscapes/info.json)."""
        check_images(images, self.name)
        mean = torch.tensor(CITYSCAPES_MEAN, dtype=self.dtype, device=self.device)[:, None, None]
        std = torch.tensor(CITYSCAPES_STD, dtype=self.dtype, device=self.device)[:, None, None]
        return (images.to(self.device, self.dtype) / 255 - mean) / std

    @torch.no_grad()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Log-probabilities at the input size (multi-scale: their sum over the original and rescaled inputs)."""
        if not self.multi_scale:
            check_images(images, self.name, multiple=8)
            return self.net(self.preprocess(images))[0]
        size = tuple(images.shape[-2:])
        sizes = [(int(size[0] * scale), int(size[1] * scale)) for scale in (1.0,) + MS_SCALES]
        return sum(resize_scores(self.net(self.preprocess(resize_uint8(images, scaled)))[0], size) for scaled in sizes)


def resize_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """PIL-style BICUBIC resize of uint8 images (antialiased, rounded back to uint8) as segment.py's --ms does."""
    if tuple(images.shape[-2:]) == size:
        return images
    out = F.interpolate(images.double(), size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)


def resize_scores(scores: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """PIL-style BILINEAR resize of per-class score maps (segment.py's resize_4d_tensor); identity at equal size."""
    if tuple(scores.shape[-2:]) == size:
        return scores
    return F.interpolate(scores, size=size, mode="bilinear", align_corners=False, antialias=True)
