"""Samplers over a ``GaussianDiffusion`` chain: ancestral DDPM, DDIM (eta), DPM-Solver++ (2M multistep).

Each takes the start noise ``x_T`` and a ``noise`` callable returning fresh standard noise shaped like ``x``
(so a caller can draw every sample's noise from its own generator); ``callback(index, x, pred_xstart)`` sees
every step.
"""

from __future__ import annotations

from typing import Callable

import math

import torch

from ..errors import UserError
from .gaussian import GaussianDiffusion, Model

Noise = Callable[[], torch.Tensor]
Callback = Callable[[int, torch.Tensor, torch.Tensor], None]


def _steps(diffusion: GaussianDiffusion, x: torch.Tensor):
    for index in reversed(range(diffusion.num_timesteps)):
        yield index, torch.full((x.shape[0],), index, dtype=torch.long, device=x.device)


def ddpm_step(diffusion: GaussianDiffusion, model: Model, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
              noise: Noise, clip_denoised: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One ancestral step ``x_t -> x_{t-1}``; noise is drawn at every step and multiplied by 0 at t = 0."""
    out = diffusion.p_mean_variance(model, x, t, cond, clip_denoised)
    nonzero = (t != 0).to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
    return out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * noise(), out["pred_xstart"]


def ddpm(diffusion: GaussianDiffusion, model: Model, x_T: torch.Tensor, cond: torch.Tensor, noise: Noise,
         clip_denoised: bool = True, callback: Callback | None = None) -> torch.Tensor:
    """Ancestral sampling through every step of the chain (official ``p_sample_loop``)."""
    x = x_T
    for index, t in _steps(diffusion, x):
        x, pred_xstart = ddpm_step(diffusion, model, x, t, cond, noise, clip_denoised)
        if callback is not None:
            callback(index, x, pred_xstart)
    return x


def ddim(diffusion: GaussianDiffusion, model: Model, x_T: torch.Tensor, cond: torch.Tensor, noise: Noise | None,
         eta: float = 0.0, clip_denoised: bool = True, callback: Callback | None = None) -> torch.Tensor:
    """DDIM through every step of the chain; eps is re-derived from the (clamped) ``pred_xstart``."""
    x = x_T
    for index, t in _steps(diffusion, x):
        out = diffusion.p_mean_variance(model, x, t, cond, clip_denoised)
        eps = diffusion.predict_eps(x, t, out["pred_xstart"])
        alpha_bar = diffusion.extract(diffusion.alphas_cumprod, t, x)
        alpha_bar_prev = diffusion.extract(diffusion.alphas_cumprod_prev, t, x)
        sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
        x = out["pred_xstart"] * alpha_bar_prev.sqrt() + torch.sqrt(1 - alpha_bar_prev - sigma ** 2) * eps
        if eta > 0 and index > 0:
            x = x + sigma * noise()
        if callback is not None:
            callback(index, x, out["pred_xstart"])
    return x


def logsnr_times(diffusion: GaussianDiffusion, steps: int) -> list[int]:
    """Chain steps from T-1 down to 0 whose log-SNRs are (to the nearest step) evenly spaced; duplicates dropped."""
    alpha_bar = diffusion.alphas_cumprod
    lam = 0.5 * (alpha_bar.log() - (1 - alpha_bar).log())
    targets = torch.linspace(lam[-1].item(), lam[0].item(), steps, dtype=torch.float64)
    return list(dict.fromkeys(int((lam - value).abs().argmin()) for value in targets))


def dpm_solver_pp(diffusion: GaussianDiffusion, model: Model, x_T: torch.Tensor, cond: torch.Tensor, steps: int,
                  clip_denoised: bool = True, callback: Callback | None = None) -> torch.Tensor:
    """DPM-Solver++ (2M, multistep, data prediction) on the discrete chain of ``diffusion``: ``steps`` model
    evaluations at log-SNR-uniform steps from T-1 down to 0, second-order except the first and last updates;
    the data prediction at step 0 is the sample. Deterministic: ``x_T`` is the only noise."""
    if steps < 2:
        raise UserError("dpm-solver++ needs at least two steps")
    times = logsnr_times(diffusion, steps)
    alpha_bar = diffusion.alphas_cumprod
    lam = 0.5 * (alpha_bar.log() - (1 - alpha_bar).log())
    x, previous = x_T, None
    for k, time in enumerate(times):
        t = torch.full((x.shape[0],), time, dtype=torch.long, device=x.device)
        x0 = diffusion.p_mean_variance(model, x, t, cond, clip_denoised)["pred_xstart"]
        if k == len(times) - 1:
            x = x0
        else:
            following = times[k + 1]
            h = (lam[following] - lam[time]).item()
            data = x0
            if previous is not None and k < len(times) - 2:
                half_inverse_ratio = 0.5 * h / (lam[time] - lam[previous[0]]).item()
                data = (1 + half_inverse_ratio) * x0 - half_inverse_ratio * previous[1]
            ratio = ((1 - alpha_bar[following]) / (1 - alpha_bar[time])).sqrt().item()
            x = ratio * x - alpha_bar[following].sqrt().item() * math.expm1(-h) * data
            previous = (time, x0)
        if callback is not None:
            callback(time, x, x0)
    return x
