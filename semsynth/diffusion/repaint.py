"""RePaint-style inpainting (Lugmayr et al. 2022; SDM's editing, Eq. 12): ancestral sampling where the kept
region follows the forward-noised original at every step and only the edited region is generated."""

from __future__ import annotations

import torch

from .gaussian import GaussianDiffusion, Model
from .samplers import Callback, Noise, ddpm_step


def repaint(diffusion: GaussianDiffusion, model: Model, x_T: torch.Tensor, cond: torch.Tensor, x_known: torch.Tensor,
            edit_mask: torch.Tensor, noise: Noise, resample: int = 1, clip_denoised: bool = True,
            callback: Callback | None = None) -> torch.Tensor:
    """Regenerate where ``edit_mask`` is 1 (broadcastable to ``x``), keep ``x_known`` elsewhere. At each step the
    kept pixels are ``q_sample(x_known, t-1)`` (the original itself at the end); with ``resample > 1`` each step is
    repeated after re-noising one step (RePaint's jump length 1)."""
    edit_mask = edit_mask.to(x_T.dtype)
    x = x_T
    for index in reversed(range(diffusion.num_timesteps)):
        t = torch.full((x.shape[0],), index, dtype=torch.long, device=x.device)
        for round_ in range(resample):
            generated, pred_xstart = ddpm_step(diffusion, model, x, t, cond, noise, clip_denoised)
            known = x_known if index == 0 else diffusion.q_sample(x_known, t - 1, noise())
            x = edit_mask * generated + (1 - edit_mask) * known
            if round_ < resample - 1 and index > 0:
                beta = diffusion.extract(diffusion.betas, t, x)
                x = (1 - beta).sqrt() * x + beta.sqrt() * noise()
        if callback is not None:
            callback(index, x, pred_xstart)
    return x
