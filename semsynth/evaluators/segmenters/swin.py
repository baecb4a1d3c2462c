"""Swin Transformer backbone with mmseg's state_dict names and padding semantics (``mmseg.models.SwinTransformer``).

Differences from the original Swin that matter for a faithful port: patch merging concatenates each 2x2 block
channel-major (``nn.Unfold`` order), (shifted) window attention pads the normed token map with zeros that take part
in attention, and the region mask of shifted windows is built on the padded map with the value -100.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MASK_VALUE = -100.0


def relative_position_index(window: int) -> torch.Tensor:
    """``index[i, j] = (dy + w - 1) * (2w - 1) + (dx + w - 1)`` for (dy, dx) = pos(i) - pos(j), positions row-major."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    delta = coords[:, :, None] - coords[:, None, :] + window - 1
    return delta[0] * (2 * window - 1) + delta[1]


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """``[B, H, W, C]`` (H, W multiples of ``window``) -> ``[B * windows, window * window, C]``."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of ``window_partition``: ``[B * windows, window * window, C]`` -> ``[B, H, W, C]``."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


class WindowMSA(nn.Module):
    """Window attention with a learned relative position bias (added before the optional shift mask)."""

    def __init__(self, dims: int, heads: int, window: int, qkv_bias: bool = True,
                 qk_scale: float | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.scale = qk_scale or (dims // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dims, dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(dims, dims)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1)[None]
        if mask is not None:
            windows = mask.shape[0]
            attn = (attn.view(b // windows, windows, self.heads, n, n) + mask[None, :, None]).view(b, self.heads, n, n)
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class ShiftWindowMSA(nn.Module):
    """Pads the token map to window multiples, rolls by ``-shift`` (shifted blocks), attends per window, undoes it."""

    def __init__(self, dims: int, heads: int, window: int, shift: int, qkv_bias: bool = True,
                 qk_scale: float | None = None) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.w_msa = WindowMSA(dims, heads, window, qkv_bias, qk_scale)

    def shift_mask(self, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``[windows, n, n]`` with -100 between tokens of different regions of the rolled, padded map."""
        regions = torch.zeros(1, h, w, 1, device=device, dtype=dtype)
        cuts = (slice(0, -self.window), slice(-self.window, -self.shift), slice(-self.shift, None))
        for index, (rows, cols) in enumerate((r, c) for r in cuts for c in cuts):
            regions[:, rows, cols, :] = index
        labels = window_partition(regions, self.window).squeeze(-1)
        differ = labels[:, None, :] != labels[:, :, None]
        return torch.zeros_like(differ, dtype=dtype).masked_fill(differ, MASK_VALUE)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        b, _, c = x.shape
        h, w = hw
        x = x.view(b, h, w, c)
        x = F.pad(x, (0, 0, 0, -w % self.window, 0, -h % self.window))
        hp, wp = x.shape[1:3]
        mask = None
        if self.shift > 0:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
            mask = self.shift_mask(hp, wp, x.device, x.dtype)
        x = window_reverse(self.w_msa(window_partition(x, self.window), mask), self.window, hp, wp)
        if self.shift > 0:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        return x[:, :h, :w].reshape(b, h * w, c)


class FFN(nn.Module):
    """mmcv FFN with two fcs: ``layers.0.0`` Linear, activation, ``layers.1`` Linear; the residual is the caller's."""

    def __init__(self, dims: int, hidden: int, activation: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dims, hidden), activation(), nn.Dropout(0.0)),
                                    nn.Linear(hidden, dims), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SwinBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``."""

    def __init__(self, dims: int, heads: int, window: int, shift: int, mlp_ratio: float, qkv_bias: bool,
                 qk_scale: float | None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dims)
        self.attn = ShiftWindowMSA(dims, heads, window, shift, qkv_bias, qk_scale)
        self.norm2 = nn.LayerNorm(dims)
        self.ffn = FFN(dims, int(mlp_ratio * dims))

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), hw)
        return x + self.ffn(self.norm2(x))


class PatchMerging(nn.Module):
    """Pads to even size (bottom/right), gathers each 2x2 block channel-major (Unfold order), LayerNorm, Linear."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dims)
        self.reduction = nn.Linear(4 * dims, 2 * dims, bias=False)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
        b, _, c = x.shape
        h, w = hw
        x = F.pad(x.view(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        h2, w2 = x.shape[1] // 2, x.shape[2] // 2
        x = x.view(b, h2, 2, w2, 2, c).permute(0, 1, 3, 5, 2, 4).reshape(b, h2 * w2, 4 * c)
        return self.reduction(self.norm(x)), (h2, w2)


class SwinStage(nn.Module):
    """Blocks alternating regular and shifted windows, then optional patch merging (acting on the un-normed output)."""

    def __init__(self, dims: int, depth: int, heads: int, window: int, mlp_ratio: float, qkv_bias: bool,
                 qk_scale: float | None, downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dims, heads, window, window // 2 if index % 2 else 0, mlp_ratio, qkv_bias, qk_scale)
            for index in range(depth))
        self.downsample = PatchMerging(dims) if downsample else None

    def forward(self, x: torch.Tensor, hw: tuple[int, int]):
        for block in self.blocks:
            x = block(x, hw)
        if self.downsample is None:
            return x, hw, x, hw
        down, down_hw = self.downsample(x, hw)
        return down, down_hw, x, hw


class PatchEmbed(nn.Module):
    """Pads bottom/right to a multiple of the patch size, strided conv (``projection``), LayerNorm over channels."""

    def __init__(self, in_channels: int, dims: int, patch: int, norm: bool) -> None:
        super().__init__()
        self.patch = patch
        self.projection = nn.Conv2d(in_channels, dims, patch, stride=patch)
        self.norm = nn.LayerNorm(dims) if norm else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = F.pad(x, (0, -x.shape[-1] % self.patch, 0, -x.shape[-2] % self.patch))
        x = self.projection(x)
        hw = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        return (self.norm(x) if self.norm is not None else x), hw


class SwinTransformer(nn.Module):
    """mmseg ``SwinTransformer`` (no absolute position embedding): returns the NCHW output of every stage in
    ``out_indices`` after its own LayerNorm ``norm<i>``."""

    def __init__(self, embed_dims: int = 96, depths: Sequence[int] = (2, 2, 6, 2),
                 num_heads: Sequence[int] = (3, 6, 12, 24), window_size: int = 7, mlp_ratio: float = 4.0,
                 patch_size: int = 4, in_channels: int = 3, qkv_bias: bool = True, qk_scale: float | None = None,
                 patch_norm: bool = True, out_indices: Sequence[int] = (0, 1, 2, 3)) -> None:
        super().__init__()
        self.out_indices = tuple(out_indices)
        self.num_features = [embed_dims * 2 ** i for i in range(len(depths))]
        self.patch_embed = PatchEmbed(in_channels, embed_dims, patch_size, patch_norm)
        self.stages = nn.ModuleList(
            SwinStage(dims, depth, heads, window_size, mlp_ratio, qkv_bias, qk_scale, i < len(depths) - 1)
            for i, (dims, depth, heads) in enumerate(zip(self.num_features, depths, num_heads)))
        for i in self.out_indices:
            self.add_module(f"norm{i}", nn.LayerNorm(self.num_features[i]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, hw = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw, out, out_hw = stage(x, hw)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(out)
                outs.append(out.view(-1, *out_hw, self.num_features[i]).permute(0, 3, 1, 2).contiguous())
        return outs


def unfold_order(tensor: torch.Tensor, dim: int, inverse: bool = False) -> torch.Tensor:
    """Reorders a 4C axis between the original Swin concat order (C-blocks of pixels (0,0), (1,0), (0,1), (1,1))
    and mmseg's Unfold order (channel-major, pixels (0,0), (0,1), (1,0), (1,1)); ``inverse`` goes back."""
    size = tensor.shape[dim]
    channels = size // 4
    moved = tensor.movedim(dim, 0)
    if inverse:
        blocks = moved.reshape(channels, 4, *moved.shape[1:]).transpose(0, 1)[[0, 2, 1, 3]]
    else:
        blocks = moved.reshape(4, channels, *moved.shape[1:])[[0, 2, 1, 3]].transpose(0, 1)
    return blocks.reshape(size, *moved.shape[1:]).movedim(0, dim).contiguous()

