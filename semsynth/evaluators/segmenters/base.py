"""The segmenter contract used by mIoU: uint8 images in, label maps in the segmenter's label space out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from ...types import LabelSpace


class Segmenter(ABC):
    """A semantic segmenter with its official preprocessing and inference path.

    ``net`` is the ported ``nn.Module`` (official state_dict key names; its forward takes the official normalised
    input and returns what the official module returns). ``predict`` maps uint8 ``[B, 3, H, W]`` RGB images to
    int64 ``[B, H, W]`` labels at the input resolution in ``label_space``; ``map_labels`` brings a dataset's
    ground truth into that space (ignored pixels -> ``label_space.ignore_index``).
    """

    name: ClassVar[str] = ""
    datasets: ClassVar[tuple[str, ...]] = ()
    weights: ClassVar[dict[str, str]] = {}      # dataset -> weights-catalog name
    input_size: ClassVar[str] = ""              # human-readable, for `bench list segmenters`

    net: nn.Module
    label_space: LabelSpace
    device: torch.device

    @abstractmethod
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 RGB ``[B, 3, H, W]`` -> the network's official input (float, normalised, resized)."""

    @abstractmethod
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 RGB ``[B, 3, H, W]`` -> int64 ``[B, H, W]`` predicted labels at the input resolution."""

    def map_labels(self, labels: torch.Tensor, dataset: str) -> torch.Tensor:
        """Ground-truth labels of ``dataset`` in this segmenter's label space (identity by default)."""
        return labels

    def describe(self) -> dict[str, Any]:
        return {"segmenter": self.name, "input_size": self.input_size}
