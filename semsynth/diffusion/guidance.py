"""Classifier-free guidance as SDM and PITI implement it: one batched forward of the conditional and null passes,
``eps = eps_null + s * (eps_cond - eps_null)`` on the noise channels only, the rest (learned variance) from the
conditional pass."""

from __future__ import annotations

from typing import Callable

import torch

from .gaussian import Model


def classifier_free(model: Model, scale: float, image_channels: int = 3,
                    null: Callable[[torch.Tensor], torch.Tensor] = torch.zeros_like) -> Model:
    """A guided model callable; ``null(cond)`` builds the null condition (SDM: zeros, PITI: ones). ``scale <= 1``
    returns ``model`` unchanged (a single conditional pass), as the official code does."""
    if scale <= 1.0:
        return model

    def guided(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        output = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, null(cond)]))
        conditional, unconditional = output.chunk(2)
        eps_cond, eps_null = conditional[:, :image_channels], unconditional[:, :image_channels]
        return torch.cat([eps_null + scale * (eps_cond - eps_null), conditional[:, image_channels:]], dim=1)

    return guided
