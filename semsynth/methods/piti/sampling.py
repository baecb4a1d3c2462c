"""PITI's two-stage sampling pieces: the guided decoder callable (the official CFG on eps with the conditional
pass's variance, or the paper's normalised CFG), one stage driven by any of our samplers, and the 8-bit hand-off
between the stages."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ...diffusion.gaussian import GaussianProcess
from ...diffusion.guidance import classifier_free
from ...diffusion.process import Model
from ...diffusion.respacing import space_timesteps
from ...diffusion.samplers import Callback, ddim, ddpm, dpm_solver_pp
from .model import PITIModel

GUIDANCE_MODES = {"official": "eps", "normalized": "normalized"}
SAMPLERS = ("ddpm", "ddim", "dpm-solver++")


def kept_steps(num_timesteps: int, spec: str) -> list[int]:
    """``space_timesteps`` plus PITI's 'fast27' (``respace.py``): sections '10,10,3,2,2' with the last step 999
    replaced by 997."""
    if spec != "fast27":
        return space_timesteps(num_timesteps, spec)
    kept = space_timesteps(num_timesteps, "10,10,3,2,2")
    return sorted({997 if step == num_timesteps - 1 else step for step in kept})


def guided_model(net: PITIModel, process: GaussianProcess, guidance: float, mode: str = "eps",
                 null_tokens: torch.Tensor | None = None, low_res: torch.Tensor | None = None,
                 t_max: float | None = None) -> Model:
    """``model(x, t, tokens)`` of the decoder on encoded masks: guidance ``> 1`` batches the conditional pass
    with the null one (``null_tokens``: the encoding of the all-ones mask, official null condition) and combines
    eps by ``mode`` ('eps': official, 'normalized': paper eq. 8); variance channels come from the conditional pass.
    ``low_res`` is the upsampler's input (repeated for the null half). ``t_max``: guidance only at timesteps
    below it (of the 1000-step chain; None: at every step, as the official code)."""
    def call(x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        extra = None if low_res is None else low_res.repeat(len(x) // len(low_res), 1, 1, 1)
        dtype = next(net.parameters()).dtype
        return net.decode(x.to(dtype), t, tokens.to(dtype), extra).to(x.dtype)

    if guidance > 1 and null_tokens is None:
        raise ValueError("guidance > 1 needs the null condition's tokens")
    return classifier_free(call, process, guidance, mode,
                           null=lambda tokens: null_tokens.to(tokens).expand(len(tokens), -1, -1), t_max=t_max)


def sample_stage(sampler: str, process: GaussianProcess, model: Model, x_T: torch.Tensor, cond: torch.Tensor,
                 noise: Callable[[], torch.Tensor], steps: int = 0, eta: float = 0.0,
                 callback: Callback | None = None) -> torch.Tensor:
    """One stage: ancestral DDPM or DDIM through ``process``'s (respaced) chain, or DPM-Solver++ with ``steps``
    evaluations on the full chain ``process``."""
    if sampler == "ddpm":
        return ddpm(process, model, x_T, cond, noise, callback=callback)
    if sampler == "ddim":
        return ddim(process, model, x_T, cond, noise, eta=eta, callback=callback)
    if sampler == "dpm-solver++":
        return dpm_solver_pp(process, model, x_T, cond, steps, callback=callback)
    raise ValueError(f"unknown sampler '{sampler}'; known: {', '.join(SAMPLERS)}")


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic (antialiased) resize to ``size`` x ``size``, clamped to [-1, 1] (the official PIL BICUBIC resize):
    how training makes the upsampler's low-res input, and the operator its consistency projection inverts."""
    return F.interpolate(images, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


def quantise(x: torch.Tensor) -> torch.Tensor:
    """The official hand-off to the upsampler: ``int(127.5 (clamp(x, -1, 1) + 1)) / 127.5 - 1`` (truncation)."""
    return (127.5 * (x.clamp(-1, 1) + 1)).to(torch.int64).to(x.dtype) / 127.5 - 1
