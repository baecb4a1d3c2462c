"""Guided-diffusion spatial attention block (keys ``norm``, ``qkv``, ``encoder_kv``, ``proj_out``) with both qkv
layouts, optionally attending to encoder tokens as GLIDE/PITI do (their k/v prepended to the block's own)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .unet_blocks import compute_dtype, normalization


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention of ``[B, heads, T, ch]`` tensors through PyTorch's fused kernels, except on the CPU: there
    the math kernel keeps samples bit-identical to earlier releases (the fused CPU kernel moves outputs by ~5e-7,
    enough to change some uint8 pixels of SDM samples by 1)."""
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v)
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v)


class AttentionBlock(nn.Module):
    """Residual multi-head attention over all positions, plus the encoder tokens when ``encoder_channels`` is set.

    ``legacy_order=True`` splits the 3C qkv channels head-major (``[h0: q k v][h1: q k v]...``, official
    ``QKVAttentionLegacy``); False splits q, k, v first (``QKVAttention``). ``encoder_kv`` projects the encoder
    tokens ``[B, encoder_channels, S]`` to 2C channels split the same way into k and v, which come before the
    block's own keys and values (no mask). Softmax scale ``1/sqrt(ch)``."""

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1,
                 legacy_order: bool = True, groups: int = 32, encoder_channels: int | None = None) -> None:
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
        self.encoder_kv = None if encoder_channels is None else nn.Conv1d(encoder_channels, channels * 2, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def heads(self, projected: torch.Tensor, parts: int) -> torch.Tensor:
        """``[B, parts * C, T]`` -> contiguous ``[parts, B, heads, T, C / heads]`` in this block's channel order, the
        layout PyTorch's fused attention kernels take."""
        b, _, length = projected.shape
        if self.legacy_order:
            split = projected.reshape(b, self.num_heads, parts, -1, length).permute(2, 0, 1, 4, 3)
        else:
            split = projected.reshape(b, parts, self.num_heads, -1, length).permute(1, 0, 2, 4, 3)
        return split.contiguous()

    def forward(self, x: torch.Tensor, encoder_tokens: torch.Tensor | None = None) -> torch.Tensor:
        b, c, *spatial = x.shape
        flat = x.reshape(b, c, -1)
        q, k, v = self.heads(self.qkv(self.norm(flat)), 3)
        if self.encoder_kv is not None:
            encoder_k, encoder_v = self.heads(self.encoder_kv(encoder_tokens.to(x.dtype)), 2)
            k, v = torch.cat([encoder_k, k], dim=2), torch.cat([encoder_v, v], dim=2)
        dtype = compute_dtype(x.dtype) if x.device.type == "cpu" else x.dtype
        out = attend(q.to(dtype), k.to(dtype), v.to(dtype))
        out = out.to(x.dtype).transpose(-1, -2).reshape(b, c, -1)
        return (flat + self.proj_out(out)).reshape(b, c, *spatial)
