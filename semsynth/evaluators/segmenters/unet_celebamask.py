"""The CelebAMask-HQ face parser (switchablenorms/CelebAMask-HQ ``face_parsing/unet.py``): port, weights, segmenter.

The official tester resizes every image (RGB included) to 512x512 with NEAREST, maps it to [-1, 1] and takes the
per-pixel argmax over 19 classes. Our scores are brought back to the input size bilinearly before the argmax.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...datasets.labelspaces import CELEBAMASK_LABELS
from ...registry import SEGMENTERS
from ._common import PortedSegmenter, check_images, evaluation_space


TEST_SIZE = 512


class UnetConv2(nn.Module):
    """Two conv3x3 (with bias) + BN + ReLU stages, keyed ``conv1.0/.1`` and ``conv2.0/.1``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class UnetUp(nn.Module):
    """ConvTranspose2d(k2, s2) up-sampling of the deeper map, concatenated after the skip, then ``UnetConv2``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = UnetConv2(cin, cout)
        self.up = nn.ConvTranspose2d(cin, cout, 2, 2)

    def forward(self, skip: torch.Tensor, deeper: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(deeper)], dim=1))


class UNet(nn.Module):
    """The face-parsing ``unet``: four conv/max-pool levels, a centre block, four up levels, 1x1 ``final``."""

    def __init__(self, feature_scale: int = 4, n_classes: int = 19, in_channels: int = 3) -> None:
        super().__init__()
        widths = [width // feature_scale for width in (64, 128, 256, 512, 1024)]
        self.conv1 = UnetConv2(in_channels, widths[0])
        self.conv2 = UnetConv2(widths[0], widths[1])
        self.conv3 = UnetConv2(widths[1], widths[2])
        self.conv4 = UnetConv2(widths[2], widths[3])
        self.center = UnetConv2(widths[3], widths[4])
        self.up_concat4 = UnetUp(widths[4], widths[3])
        self.up_concat3 = UnetUp(widths[3], widths[2])
        self.up_concat2 = UnetUp(widths[2], widths[1])
        self.up_concat1 = UnetUp(widths[1], widths[0])
        self.final = nn.Conv2d(widths[0], n_classes, 1)

    @classmethod
    def from_official_config(cls, config: dict[str, Any]) -> "UNet":
        """Build from the official ``unet(feature_scale, n_classes, is_deconv, in_channels, is_batchnorm)``."""
        if not config.get("is_deconv", True) or not config.get("is_batchnorm", True):
            raise ValueError("unet: only the released is_deconv=True, is_batchnorm=True variant is ported")
        return cls(config["feature_scale"], config["n_classes"], config["in_channels"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = level(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.center(x)
        for up, skip in zip((self.up_concat4, self.up_concat3, self.up_concat2, self.up_concat1), reversed(skips)):
            x = up(skip, x)
        return self.final(x)


@SEGMENTERS.register_module(name="unet-celebamask")
class UNetCelebAMaskSegmenter(PortedSegmenter):
    """The CelebAMask-HQ UNet face parser (19 classes); option ``test_size`` (512 as the official tester, None
    feeds the images at their own size, which must then be multiples of 16)."""

    name = "unet-celebamask"
    datasets = ("celebamask",)
    weights = {"celebamask": "unet-celebamask-hq"}
    input_size = "512x512 (NEAREST resize, as the official tester)"
    label_spaces = {"celebamask": evaluation_space(CELEBAMASK_LABELS)}

    def build_net(self, test_size: int | None = TEST_SIZE) -> UNet:
        self.test_size = test_size
        return UNet(4, 19, 3)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """NEAREST resize to ``test_size`` (PIL pixel-centre rule), then [-1, 1]."""
        check_images(images, self.name, multiple=1 if self.test_size else 16)
        if self.test_size:
            images = F.interpolate(images, size=(self.test_size, self.test_size), mode="nearest-exact")
        return (images.to(self.device, self.dtype) / 255 - 0.5) / 0.5

    @torch.no_grad()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Logits resized bilinearly (align_corners=False) back to the input size."""
        logits = self.net(self.preprocess(images))
        if logits.shape[-2:] == images.shape[-2:]:
            return logits
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
