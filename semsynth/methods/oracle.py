"""``shapes-oracle``: samples the ``shapes`` texture process itself, so its row on the ``shapes`` leaderboard is
what a perfect generator scores (the true diversity of real images of a layout, FID and mIoU of real images)."""

from __future__ import annotations

import torch

from ..datasets.shapes import render
from ..errors import UserError
from ..registry import METHODS
from ..types import Layout
from .base import Method


@METHODS.register_module(name="shapes-oracle")
class ShapesOracle(Method):
    """The ground-truth image distribution of ``shapes`` (a reference, not a method)."""

    name = "shapes-oracle"

    def __init__(self, dataset: str = "shapes", checkpoint=None, device: str = "cpu", **overrides) -> None:
        if dataset != "shapes":
            raise UserError(f"shapes-oracle exists only for the shapes dataset, not '{dataset}'")
        super().__init__(dataset, checkpoint, device, **overrides)

    def generate(self, layout: Layout, seed: int) -> torch.Tensor:
        if layout.instances is None:
            raise UserError("shapes-oracle needs the layout's instance map")
        return render(layout.labels, layout.instances, seed)
