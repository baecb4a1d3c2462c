"""The DP-SIMS discriminator (supplement A.1, Table S3): a frozen pretrained timm backbone (through
``semsynth.nn.features``), feature conditioning, and a trainable UNet-like decoder that labels every pixel with
one of the N classes or "fake" (index N).

* Feature conditioning: each backbone stage goes through a non-linearity (Table S3: tanh; the text says sigmoid;
  ``conditioning`` selects it) and then a BatchNorm without learned affine (zero mean, unit variance over the
  batch), so no stage's large activations dominate.
* Decoder: from the deepest stage up, each level upsamples x2, concatenates the next shallower conditioned stage
  and runs a residual block (Conv3, LeakyReLU 0.2, Conv1, LeakyReLU 0.2; width = that stage's channels); a last
  level at full resolution concatenates a ``full_channels`` embedding of the image itself; a Conv3 to
  ``penultimate_channels`` then a Conv1 give the N + 1 logits. Spectral norm on every decoder convolution.
  ``colour_levels`` (ours, off in the paper's settings) adds the image's block means to each level's input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ...nn import features
from .generator import sn

NONLINEARITIES = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "none": lambda x: x}


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Backbone (a timm name, its ``create_model`` kwargs, which stages) and decoder widths."""

    num_classes: int = 10
    backbone: str = "convnext_atto"
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    out_indices: tuple[int, ...] = (0, 1, 2, 3)     # "number of multiscale backbone features: 4"
    frozen: bool = True                              # False: finetune the backbone (Table S6)
    conditioning: str = "tanh"
    full_channels: int = 128
    penultimate_channels: int = 256
    colour_levels: bool = False                      # our option: each decoder level also sees the image's block means

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DiscriminatorConfig":
        return cls(**{k: tuple(v) if k == "out_indices" else v for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class ResidualBlock(nn.Module):
    """Conv3, LeakyReLU, Conv1, LeakyReLU (slope 0.2) with a 1x1 projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_3 = sn(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.conv_1 = sn(nn.Conv2d(out_channels, out_channels, 1))
        self.shortcut = sn(nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv_3(x), 0.2)
        return self.shortcut(x) + F.leaky_relu(self.conv_1(y), 0.2)


class Discriminator(nn.Module):
    """``forward(images in [-1, 1])`` -> logits ``[B, num_classes + 1, H, W]`` (the last channel is "fake")."""

    def __init__(self, config: DiscriminatorConfig, pretrained_file: str | Path | None = None,
                 catalog: str | None = None) -> None:
        super().__init__()
        if config.conditioning not in NONLINEARITIES:
            raise ValueError(f"unknown conditioning {config.conditioning!r}; use {', '.join(NONLINEARITIES)}")
        self.config = config
        self.backbone = features.create(config.backbone, pretrained_file, config.out_indices, config.frozen,
                                        catalog, **config.backbone_kwargs)
        channels = self.backbone.channels
        self.reductions = self.backbone.reductions
        self.conditioning = nn.ModuleList(nn.BatchNorm2d(c, affine=False) for c in channels)
        colour = 3 if config.colour_levels else 0
        self.levels = nn.ModuleList(
            ResidualBlock(channels[i] + (channels[i + 1] if i + 1 < len(channels) else 0) + colour, channels[i])
            for i in range(len(channels)))
        self.embed = sn(nn.Conv2d(3, config.full_channels, 3, padding=1))
        self.full = ResidualBlock(config.full_channels + channels[0], config.full_channels)
        self.penultimate = sn(nn.Conv2d(config.full_channels, config.penultimate_channels, 3, padding=1))
        self.classify = sn(nn.Conv2d(config.penultimate_channels, config.num_classes + 1, 1))

    def conditioned(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's stages after the non-linearity and the affine-free BatchNorm; with ``colour_levels`` each
        also carries the image averaged over the stage's blocks (a colour-blind backbone's decoder then sees
        region colours)."""
        squash = NONLINEARITIES[self.config.conditioning]
        stages = [norm(squash(f.float())) for norm, f in zip(self.conditioning, self.backbone(images))]
        if self.config.colour_levels:
            stages = [torch.cat([f, F.adaptive_avg_pool2d(images.float(), f.shape[-2:])], 1) for f in stages]
        return stages

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        stages = self.conditioned(images)
        x = self.levels[-1](stages[-1])
        for i in range(len(stages) - 2, -1, -1):
            x = F.interpolate(x, size=stages[i].shape[-2:], mode="bilinear", align_corners=False)
            x = self.levels[i](torch.cat([stages[i], x], 1))
        x = F.interpolate(x, size=images.shape[-2:], mode="bilinear", align_corners=False)
        x = self.full(torch.cat([F.leaky_relu(self.embed(images), 0.2), x], 1))
        return self.classify(F.leaky_relu(self.penultimate(x), 0.2))
