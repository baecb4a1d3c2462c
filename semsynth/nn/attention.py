"""Guided-diffusion spatial self-attention block (keys ``norm``, ``qkv``, ``proj_out``) with both qkv layouts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .unet_blocks import compute_dtype, normalization


class AttentionBlock(nn.Module):
    """Residual multi-head self-attention over all positions.

    ``legacy_order=True`` splits the 3C qkv channels head-major (``[h0: q k v][h1: q k v]...``, official
    ``QKVAttentionLegacy``); False splits q, k, v first (``QKVAttention``). Softmax scale ``1/sqrt(ch)``."""

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1,
                 legacy_order: bool = True, groups: int = 32) -> None:
        super().__init__()
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise ValueError(f"channels {channels} not divisible by num_head_channels {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.legacy_order = legacy_order
        self.norm = normalization(channels, groups)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        flat = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(flat))
        heads, ch, length = self.num_heads, c // self.num_heads, flat.shape[-1]
        if self.legacy_order:
            q, k, v = qkv.reshape(b * heads, 3 * ch, length).split(ch, dim=1)
        else:
            q, k, v = (part.reshape(b * heads, ch, length) for part in qkv.chunk(3, dim=1))
        dtype = compute_dtype(x.dtype) if x.device.type == "cpu" else x.dtype
        out = F.scaled_dot_product_attention(q.transpose(1, 2).to(dtype), k.transpose(1, 2).to(dtype),
                                             v.transpose(1, 2).to(dtype))
        out = out.to(x.dtype).transpose(1, 2).reshape(b, c, length)
        return (flat + self.proj_out(out)).reshape(b, c, *spatial)
