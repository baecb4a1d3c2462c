"""Building blocks shared by the CSAIL UperNet, HRNet and DRN ports: the standard ResNet residual blocks (stride and
dilation on the 3x3 conv; keys conv1/bn1/.../downsample, as the official codes name them), indexed conv-BN(-ReLU) and
ImageNet normalisation."""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """RGB ``[B, 3, H, W]`` in [0, 1] -> ImageNet-normalised (mean/std per channel), in x's dtype and device."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, relu: bool = True,
            dilation: int = 1) -> nn.Sequential:
    """Bias-free ("same"-padded, optionally dilated) conv and BN (and ReLU) as an indexed ``Sequential``: keys ``.0``
    conv, ``.1`` BN."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel, stride, dilation * (kernel // 2), dilation, bias=False),
              nn.BatchNorm2d(out_channels)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def shortcut(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential | None:
    """The projection shortcut (1x1 conv, BN as ``downsample.0/.1``) when shape changes, else None (identity)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two (optionally dilated) 3x3 conv-BN layers and the residual add, then ReLU."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(in_channels, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride and the ``dilation``), 1x1 expand to 4x ``planes``; residual add, then
    ReLU."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(in_channels, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def residual_stage(block: type[BasicBlock] | type[Bottleneck], in_channels: int, planes: int, blocks: int,
                   stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """``blocks`` blocks, all with ``dilation``; the first one takes the stride and the projection shortcut."""
    out = planes * block.expansion
    return nn.Sequential(block(in_channels, planes, stride, dilation),
                         *(block(out, planes, 1, dilation) for _ in range(1, blocks)))
