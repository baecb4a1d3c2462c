"""The imagen-pytorch building blocks GCDP's joint UNet is made of (lucidrains style), with the official module
names so released checkpoints load strictly: gain-only LayerNorm, multi-query attention with a learned null
key/value, cross-attention, the Perceiver resampler that pools text tokens, global-context gated ResNet blocks,
the multi-kernel input embedding, pixel-unshuffle down- and pixel-shuffle upsampling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """Gain-only LayerNorm over ``dim`` (-1: tokens, -3: channels of a feature map); eps 1e-5 in float32 and 1e-3
    in lower precision, as the official code."""

    def __init__(self, features: int, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim
        self.g = nn.Parameter(torch.ones(features, *((1,) * (-dim - 1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eps = 1e-5 if x.dtype == torch.float32 else 1e-3
        var = torch.var(x, dim=self.dim, unbiased=False, keepdim=True)
        mean = torch.mean(x, dim=self.dim, keepdim=True)
        return (x - mean) * (var + eps).rsqrt().type(x.dtype) * self.g.type(x.dtype)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T) v with the softmax in float32; q ``[B, H, I, D]`` (already scaled), k/v ``[B, (H,) J, D]``."""
    if k.dim() == 3:
        k, v = k[:, None], v[:, None]
    attn = (q @ k.transpose(-1, -2)).softmax(dim=-1, dtype=torch.float32).to(q.dtype)
    return attn @ v


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).flatten(2)


class Attention(nn.Module):
    """Self-attention over tokens ``[B, N, C]`` with one shared key/value head (multi-query), a learned null
    key/value, and optional context tokens projected (LayerNorm + Linear) into extra keys/values in front."""

    def __init__(self, dim: int, heads: int = 8, dim_head: int = 64, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        self.norm = LayerNorm(dim)
        self.null_kv = nn.Parameter(torch.randn(2, dim_head))
        self.to_q = nn.Linear(dim, dim_head * heads, bias=False)
        self.to_kv = nn.Linear(dim, dim_head * 2, bias=False)
        self.to_context = nn.Sequential(nn.LayerNorm(context_dim), nn.Linear(context_dim, dim_head * 2)) \
            if context_dim is not None else None
        self.to_out = nn.Sequential(nn.Linear(dim_head * heads, dim, bias=False), LayerNorm(dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(x)
        q = _heads(self.to_q(x), self.heads) * self.scale
        k, v = self.to_kv(x).chunk(2, dim=-1)
        null_k, null_v = (part.expand(x.shape[0], 1, -1) for part in self.null_kv[:, None])
        k, v = torch.cat([null_k, k], dim=1), torch.cat([null_v, v], dim=1)
        if context is not None:
            context_k, context_v = self.to_context(context).chunk(2, dim=-1)
            k, v = torch.cat([context_k, k], dim=1), torch.cat([context_v, v], dim=1)
        return self.to_out(_merge(_attend(q, k, v)))


class CrossAttention(nn.Module):
    """Multi-head attention of image tokens on context tokens, with a learned null key/value per head."""

    def __init__(self, dim: int, context_dim: int, heads: int = 8, dim_head: int = 64) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        self.norm = LayerNorm(dim)
        self.null_kv = nn.Parameter(torch.randn(2, dim_head))
        self.to_q = nn.Linear(dim, dim_head * heads, bias=False)
        self.to_kv = nn.Linear(context_dim, dim_head * heads * 2, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim_head * heads, dim, bias=False), LayerNorm(dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        q = _heads(self.to_q(x), self.heads) * self.scale
        k, v = (_heads(part, self.heads) for part in self.to_kv(context).chunk(2, dim=-1))
        shape = (x.shape[0], self.heads, 1, -1)
        k = torch.cat([self.null_kv[0].expand(shape), k], dim=2)
        v = torch.cat([self.null_kv[1].expand(shape), v], dim=2)
        return self.to_out(_merge(_attend(q, k, v)))


class OnTokens(nn.Module):
    """Runs a token module on a feature map ``[B, C, H, W]`` as ``[B, H*W, C]`` tokens (official key ``.fn``)."""

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        height, width = x.shape[-2:]
        out = self.fn(x.flatten(2).transpose(1, 2), *args, **kwargs)
        return out.transpose(1, 2).unflatten(2, (height, width))


class Residual(nn.Module):
    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


def feed_forward(dim: int, mult: float = 2.0) -> nn.Sequential:
    """Token feed-forward: LayerNorm, Linear, GELU, LayerNorm, Linear (no biases)."""
    hidden = int(dim * mult)
    return nn.Sequential(LayerNorm(dim), nn.Linear(dim, hidden, bias=False), nn.GELU(), LayerNorm(hidden),
                         nn.Linear(hidden, dim, bias=False))


def channel_feed_forward(dim: int, mult: float = 2.0) -> nn.Sequential:
    """The same on feature maps with 1x1 convolutions and channel LayerNorms."""
    hidden = int(dim * mult)
    return nn.Sequential(LayerNorm(dim, dim=-3), nn.Conv2d(dim, hidden, 1, bias=False), nn.GELU(),
                         LayerNorm(hidden, dim=-3), nn.Conv2d(hidden, dim, 1, bias=False))


class PerceiverAttention(nn.Module):
    """Latents attend to the sequence and to themselves (keys/values of both), standard LayerNorms."""

    def __init__(self, dim: int, heads: int = 8, dim_head: int = 64) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        self.norm, self.norm_latents = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim_head * heads, bias=False)
        self.to_kv = nn.Linear(dim, dim_head * heads * 2, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim_head * heads, dim, bias=False), nn.LayerNorm(dim))

    def forward(self, x: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        x, latents = self.norm(x), self.norm_latents(latents)
        q = _heads(self.to_q(latents), self.heads) * self.scale
        k, v = (_heads(part, self.heads) for part in self.to_kv(torch.cat([x, latents], dim=1)).chunk(2, dim=-1))
        return self.to_out(_merge(_attend(q, k, v)))


class PerceiverResampler(nn.Module):
    """Text tokens -> ``num_latents_mean_pooled + num_latents`` latent tokens (depth layers of attention + FF)."""

    def __init__(self, dim: int, depth: int = 2, heads: int = 8, dim_head: int = 64, num_latents: int = 64,
                 num_latents_mean_pooled: int = 4, max_seq_len: int = 512, ff_mult: float = 4.0) -> None:
        super().__init__()
        self.pos_emb = nn.Embedding(max_seq_len, dim)
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.num_pooled = num_latents_mean_pooled
        self.to_latents_from_mean_pooled_seq = nn.Sequential(
            LayerNorm(dim), nn.Linear(dim, dim * num_latents_mean_pooled))
        self.layers = nn.ModuleList([nn.ModuleList([PerceiverAttention(dim, heads, dim_head),
                                                    feed_forward(dim, ff_mult)]) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_with_pos = x + self.pos_emb(torch.arange(x.shape[1], device=x.device))
        pooled = self.to_latents_from_mean_pooled_seq(x.mean(dim=1)).unflatten(-1, (self.num_pooled, -1))
        latents = torch.cat([pooled, self.latents.expand(x.shape[0], -1, -1)], dim=1)
        for attn, ff in self.layers:
            latents = attn(x_with_pos, latents) + latents
            latents = ff(latents) + latents
        return latents


class TransformerBlock(nn.Module):
    """``depth`` x (self-attention with context keys, channel feed-forward), both residual, on a feature map."""

    def __init__(self, dim: int, depth: int = 1, heads: int = 8, dim_head: int = 32, ff_mult: float = 2.0,
                 context_dim: int | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.ModuleList([OnTokens(Attention(dim, heads, dim_head, context_dim)),
                                                    channel_feed_forward(dim, ff_mult)]) for _ in range(depth)])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x, context=context) + x
            x = ff(x) + x
        return x


class Block(nn.Module):
    """GroupNorm, optional (scale + 1, shift) modulation, SiLU, 3x3 conv."""

    def __init__(self, dim: int, dim_out: int, groups: int = 8) -> None:
        super().__init__()
        self.groupnorm = nn.GroupNorm(groups, dim)
        self.project = nn.Conv2d(dim, dim_out, 3, padding=1)

    def forward(self, x: torch.Tensor, scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = self.groupnorm(x)
        if scale_shift is not None:
            x = x * (scale_shift[0] + 1) + scale_shift[1]
        return self.project(F.silu(x))


class GlobalContext(nn.Module):
    """Attention-pooled global descriptor -> per-channel sigmoid gate (a squeeze-excitation variant)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.to_k = nn.Conv2d(dim_in, 1, 1)
        hidden = max(3, dim_out // 2)
        self.net = nn.Sequential(nn.Conv2d(dim_in, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, dim_out, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.to_k(x).flatten(2).softmax(dim=-1)                    # [B, 1, N]
        pooled = (x.flatten(2) @ weights.transpose(1, 2))[..., None]        # [B, C, 1, 1]
        return self.net(pooled)


class ResnetBlock(nn.Module):
    """Two conv blocks, the time embedding as scale/shift of the second, optional cross-attention on the
    context tokens between them, optional global-context gate, 1x1 residual projection when widths differ."""

    def __init__(self, dim: int, dim_out: int, time_cond_dim: int | None = None, cond_dim: int | None = None,
                 groups: int = 8, use_gca: bool = False, heads: int = 8, dim_head: int = 64) -> None:
        super().__init__()
        self.time_mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_cond_dim, dim_out * 2)) \
            if time_cond_dim is not None else None
        self.cross_attn = OnTokens(CrossAttention(dim_out, cond_dim, heads, dim_head)) \
            if cond_dim is not None else None
        self.block1 = Block(dim, dim_out, groups)
        self.block2 = Block(dim_out, dim_out, groups)
        self.gca = GlobalContext(dim_out, dim_out) if use_gca else None
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, time: torch.Tensor | None = None, cond: torch.Tensor | None = None
                ) -> torch.Tensor:
        scale_shift = None
        if self.time_mlp is not None and time is not None:
            scale_shift = self.time_mlp(time)[..., None, None].chunk(2, dim=1)
        h = self.block1(x)
        if self.cross_attn is not None:
            h = self.cross_attn(h, cond) + h
        h = self.block2(h, scale_shift)
        if self.gca is not None:
            h = h * self.gca(h)
        return h + self.res_conv(x)


class CrossEmbedLayer(nn.Module):
    """Convolutions of several kernel sizes (sorted), output widths halving per scale, concatenated."""

    def __init__(self, dim_in: int, kernel_sizes: tuple[int, ...], dim_out: int, stride: int = 1) -> None:
        super().__init__()
        kernel_sizes = sorted(kernel_sizes)
        widths = [int(dim_out / 2 ** i) for i in range(1, len(kernel_sizes))]
        widths.append(dim_out - sum(widths))
        self.convs = nn.ModuleList([nn.Conv2d(dim_in, width, kernel, stride=stride, padding=(kernel - stride) // 2)
                                    for kernel, width in zip(kernel_sizes, widths)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x) for conv in self.convs], dim=1)


class PixelUnshuffleDown(nn.Sequential):
    """Downsample by 2: space-to-depth (channel order c, s1, s2) then a 1x1 conv (official index 1)."""

    def __init__(self, dim: int, dim_out: int) -> None:
        super().__init__(nn.PixelUnshuffle(2), nn.Conv2d(dim * 4, dim_out, 1))


class PixelShuffleUpsample(nn.Module):
    """Upsample by 2: 1x1 conv to 4x channels, SiLU, depth-to-space."""

    def __init__(self, dim: int, dim_out: int) -> None:
        super().__init__()
        conv = nn.Conv2d(dim, dim_out * 4, 1)
        weight = torch.empty(dim_out, dim, 1, 1)
        nn.init.kaiming_uniform_(weight)   # each output pixel of a 2x2 group starts equal: no checkerboard
        with torch.no_grad():
            conv.weight.copy_(weight.repeat_interleave(4, dim=0))
            conv.bias.zero_()
        self.net = nn.Sequential(conv, nn.SiLU(), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LearnedSinusoidalPosEmb(nn.Module):
    """x -> [x, sin(2 pi x w), cos(2 pi x w)] with learned frequencies w (``dim // 2`` of them)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(dim // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        freqs = x[:, None] * self.weights[None] * 2 * math.pi
        return torch.cat([x[:, None], freqs.sin(), freqs.cos()], dim=-1)
