"""The DP-SIMS generator (supplement A.1, Table S2): a label-map encoder pyramid whose low-resolution blocks take
the noise by cross-attention, feeding an OASIS-style image path of SPADE residual blocks.

* Noise: ``z`` (``z_dim``) is put on the unit sphere, mapped by an MLP to ``w`` (``w_dim``) and split into
  ``noise_tokens`` tokens that every cross-attention attends to. ``segment_noise`` (ours, off in the paper's
  settings) adds a map of that many channels beside the label map: one N(0, 1) vector per segment, constant over it
  (OASIS's 3D noise, drawn per segment), so segments can vary independently of each other; ``noise_in_spade`` also
  appends it, resized, to every SPADE block's conditioning (as OASIS feeds its noise to every SPADE layer), a
  local path that the encoder's self-attention does not mix across segments.
* Label encoding: level 0 works at full resolution, each next level halves it with a stride-2 3x3 convolution.
  A ``conv`` block is Conv3, BN, GELU, Conv1; a ``pyramid`` block is Conv3, BN, GELU, cross-attention (noise),
  BN, GELU, self-attention, GELU, BN, Conv1 (attention width = channels / 2). Each level also emits a
  ``pyramid_channels`` map: the SPADE conditioning of the image block at its resolution.
* Image path: from the deepest label features, SPADE residual blocks (SPADE, LeakyReLU 0.2, Conv3, twice, with a
  learned SPADE + Conv1 shortcut when widths differ) upsampled x2 between blocks (nearest as OASIS; ``upsample``
  bilinear is our option), then Conv3 to RGB, no tanh.
Spectral norm on every convolution and linear layer (as the paper states).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ...nn.attention import attend


UPSAMPLING: dict[str, dict[str, Any]] = {"nearest": {"mode": "nearest"},
                                         "bilinear": {"mode": "bilinear", "align_corners": False}}


def sn(module: nn.Module) -> nn.Module:
    """Spectral norm (torch parametrization: ``parametrizations.weight.original``)."""
    return spectral_norm(module)


@dataclass(frozen=True)
class GeneratorConfig:
    """Generator hyperparameters; the defaults are the ``shapes`` size (paper values are in ``presets.py``)."""

    label_channels: int = 11               # classes (+1 instance-edge channel when ``instances``)
    resolution: tuple[int, int] = (64, 64)
    z_dim: int = 64
    w_dim: int = 256
    noise_tokens: int = 4
    encoder_channels: tuple[int, ...] = (32, 64, 64, 128, 128)   # one per level, level i at resolution / 2**i
    block_types: tuple[str, ...] = ("conv", "conv", "pyramid", "pyramid", "pyramid")
    pyramid_channels: int = 32
    image_channels: tuple[int, ...] = (128, 128, 64, 32, 16)      # image blocks from the deepest level up
    spade_hidden: int = 32
    heads: int = 1
    upsample: str = "nearest"      # the image path's x2 resize: "nearest" (OASIS) or "bilinear"
    segment_noise: int = 0         # channels of the per-segment noise map beside the label map (0: none, the paper)
    noise_in_spade: bool = False   # the noise map also conditions every SPADE block (needs segment_noise)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GeneratorConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class Attention(nn.Module):
    """Multi-head attention of a feature map's positions over ``context`` tokens (itself when None), width
    ``channels // 2``, residual."""

    def __init__(self, channels: int, context_channels: int | None, heads: int) -> None:
        super().__init__()
        inner = channels // 2
        self.heads = heads
        self.to_q = sn(nn.Linear(channels, inner))
        self.to_kv = sn(nn.Linear(context_channels or channels, 2 * inner))
        self.to_out = sn(nn.Linear(inner, channels))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        source = tokens if context is None else context
        q = self.to_q(tokens)
        k, v = self.to_kv(source).chunk(2, dim=-1)
        split = [t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2) for t in (q, k, v)]
        out = attend(*split).transpose(1, 2).reshape(b, h * w, -1)
        return x + self.to_out(out).transpose(1, 2).reshape(b, c, h, w)


class LabelBlock(nn.Module):
    """One label-encoding level: a ``conv`` or ``pyramid`` block (the latter with noise cross-attention)."""

    def __init__(self, in_channels: int, channels: int, kind: str, stride: int, token_channels: int,
                 heads: int) -> None:
        super().__init__()
        if kind not in ("conv", "pyramid"):
            raise ValueError(f"unknown label block type {kind!r}; use conv or pyramid")
        self.kind = kind
        self.conv_in = sn(nn.Conv2d(in_channels, channels, 3, stride, 1))
        self.norm_in = nn.BatchNorm2d(channels)
        if kind == "pyramid":
            self.cross = Attention(channels, token_channels, heads)
            self.norm_cross = nn.BatchNorm2d(channels)
            self.self_attn = Attention(channels, None, heads)
            self.norm_self = nn.BatchNorm2d(channels)
        self.conv_out = sn(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm_in(self.conv_in(x)))
        if self.kind == "pyramid":
            x = F.gelu(self.norm_cross(self.cross(x, tokens)))
            x = self.norm_self(F.gelu(self.self_attn(x)))
        return self.conv_out(x)


class SPADE(nn.Module):
    """Parameter-free BatchNorm modulated by ``gamma``/``beta`` convolutions of a conditioning map (OASIS)."""

    def __init__(self, channels: int, cond_channels: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = sn(nn.Conv2d(cond_channels, hidden, 3, padding=1))
        self.gamma = sn(nn.Conv2d(hidden, channels, 3, padding=1))
        self.beta = sn(nn.Conv2d(hidden, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        actv = F.relu(self.shared(cond))
        return self.norm(x) * (1 + self.gamma(actv)) + self.beta(actv)


class SPADEResBlock(nn.Module):
    """OASIS's residual block: (SPADE, LeakyReLU 0.2, Conv3) x 2, plus a learned shortcut when widths differ."""

    def __init__(self, in_channels: int, out_channels: int, cond_channels: int, hidden: int) -> None:
        super().__init__()
        middle = min(in_channels, out_channels)
        self.norm_0, self.conv_0 = SPADE(in_channels, cond_channels, hidden), sn(nn.Conv2d(in_channels, middle, 3,
                                                                                         padding=1))
        self.norm_1, self.conv_1 = SPADE(middle, cond_channels, hidden), sn(nn.Conv2d(middle, out_channels, 3,
                                                                                    padding=1))
        self.learned_shortcut = in_channels != out_channels
        if self.learned_shortcut:
            self.norm_s = SPADE(in_channels, cond_channels, hidden)
            self.conv_s = sn(nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, cond)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, cond), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, cond), 0.2))
        return shortcut + dx


class Generator(nn.Module):
    """``forward(label_map, z)`` -> RGB ``[B, 3, H, W]`` (unbounded; [-1, 1] after clamping); ``with_features``
    also returns the penultimate features (the diversity loss's distance space)."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        levels = len(config.encoder_channels)
        if not len(config.block_types) == levels == len(config.image_channels):
            raise ValueError("encoder_channels, block_types and image_channels need one entry per level")
        if config.upsample not in UPSAMPLING:
            raise ValueError(f"unknown upsample {config.upsample!r}; use {' or '.join(UPSAMPLING)}")
        token_channels = config.w_dim // config.noise_tokens
        self.mapping = nn.Sequential(sn(nn.Linear(config.z_dim, config.w_dim)), nn.LeakyReLU(0.2),
                                     sn(nn.Linear(config.w_dim, config.w_dim)))
        widths = (config.label_channels + config.segment_noise, *config.encoder_channels)
        self.encoder = nn.ModuleList(
            LabelBlock(widths[i], widths[i + 1], config.block_types[i], 1 if i == 0 else 2, token_channels,
                       config.heads) for i in range(levels))
        self.to_pyramid = nn.ModuleList(sn(nn.Conv2d(c, config.pyramid_channels, 1)) for c in config.encoder_channels)
        self.head = sn(nn.Conv2d(config.encoder_channels[-1], config.image_channels[0], 3, padding=1))
        image = (config.image_channels[0], *config.image_channels)
        if config.noise_in_spade and not config.segment_noise:
            raise ValueError("noise_in_spade needs segment_noise channels")
        cond_channels = config.pyramid_channels + (config.segment_noise if config.noise_in_spade else 0)
        self.blocks = nn.ModuleList(SPADEResBlock(image[i], image[i + 1], cond_channels, config.spade_hidden)
                                    for i in range(levels))
        self.to_rgb = sn(nn.Conv2d(config.image_channels[-1], 3, 3, padding=1))

    def tokens(self, z: torch.Tensor) -> torch.Tensor:
        """Noise tokens ``[B, noise_tokens, w_dim / noise_tokens]`` of ``z`` (normalised to the unit sphere)."""
        w = self.mapping(F.normalize(z, dim=1))
        return w.reshape(z.shape[0], self.config.noise_tokens, -1)

    def forward(self, label_map: torch.Tensor, z: torch.Tensor, with_features: bool = False,
                noise_map: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The image of ``label_map`` ``[B, label_channels, H, W]``, ``z`` ``[B, z_dim]`` and, when the config has
        ``segment_noise``, ``noise_map`` ``[B, segment_noise, H, W]``; with ``with_features`` also the penultimate
        features (a flag, not a method, so that it works under DDP)."""
        if (noise_map is None) != (self.config.segment_noise == 0):
            raise ValueError(f"this generator takes a noise map of {self.config.segment_noise} channels; "
                             f"got {None if noise_map is None else noise_map.shape[1]}")
        tokens = self.tokens(z)
        pyramid, x = [], label_map if noise_map is None else torch.cat([label_map, noise_map], 1)
        for block, project in zip(self.encoder, self.to_pyramid):
            x = block(x, tokens)
            pyramid.append(project(x))
        x = self.head(x)
        for i, block in enumerate(self.blocks):
            if i:
                x = F.interpolate(x, scale_factor=2, **UPSAMPLING[self.config.upsample])
            cond = pyramid[-1 - i]
            if self.config.noise_in_spade:
                cond = torch.cat([cond, F.interpolate(noise_map, size=cond.shape[-2:], mode="nearest")], 1)
            x = block(x, cond)
        image = self.to_rgb(F.leaky_relu(x, 0.2))
        return (image, x) if with_features else image
