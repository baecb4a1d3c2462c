"""The ``shapes`` evaluator network: a small segmentation CNN trained on ``shapes`` and shipped in the package.

Its pooled features define FID on ``shapes`` and its per-layer features an LPIPS-style distance (channel-normalised
features, squared difference, spatial mean, summed over layers; no learned weights); the ``shapes-segnet``
segmenter (mIoU) and INADE's perceptual loss use the same network. Retrain it with
``bench train --segmenter shapes-segnet`` (``evaluators/segmenters/train_shapes_segnet.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ..datasets.shapes import SHAPES_LABELS
from .base import register_distance, register_features


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ShapesSegNet(nn.Module):
    """Four feature stages (64, 32, 16, 16 px at 64x64 input) and a two-step upsampling head with skips."""

    def __init__(self, num_classes: int = SHAPES_LABELS.num_classes, width: int = 24) -> None:
        super().__init__()
        w = width
        self.stem = _conv(3, w)
        self.stage2 = nn.Sequential(_conv(w, 2 * w, stride=2), _conv(2 * w, 2 * w))
        self.stage3 = nn.Sequential(_conv(2 * w, 4 * w, stride=2), _conv(4 * w, 4 * w, dilation=2))
        self.stage4 = _conv(4 * w, 4 * w, dilation=4)
        self.fuse2 = _conv(6 * w, 2 * w)
        self.fuse1 = _conv(3 * w, w + w // 3)
        self.classifier = nn.Conv2d(w + w // 3, num_classes, 1)

    @staticmethod
    def normalise(images: torch.Tensor) -> torch.Tensor:
        return images.float() / 127.5 - 1

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of the four stages for a normalised input."""
        f1 = self.stem(x)
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        return [f1, f2, f3, self.stage4(f3)]

    def head(self, features: list[torch.Tensor]) -> torch.Tensor:
        f1, f2, _, f4 = features
        up = F.interpolate(f4, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        x = self.fuse2(torch.cat([f2, up], 1))
        x = F.interpolate(x, size=f1.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.fuse1(torch.cat([f1, x], 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(x))


def load_net(checkpoint: str | Path | None = None, pretrained: bool = True,
             device: str | torch.device = "cpu") -> tuple[ShapesSegNet, str]:
    """The network and the identity of its weights (sha256 of the file, or "random")."""
    from .. import weights

    net = ShapesSegNet()
    identity = "random"
    if pretrained:
        file = weights.path("shapes-segnet", checkpoint)
        net.load_state_dict(load_file(str(file)), strict=True)
        identity = weights.sha256(file)
    return net.to(device).eval().requires_grad_(False), identity


class ShapesEvaluator:
    """What the network's roles share (features, distance, segmenter): the network at 64x64 on ``device``."""

    size = 64

    def __init__(self, checkpoint: str | Path | None = None, pretrained: bool = True,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.net, self.identity = load_net(checkpoint, pretrained, self.device)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = ShapesSegNet.normalise(images.to(self.device))
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return x


@register_features("shapes-segnet")
class ShapesFeatures(ShapesEvaluator):
    """FID features on ``shapes``: global average pools of stages 2-4, 240-d."""

    name = "shapes-segnet"
    dim = 240

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        stages = self.net.stages(self.preprocess(images))
        return torch.cat([f.mean((2, 3)) for f in stages[1:]], 1).double().cpu()


@register_distance("shapes-segnet")
class ShapesDistance(ShapesEvaluator):
    """LPIPS-style distance on ``shapes`` from the four stages' channel-normalised features."""

    name = "shapes-segnet"

    @torch.no_grad()
    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(a.shape[0], dtype=torch.float64)
        for fa, fb in zip(self.net.stages(self.preprocess(a)), self.net.stages(self.preprocess(b))):
            fa = fa / (fa.norm(dim=1, keepdim=True) + 1e-10)
            fb = fb / (fb.norm(dim=1, keepdim=True) + 1e-10)
            total += (fa - fb).pow(2).sum(1).mean((1, 2)).double().cpu()
        return total
