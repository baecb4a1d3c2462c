"""Speed of the UNet attention: the official einsum formulation (guided-diffusion ``QKVAttentionLegacy``) against
ours (``AttentionBlock.heads`` + ``attend``: the math kernel on the CPU, bit-identical to earlier releases) and
PyTorch's fused kernel on the same contiguous ``[B, heads, T, ch]`` tensors (what ``attend`` runs on a GPU).

One attention op ``qkv [1, 3C, T] -> [1, C, T]`` with C = 512 and 64-channel heads (SDM's 256x256 model at its
32x32 level), at 1024 tokens (a 32x32 map) and 4096 tokens (64x64). Prints ms per call (best of ``--repeats``),
the thread count and the max abs difference to the official formulation.

Run: ``python benchmarks/attention.py [--threads N] [--repeats R] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

from semsynth.nn.attention import AttentionBlock, attend

CHANNELS, HEAD_CHANNELS = 512, 64


def official(qkv: torch.Tensor, heads: int) -> torch.Tensor:
    """Head-major split, q and k each scaled by ``ch^-1/4``, einsum products, float32 softmax."""
    b, width, length = qkv.shape
    ch = width // (3 * heads)
    q, k, v = qkv.reshape(b * heads, 3 * ch, length).split(ch, dim=1)
    scale = ch ** -0.25
    weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
    weight = torch.softmax(weight.float(), dim=-1).to(weight.dtype)
    return torch.einsum("bts,bcs->bct", weight, v).reshape(b, -1, length)


def ours(block: AttentionBlock, kernel: Callable[..., torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The block's split into contiguous ``[B, heads, T, ch]``, then ``kernel``, back to ``[B, C, T]``."""
    def call(qkv: torch.Tensor) -> torch.Tensor:
        b, width, length = qkv.shape
        out = kernel(*block.heads(qkv, 3))
        return out.transpose(-1, -2).reshape(b, width // 3, length)
    return call


def best_ms(call: Callable[[], torch.Tensor], repeats: int, device: str) -> float:
    call()
    best = math.inf
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    heads = CHANNELS // HEAD_CHANNELS
    block = AttentionBlock(CHANNELS, num_head_channels=HEAD_CHANNELS)
    variants = {"official einsum": lambda qkv: official(qkv, heads),
                f"ours ({'math kernel' if args.device == 'cpu' else 'fused kernel'}, attend)": ours(block, attend),
                "ours, fused kernel": ours(block, F.scaled_dot_product_attention)}
    print(f"device {args.device}, {torch.get_num_threads()} threads, C={CHANNELS}, {heads} heads, batch 1, float32")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tokens in (1024, 4096):
            qkv = torch.randn(1, 3 * CHANNELS, tokens, generator=generator).to(args.device)
            reference = official(qkv, heads)
            for name, fn in variants.items():
                ms = best_ms(lambda: fn(qkv), args.repeats, args.device)
                diff = (fn(qkv) - reference).abs().max().item()
                print(f"{tokens:5d} tokens  {name:28s} {ms:8.1f} ms   max |diff| to official {diff:.1e}")


if __name__ == "__main__":
    main()
