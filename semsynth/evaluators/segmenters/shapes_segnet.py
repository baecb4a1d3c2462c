"""The ``shapes`` segmenter: the shipped ``shapes`` network (``backbones/shapes_net.py``) as an mIoU segmenter."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from ...backbones.shapes_net import ShapesEvaluator
from ...datasets.shapes import SHAPES_LABELS
from ...registry import SEGMENTERS
from .base import Segmenter


@SEGMENTERS.register_module(name="shapes-segnet")
class ShapesSegmenter(ShapesEvaluator, Segmenter):
    """The ``shapes`` segmenter (10 classes, 64x64 input; other sizes are resized to 64 and back)."""

    name: ClassVar[str] = "shapes-segnet"
    datasets: ClassVar[tuple[str, ...]] = ("shapes",)
    weights: ClassVar[dict[str, str]] = {"shapes": "shapes-segnet"}
    input_size: ClassVar[str] = "64x64"
    label_space = SHAPES_LABELS

    def __init__(self, dataset: str | None = None, checkpoint: str | Path | None = None, pretrained: bool = True,
                 device: str = "cpu") -> None:
        super().__init__(checkpoint, pretrained, device)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.net(self.preprocess(images))
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return logits.argmax(1).cpu()
