"""Guided-diffusion UNet blocks (official module layout and key names): time embedding, GroupNorm32, resampling
layers and the time-conditioned ResBlock, whose norms are plain GroupNorms or a conditional norm such as SPADE."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn



def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half precisions, else the dtype itself (the official code upcasts norms and softmax to fp32)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sinusoidal embedding ``[cos(t f), sin(t f)]`` (cos first), ``f_i = max_period^(-i/half)``, built in ``dtype``
    (float32 as in the official code; float64 for the float64 golden)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=dtype, device=timesteps.device) / half)
    args = timesteps[:, None].to(dtype) * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in at least float32 and returned in the input dtype (guided-diffusion ``normalization``).
    The affine parameters are upcast too: a network cast whole to bf16/fp16 keeps float32 norms, as the official
    ``convert_to_fp16`` (which leaves norms in float32) does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = compute_dtype(x.dtype)
        weight, bias = (None if p is None else p.to(dtype) for p in (self.weight, self.bias))
        return F.group_norm(x.to(dtype), self.num_groups, weight, bias, self.eps).to(x.dtype)


def normalization(channels: int, groups: int = 32) -> GroupNorm32:
    """The official ``normalization``: 32 groups (``groups`` exists for tiny configs, see ``SDMUNet``)."""
    return GroupNorm32(groups, channels)


class TimestepBlock(nn.Module):
    """A block whose forward takes the time embedding: ``forward(x, emb, cond)``."""


class Resample(nn.Module):
    """Nearest x2 upsampling or 2x2 down-sampling, optionally followed/implemented by a conv (official
    ``Upsample``/``Downsample``; keys ``conv`` / ``op``)."""

    def __init__(self, channels: int, up: bool, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.up = up
        out_channels = out_channels or channels
        if use_conv and up:
            self.conv = nn.Conv2d(channels, out_channels, 3, padding=1)
        elif use_conv:
            self.op = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            return self.conv(x) if hasattr(self, "conv") else x
        return self.op(x) if hasattr(self, "op") else F.avg_pool2d(x, kernel_size=2, stride=2)


def _resampler(up: bool, down: bool) -> nn.Module:
    if up or down:
        return Resample(0, up=up, use_conv=False)
    return nn.Identity()


def _skip(channels: int, out_channels: int, use_conv: bool) -> nn.Module:
    if out_channels == channels:
        return nn.Identity()
    return nn.Conv2d(channels, out_channels, 3 if use_conv else 1, padding=1 if use_conv else 0)


# A conditional norm: built from a channel count, called as ``norm(x, cond)`` (e.g. SPADE on the layout).
CondNorm = Callable[[int], nn.Module]


class ResBlock(TimestepBlock):
    """Time-conditioned residual block; ``up``/``down`` resample both paths without parameters.

    Plain (``cond_norm=None``, guided-diffusion keys ``in_layers.0/.2``, ``emb_layers.1``, ``out_layers.0/.3``,
    ``skip_connection``): both norms are GroupNorm32. Conditional (SDM's ``SDMResBlock`` keys ``in_norm``,
    ``in_layers.1``, ``emb_layers.1``, ``out_norm``, ``out_layers.2``, ``skip_connection``): both norms are
    ``cond_norm(channels)`` modules called with the condition, e.g. SPADE on the layout."""

    def __init__(self, channels: int, emb_channels: int, dropout: float = 0.0, out_channels: int | None = None,
                 use_conv: bool = False, use_scale_shift_norm: bool = True, up: bool = False,
                 down: bool = False, groups: int = 32, cond_norm: CondNorm | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.conditional = cond_norm is not None
        norm = cond_norm if self.conditional else (lambda width: normalization(width, groups))
        in_layers = [norm(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)]
        if self.conditional:
            self.in_norm = in_layers.pop(0)
        self.in_layers = nn.Sequential(*in_layers)
        self.updown = up or down
        self.h_upd, self.x_upd = _resampler(up, down), _resampler(up, down)
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm
                                                             else out_channels))
        out_layers = [norm(out_channels), nn.SiLU(), nn.Dropout(dropout),
                      nn.Conv2d(out_channels, out_channels, 3, padding=1)]
        if self.conditional:
            self.out_norm = out_layers.pop(0)
        self.out_layers = nn.Sequential(*out_layers)
        self.skip_connection = _skip(channels, out_channels, use_conv)

    def _in_norm(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return self.in_norm(x, cond) if self.conditional else self.in_layers[0](x)

    def _out_norm(self, h: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return self.out_norm(h, cond) if self.conditional else self.out_layers[0](h)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.in_layers[-2](self._in_norm(x, cond))
        if self.updown:
            h, x = self.h_upd(h), self.x_upd(x)
        h = self.in_layers[-1](h)
        emb_out = self.emb_layers(emb).to(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self._out_norm(h, cond) * (1 + scale) + shift
        else:
            h = self._out_norm(h + emb_out, cond)
        return self.skip_connection(x) + self.out_layers[-3:](h)
