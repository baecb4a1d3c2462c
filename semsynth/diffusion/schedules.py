"""Noise schedules: guided-diffusion's discrete betas (float64, linear and cosine) and the continuous-time log-SNR
functions of imagen-pytorch (linear and cosine, with their inverses for log-SNR-uniform solver steps)."""

from __future__ import annotations

import math
from typing import Callable

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


COSINE_OFFSET = 0.008


def linear_log_snr(t: torch.Tensor) -> torch.Tensor:
    """log-SNR of imagen's 'linear' schedule (continuous DDPM betas): -log(expm1(1e-4 + 10 t^2))."""
    return -torch.log(torch.special.expm1(1e-4 + 10 * t ** 2))


def cosine_log_snr(t: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """log-SNR of imagen's 'cosine' schedule (GCDP's 'cosine_p' for ``power`` != 1):
    -log(max(cos((t + s) / (1 + s) * pi / 2)^(-2 p) - 1, 1e-5)), s = 0.008."""
    ratio = torch.cos((t + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi * 0.5) ** (-2 * power)
    return -torch.log((ratio - 1).clamp(min=1e-5))


def linear_log_snr_inverse(log_snr: torch.Tensor) -> torch.Tensor:
    """The time with log-SNR ``log_snr`` under ``linear_log_snr``."""
    return ((torch.log1p(torch.exp(-log_snr)) - 1e-4) / 10).clamp(min=0).sqrt()


def cosine_log_snr_inverse(log_snr: torch.Tensor) -> torch.Tensor:
    """The time with log-SNR ``log_snr`` under ``cosine_log_snr`` (power 1, inside the unclamped range)."""
    angle = torch.atan(torch.exp(-0.5 * log_snr))
    return (angle * 2 / math.pi * (1 + COSINE_OFFSET) - COSINE_OFFSET).clamp(min=0)


LogSNR = Callable[[torch.Tensor], torch.Tensor]
LOG_SNR_SCHEDULES: dict[str, tuple[LogSNR, LogSNR]] = {
    "linear": (linear_log_snr, linear_log_snr_inverse), "cosine": (cosine_log_snr, cosine_log_snr_inverse)}
