"""INADE's network inputs from label and instance maps, as the official ``preprocess_input`` builds them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...types import Layout, instance_edges


def renumber(instances: torch.Tensor) -> torch.Tensor:
    """Contiguous ids 0..K-1 in the order of the sorted unique ids (official ``make_instances.py`` re-id)."""
    _, inverse = torch.unique(instances, sorted=True, return_inverse=True)
    return inverse.view_as(instances)


def layout_instances(layout: Layout) -> torch.Tensor:
    """The layout's instance map re-numbered; without one, each present class is one instance (official rule for
    ADE20K, CelebAMask-HQ and DeepFashion)."""
    return renumber(layout.instances if layout.instances is not None else layout.labels)


def semantics(labels: torch.Tensor, edge_source: torch.Tensor, label_channels: int, ignore_index: int = 255
              ) -> torch.Tensor:
    """One-hot ``[B, label_channels + 1, H, W]`` of ``labels`` ``[B, H, W]`` with the 4-neighbour boundary map of
    ``edge_source`` as the last channel; ignored pixels have an all-zero class vector."""
    valid = labels != ignore_index
    onehot = F.one_hot(torch.where(valid, labels, 0), label_channels).movedim(-1, 1).float()
    onehot = onehot * valid.unsqueeze(1)
    return torch.cat([onehot, instance_edges(edge_source).unsqueeze(1)], dim=1)


def instance_onehot(instances: torch.Tensor, count: int | None = None) -> torch.Tensor:
    """One-hot ``[B, K, H, W]`` of contiguous ids ``[B, H, W]``; K = max id over the batch + 1 unless given."""
    count = int(instances.max()) + 1 if count is None else count
    return F.one_hot(instances, count).movedim(-1, 1).float()
