"""Noise schedules (float64 betas): guided-diffusion's linear and cosine schedules."""

from __future__ import annotations

import math

import torch


def linear_betas(num_timesteps: int) -> torch.Tensor:
    """Linear betas from 1e-4 to 0.02, both scaled by 1000 / T (so any T spans the same total noise)."""
    scale = 1000.0 / num_timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=torch.float64)


def cosine_betas(num_timesteps: int, offset: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule: alpha_bar(t) = cos((t + s) / (1 + s) * pi / 2)^2, betas capped."""
    def alpha_bar(t: float) -> float:
        return math.cos((t + offset) / (1 + offset) * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / num_timesteps) / alpha_bar(i / num_timesteps), max_beta)
             for i in range(num_timesteps)]
    return torch.tensor(betas, dtype=torch.float64)


SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas}


def named_betas(name: str, num_timesteps: int) -> torch.Tensor:
    """Betas of the schedule ``name`` ('linear' or 'cosine')."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown noise schedule '{name}'; known: {', '.join(SCHEDULES)}")
    return SCHEDULES[name](num_timesteps)
