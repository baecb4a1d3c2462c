"""Multi-scale features of a timm backbone (``features_only``), frozen by default: a discriminator encoder
(DP-SIMS), VGG/perceptual features or SwAV ResNet-50 stages.

Pretrained weights come only from a local file (an explicit path or a name in the weights catalog), handed to timm
through ``pretrained_cfg_overlay=dict(file=...)``; nothing downloads, and without a file the network is random.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from .. import weights
from ..errors import UserError


class Features(nn.Module):
    """A timm ``features_only`` network taking images in [-1, 1] (normalised here with the network's own
    mean/std) and returning one feature map per ``out_indices`` stage. A frozen one keeps eval mode and no
    parameter gradients even under a parent's ``.train()``; gradients still flow to its input."""

    def __init__(self, net: nn.Module, frozen: bool = True) -> None:
        super().__init__()
        self.net, self.frozen = net, frozen
        config = net.pretrained_cfg
        self.register_buffer("mean", torch.tensor(config.get("mean", (0.5, 0.5, 0.5))).view(1, -1, 1, 1), False)
        self.register_buffer("std", torch.tensor(config.get("std", (0.5, 0.5, 0.5))).view(1, -1, 1, 1), False)
        if frozen:
            net.requires_grad_(False)
        self.train()

    @property
    def channels(self) -> list[int]:
        """Channels of each returned stage (timm's ``feature_info``)."""
        return self.net.feature_info.channels()

    @property
    def reductions(self) -> list[int]:
        """Stride of each returned stage relative to the input."""
        return self.net.feature_info.reduction()

    def train(self, mode: bool = True) -> Features:
        return super().train(mode and not self.frozen)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images`` ``[B, 3, H, W]`` in [-1, 1] -> the stage features, shallowest first."""
        return self.net(((images + 1) / 2 - self.mean) / self.std)


def create(name: str, pretrained_file: str | Path | None = None, out_indices: Sequence[int] | None = None,
           frozen: bool = True, catalog: str | None = None, **options: Any) -> Features:
    """timm model ``name`` as a feature extractor with weights from ``pretrained_file`` or the ``catalog`` entry
    (random weights when neither is given); ``options`` go to ``timm.create_model``. As for any timm feature
    backbone, classifier weights are dropped and extra checkpoint entries (SwAV's projection head) are ignored."""
    import timm

    if catalog is not None:
        pretrained_file = weights.path(catalog, pretrained_file)
    elif pretrained_file is not None and not Path(pretrained_file).is_file():
        raise UserError(f"weights file {pretrained_file} does not exist; pass the path of the downloaded file")
    if out_indices is not None:
        options["out_indices"] = tuple(out_indices)
    if pretrained_file is not None:
        options.update(pretrained=True, pretrained_cfg_overlay=dict(file=str(pretrained_file)))
    net = timm.create_model(name, features_only=True, **options)
    return Features(net, frozen)
