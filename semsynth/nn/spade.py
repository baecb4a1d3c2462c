"""SPADE group norm (SDM): parameter-free GroupNorm modulated by a spatial scale and shift computed from the layout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SPADEGroupNorm(nn.Module):
    """``GroupNorm(32, C, affine=False)(x) * (1 + gamma(y)) + beta(y)`` with ``y`` resized (nearest) to ``x``.

    Keys ``mlp_shared.0`` (3x3 conv to ``hidden`` + ReLU), ``mlp_gamma``, ``mlp_beta`` (3x3 convs); the official
    hidden width is 128. The norm runs in the input dtype, as in the official code."""

    def __init__(self, norm_channels: int, label_channels: int, hidden: int = 128, eps: float = 1e-5,
                 groups: int = 32) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, norm_channels, affine=False, eps=eps)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        segmap = F.interpolate(segmap.to(x.dtype), size=x.shape[-2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return self.norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)
