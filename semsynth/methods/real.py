"""``real``: the reference row. It "generates" the dataset's own images, so its scores are the ceilings and
floors of the evaluators: the segmenter's mIoU on real images and the FID of real val images against train."""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import UserError
from ..registry import METHODS
from ..types import Example, Layout
from .base import Method


@METHODS.register_module(name="real")
class RealImages(Method):
    """Returns each layout's real image (one per layout: it is deterministic). A reference, not a method."""

    name = "real"
    stochastic = False
    fid_reference_split = "train"   # real val images against train: the FID floor

    def generate(self, layout: Layout, seed: int) -> torch.Tensor:
        raise UserError("the 'real' reference needs the dataset's examples, not bare layouts: use it through "
                        "`bench run --method real` (generate_examples)")

    def generate_examples(self, examples: Sequence[Example], seeds: Sequence[int]) -> torch.Tensor:
        return torch.stack([example.image for example in examples])
