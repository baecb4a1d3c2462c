"""Guided-diffusion spatial attention block (keys ``norm``, ``qkv``, ``encoder_kv``, ``proj_out``) with both qkv
layouts, optionally attending to encoder tokens as GLIDE/PITI do (their k/v prepended to the block's own)."""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .unet_blocks import compute_dtype, normalization


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax attention of ``[B, heads, T, ch]`` tensors (``bias`` added to the logits) through PyTorch's fused
    kernels, except on the CPU: there the math kernel keeps samples bit-identical to earlier releases (the fused CPU
    kernel moves outputs by ~5e-7, enough to change some uint8 pixels of SDM samples by 1)."""
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


@lru_cache(maxsize=64)
def token_prior(size: tuple[int, int], tokens: int, locality: float) -> torch.Tensor:
    """Logit bias ``[H*W, tokens + H*W]`` of a block that prepends ``tokens`` encoder tokens to its ``H x W`` keys:
    each query gives the tokens together the prior weight of all image keys together, spread over them by
    ``softmax(-locality * d**2)``, d the distance (in token cells) from the query's position to the token's cell
    centre when the tokens tile a square grid (else spread evenly). Image keys get 0."""
    h, w = size
    side = round(tokens ** 0.5)
    if side * side == tokens and locality > 0:
        centres = (torch.arange(side, dtype=torch.float64) + 0.5) / side
        ty, tx = torch.meshgrid(centres, centres, indexing="ij")
        qy, qx = torch.meshgrid((torch.arange(h, dtype=torch.float64) + 0.5) / h,
                                (torch.arange(w, dtype=torch.float64) + 0.5) / w, indexing="ij")
        d2 = ((qy.reshape(-1, 1) - ty.reshape(1, -1)) ** 2 + (qx.reshape(-1, 1) - tx.reshape(1, -1)) ** 2) * side ** 2
        spread = torch.log_softmax(-locality * d2, dim=1)
    else:
        spread = torch.full((h * w, tokens), -math.log(tokens), dtype=torch.float64)
    return torch.cat([spread + math.log(h * w), torch.zeros(h * w, h * w, dtype=torch.float64)], dim=1).float()


class AttentionBlock(nn.Module):
    """Residual multi-head attention over all positions, plus the encoder tokens when ``encoder_channels`` is set.

    ``legacy_order=True`` splits the 3C qkv channels head-major (``[h0: q k v][h1: q k v]...``, official
    ``QKVAttentionLegacy``); False splits q, k, v first (``QKVAttention``). ``encoder_kv`` projects the encoder
    tokens ``[B, encoder_channels, S]`` to 2C channels split the same way into k and v, which come before the
    block's own keys and values (no mask). Softmax scale ``1/sqrt(ch)``. ``token_locality`` (not in GLIDE/PITI;
    None there) adds ``token_prior``'s logit bias, so that each position reads the tokens of its own place from
    the first step instead of learning where they are."""

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1,
                 legacy_order: bool = True, groups: int = 32, encoder_channels: int | None = None,
                 token_locality: float | None = None) -> None:
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
        self.token_locality = token_locality

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
        bias = None
        if self.encoder_kv is not None and self.token_locality is not None:
            bias = token_prior(tuple(spatial), encoder_tokens.shape[-1], self.token_locality).to(x.device, dtype)
        out = attend(q.to(dtype), k.to(dtype), v.to(dtype), bias)
        out = out.to(x.dtype).transpose(-1, -2).reshape(b, c, -1)
        return (flat + self.proj_out(out)).reshape(b, c, *spatial)
