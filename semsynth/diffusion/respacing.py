"""Timestep respacing (guided-diffusion ``space_timesteps``): which steps of a long chain a short sampler keeps,
and the betas of the shortened chain."""

from __future__ import annotations

import torch

from ..errors import UserError


def space_timesteps(num_timesteps: int, spec: str) -> list[int]:
    """Sorted kept steps. ``spec`` is 'ddimN' (the stride that gives exactly N steps from 0) or comma-separated
    counts 'a,b,...' taken evenly (rounded) from equal consecutive sections of the chain."""
    if spec.startswith("ddim"):
        wanted = int(spec[4:])
        for stride in range(1, num_timesteps):
            if len(range(0, num_timesteps, stride)) == wanted:
                return list(range(0, num_timesteps, stride))
        raise UserError(f"cannot take exactly {wanted} evenly strided steps from {num_timesteps}; use another count")
    counts = [int(part) for part in spec.split(",")]
    base, extra = divmod(num_timesteps, len(counts))
    kept, start = [], 0
    for index, count in enumerate(counts):
        size = base + (1 if index < extra else 0)
        if count > size:
            raise UserError(f"cannot take {count} steps from a section of {size}; use fewer steps")
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):  # accumulated like the official loop, so rounding ties land on the same steps
            kept.append(start + round(position))
            position += stride
        start += size
    return sorted(set(kept))


def respace_betas(betas: torch.Tensor, kept: list[int]) -> torch.Tensor:
    """Betas of the chain through ``kept``: ``1 - alpha_bar[i] / alpha_bar[previous kept]``."""
    alphas_cumprod = torch.cumprod(1 - betas.double(), dim=0)
    previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[kept][:-1]])
    return 1 - alphas_cumprod[kept] / previous
