"""Low-resolution consistency for diffusion super-resolution: at every step the model's x0 prediction is
back-projected onto the known low-resolution image (Irani and Peleg's iterative back-projection, used inside the
sampling loop as ILVR and DDNM do), so the sample's downsampled version stays the input while the model supplies
the detail. Sampler-agnostic: it wraps the model and returns the eps that the projected x0 implies."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .gaussian import GaussianProcess
from .process import Model

Resize = Callable[[torch.Tensor, int], torch.Tensor]


def back_project(x0: torch.Tensor, low_res: torch.Tensor, downsample: Resize, iterations: int = 1) -> torch.Tensor:
    """``x0 + up(low_res - downsample(x0))`` repeated ``iterations`` times (``up``: bicubic to x0's size)."""
    for _ in range(iterations):
        error = low_res - downsample(x0, low_res.shape[-1])
        x0 = x0 + F.interpolate(error, size=x0.shape[-2:], mode="bicubic", align_corners=False)
    return x0


def low_res_consistent(model: Model, process: GaussianProcess, low_res: torch.Tensor, downsample: Resize,
                       iterations: int = 1, offset: torch.Tensor | float = 0.0) -> Model:
    """``model(x, t, cond)`` whose eps channels are replaced by those of ``process``'s x0 prediction back-projected
    onto ``low_res`` (repeated over a batch that stacks several passes); other channels (learned variance) pass
    through. ``process`` is the un-respaced chain: the model's time ``t`` (rescaled to 1000 steps where the chain
    says so, as respaced chains pass it) rounds to its index. ``offset``: the chain's sample is the image minus it
    (a residual super-resolution model), so the projection acts on ``x0 + offset``, clamped to [-1, 1].
    ``iterations`` 0 returns ``model`` unchanged."""
    if iterations <= 0:
        return model
    scale = process.num_steps / 1000.0 if process.rescale_timesteps else 1.0

    def call(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        output = model(x, t, cond)
        step = (t * scale).round().long()
        passes = len(x) // len(low_res)
        shift = offset.repeat(passes, 1, 1, 1) if isinstance(offset, torch.Tensor) else offset
        image = (process.predict_x0(x, step, output) + shift).clamp(-1, 1)
        x0 = back_project(image, low_res.repeat(passes, 1, 1, 1), downsample, iterations) - shift
        return torch.cat([process.predict_eps(x, step, x0), output[:, process.data_channels:]], 1)

    return call
