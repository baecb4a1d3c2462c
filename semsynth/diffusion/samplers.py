"""Samplers over a ``GaussianDiffusion`` chain: ancestral DDPM, DDIM (eta), DPM-Solver++ (2M multistep).

Each takes the start noise ``x_T`` and a ``noise`` callable returning fresh standard noise shaped like ``x``
(so a caller can draw every sample's noise from its own generator); ``callback(index, x, pred_xstart)`` sees
every step.
"""

from __future__ import annotations

from typing import Callable

import torch

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


def ddim(diffusion: GaussianDiffusion, model: Model, x_T: torch.Tensor, cond: torch.Tensor, noise: Noise,
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


def dpm_solver_pp(diffusion: GaussianDiffusion, model: Model, x_T: torch.Tensor, cond: torch.Tensor, steps: int,
                  clip_denoised: bool = True, callback: Callback | None = None) -> torch.Tensor:
    """DPM-Solver++ (2M, multistep, data prediction) on the full discrete chain of ``diffusion``: ``steps``
    model evaluations at evenly spaced original steps from T-1 down, the last one jumping to the clean image
    (first order, as ``lower_order_final``). Deterministic: ``x_T`` is the only noise."""
    if steps < 1:
        raise ValueError("dpm-solver++ needs at least one step")
    last = diffusion.num_timesteps - 1
    times = [round(last * (steps - k) / steps) for k in range(steps)]
    alpha_bar = diffusion.alphas_cumprod

    def lam(time: int) -> torch.Tensor:
        return 0.5 * (alpha_bar[time].log() - (1 - alpha_bar[time]).log())

    x, previous = x_T, None
    for k, time in enumerate(times):
        t = torch.full((x.shape[0],), time, dtype=torch.long, device=x.device)
        x0 = diffusion.p_mean_variance(model, x, t, cond, clip_denoised)["pred_xstart"]
        if k == len(times) - 1:
            x = x0
        else:
            following = times[k + 1]
            h = lam(following) - lam(time)
            data = x0
            if previous is not None:
                r = (lam(time) - lam(previous[0])) / h
                data = (1 + 1 / (2 * r)).item() * x0 - (1 / (2 * r)).item() * previous[1]
            ratio = ((1 - alpha_bar[following]) / (1 - alpha_bar[time])).sqrt().item()
            x = ratio * x - (alpha_bar[following].sqrt() * torch.expm1(-h)).item() * data
            previous = (time, x0)
        if callback is not None:
            callback(time, x, x0)
    return x
