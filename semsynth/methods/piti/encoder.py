"""PITI's mask encoder (official ``Encoder``): a strided CNN turns the colour-coded mask into a grid of tokens, a
pre-LN transformer mixes them with a learned cls token appended last; outputs the cls token (global embedding) and
the spatial tokens (the decoder's encoder k/v). Official sizes: CNN widths 32..512, 8 blocks of width 512, 8 heads,
256x256 mask -> 16x16 = 256 tokens (+ cls = 257 positions)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.unet_blocks import compute_dtype


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in at least float32 (the official ``xf.LayerNorm``), returned in the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = compute_dtype(x.dtype)
        return F.layer_norm(x.to(dtype), self.normalized_shape, self.weight.to(dtype), self.bias.to(dtype),
                            self.eps).to(x.dtype)


class MultiheadAttention(nn.Module):
    """Self-attention with one ``c_qkv`` projection viewed as ``(B, T, heads, 3 * ch)`` and split into q, k, v per
    head; q and k each scaled by ``ch ** -0.25``; softmax in at least float32."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_qkv = nn.Linear(width, width * 3)
        self.c_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, width = x.shape
        qkv = self.c_qkv(x).view(b, length, self.heads, -1)
        ch = qkv.shape[-1] // 3
        q, k, v = qkv.split(ch, dim=-1)
        scale = ch ** -0.25
        weight = torch.einsum("bthc,bshc->bhts", q * scale, k * scale)
        weight = torch.softmax(weight.to(compute_dtype(x.dtype)), dim=-1).to(x.dtype)
        return self.c_proj(torch.einsum("bhts,bshc->bthc", weight, v).reshape(b, length, width))


class MLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, width * 4)
        self.c_proj = nn.Linear(width * 4, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = MLP(width)
        self.ln_2 = LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x


class CNN(nn.Module):
    """``conv1`` 7x7 stride 1, then a 3x3 stride-2 conv per further width, each with an affine InstanceNorm and
    LeakyReLU 0.2; a last plain 3x3 conv to ``width`` (official: conv1..conv5 + norm1..norm5, conv6)."""

    def __init__(self, in_channels: int, channels: Sequence[int], width: int) -> None:
        super().__init__()
        self.depth = len(channels)
        previous = in_channels
        for index, out in enumerate(channels, start=1):
            kernel, stride = (7, 1) if index == 1 else (3, 2)
            setattr(self, f"conv{index}", nn.Conv2d(previous, out, kernel, stride, kernel // 2))
            setattr(self, f"norm{index}", nn.InstanceNorm2d(out, affine=True))
            previous = out
        setattr(self, f"conv{self.depth + 1}", nn.Conv2d(previous, width, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(1, self.depth + 1):
            x = F.leaky_relu(getattr(self, f"norm{index}")(getattr(self, f"conv{index}")(x)), 0.2)
        return getattr(self, f"conv{self.depth + 1}")(x)


class MaskEncoder(nn.Module):
    """``forward(ref)`` with ``ref`` ``[B, in_channels, S, S]`` in [-1, 1] -> ``(xf_proj [B, width],
    xf_out [B, width, tokens])``. ``tokens`` = (S / 2^(len(cnn_channels) - 1))^2 fixes the positional embedding
    (official: 256 for a 256x256 mask)."""

    def __init__(self, in_channels: int = 3, cnn_channels: Sequence[int] = (32, 64, 128, 256, 512),
                 width: int = 512, layers: int = 8, heads: int = 8, tokens: int = 256) -> None:
        super().__init__()
        self.tokens = tokens
        self.cls_token = nn.Parameter(torch.empty(1, 1, width))
        self.positional_embedding = nn.Parameter(torch.empty(1, tokens + 1, width))
        self.transformer = Transformer(width, layers, heads)
        self.cnn = CNN(in_channels, cnn_channels, width)
        self.final_ln = LayerNorm(width)
        nn.init.normal_(self.cls_token, std=width ** -0.5)
        nn.init.normal_(self.positional_embedding, std=0.01)

    def forward(self, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.cnn(ref.to(self.cls_token.dtype)).flatten(2).transpose(1, 2)
        if features.shape[1] != self.tokens:
            raise ValueError(f"the mask gives {features.shape[1]} tokens but the encoder was built for {self.tokens}")
        cls = (self.cls_token + self.positional_embedding[:, :1]).expand(len(features), -1, -1)
        x = torch.cat([features + self.positional_embedding[:, 1:], cls], dim=1)
        x = self.final_ln(self.transformer(x))
        return x[:, -1], x[:, :-1].transpose(1, 2)
