"""INADE's network inputs from label and instance maps, as the official ``preprocess_input`` builds them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...datasets.conventions import INADE_ANY, apply_convention
from ...types import Layout, instance_edges, label_one_hot


def layout_instances(layout: Layout) -> torch.Tensor:
    """The layout's instance map re-numbered to 0..K-1 (official ``make_instances.py`` re-id); without one, each
    present class is one instance (official rule for ADE20K, CelebAMask-HQ and DeepFashion). Re-numbering keeps
    the edges, so this map is also the edge source of ``semantics``."""
    return apply_convention(layout, INADE_ANY)[1]


def semantics(labels: torch.Tensor, edge_source: torch.Tensor, label_channels: int, ignore_index: int = 255
              ) -> torch.Tensor:
    """One-hot ``[B, label_channels + 1, H, W]`` of ``labels`` ``[B, H, W]`` with the 4-neighbour boundary map of
    ``edge_source`` as the last channel; ignored pixels have an all-zero class vector."""
    onehot = label_one_hot(labels, label_channels, ignore_index)
    return torch.cat([onehot, instance_edges(edge_source).unsqueeze(1)], dim=1)


def instance_onehot(instances: torch.Tensor, count: int | None = None) -> torch.Tensor:
    """One-hot ``[B, K, H, W]`` of contiguous ids ``[B, H, W]``; K = max id over the batch + 1 unless given."""
    count = int(instances.max()) + 1 if count is None else count
    return F.one_hot(instances, count).movedim(-1, 1).float()
