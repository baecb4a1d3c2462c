"""Low-resolution consistency for diffusion super-resolution: at every step the model's x0 prediction is
back-projected onto the known low-resolution image (Irani and Peleg's iterative back-projection, used inside the
sampling loop as ILVR and DDNM do), so the sample's downsampled version stays the input while the model supplies
the detail. Sampler-agnostic: it wraps the model and returns the eps that the projected x0 implies."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .process import Model

Resize = Callable[[torch.Tensor, int], torch.Tensor]


def back_project(x0: torch.Tensor, low_res: torch.Tensor, downsample: Resize, iterations: int = 1) -> torch.Tensor:
    """``x0 + up(low_res - downsample(x0))`` repeated ``iterations`` times (``up``: bicubic to x0's size)."""
    for _ in range(iterations):
        error = low_res - downsample(x0, low_res.shape[-1])
        x0 = x0 + F.interpolate(error, size=x0.shape[-2:], mode="bicubic", align_corners=False)
    return x0


def low_res_consistent(model: Model, alphas_cumprod: torch.Tensor, low_res: torch.Tensor, downsample: Resize,
                       iterations: int = 1, data_channels: int = 3) -> Model:
    """``model(x, t, cond)`` whose eps channels are replaced by those of the clamped x0 prediction back-projected
    onto ``low_res`` (repeated over a batch that stacks several passes); other channels (learned variance) pass
    through. ``t`` is the model's time in steps of the chain ``alphas_cumprod`` belongs to (rounded), as the
    respaced chains with ``rescale_timesteps`` pass it. ``iterations`` 0 returns ``model`` unchanged."""
    if iterations <= 0:
        return model

    def call(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        output = model(x, t, cond)
        step = (t.round() if t.is_floating_point() else t).long().to(alphas_cumprod.device)
        alpha_bar = alphas_cumprod.to(x)[step].reshape(-1, 1, 1, 1)
        eps = output[:, :data_channels]
        x0 = ((x - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()).clamp(-1, 1)
        target = low_res.repeat(len(x) // len(low_res), 1, 1, 1)
        x0 = back_project(x0, target, downsample, iterations)
        eps = (x - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()
        return torch.cat([eps, output[:, data_channels:]], 1)

    return call
