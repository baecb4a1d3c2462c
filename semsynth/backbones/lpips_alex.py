"""LPIPS (AlexNet, v0.1) from the ``lpips`` package as a ``PairDistance``, its trunk loaded from our weights store.

The package's calibration (linear) layers ship inside its wheel (``lpips/weights/v0.1/alex.pth``) and are used
from there; the AlexNet trunk, which the package would download through torchvision, comes from the catalog entry
``alexnet-torchvision``. Inputs are uint8 images scaled to [-1, 1], as LPIPS v0.1 expects.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .. import weights
from .base import register_distance


def trunk_state(alexnet_state: dict[str, torch.Tensor], lpips_trunk: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Map torchvision AlexNet keys ``features.<i>.<p>`` onto lpips's sliced trunk keys ``slice<k>.<i>.<p>``."""
    mapped = {}
    for key in lpips_trunk.state_dict():
        index_and_param = re.fullmatch(r"slice\d+\.(\d+\..+)", key).group(1)
        mapped[key] = alexnet_state[f"features.{index_and_param}"]
    return mapped


class LPIPSAlex:
    """A ``PairDistance``: LPIPS AlexNet v0.1 between two uint8 batches, per pair (float64 ``[B]``)."""

    name = "lpips-alex"

    def __init__(self, device: str | torch.device = "cpu", checkpoint: str | Path | None = None) -> None:
        import warnings

        import lpips

        trunk_file = weights.path("alexnet-torchvision", checkpoint)
        with warnings.catch_warnings():     # torchvision's `pretrained=` deprecation inside lpips
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        state = torch.load(trunk_file, map_location="cpu", weights_only=True)
        model.net.load_state_dict(trunk_state(state, model.net))
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.file = trunk_file

    @torch.no_grad()
    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` twice -> float64 ``[B]``."""
        scale = lambda x: x.to(self.device, torch.float32) / 127.5 - 1    # noqa: E731
        return self.model(scale(a), scale(b)).reshape(-1).double().cpu()


@register_distance("lpips-alex")
def lpips_alex(device: str | torch.device = "cpu", **options) -> LPIPSAlex:
    return LPIPSAlex(device, **options)
