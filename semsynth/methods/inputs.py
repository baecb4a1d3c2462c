"""Layout -> network input tensors shared by the SPADE-family methods (SDM, INADE): the one-hot semantic map with
the 4-neighbour edge channel, and per-instance one-hots. Which ids a method feeds (ADE20K shift, unlabelled class,
instance re-numbering) is its ``datasets.conventions.LabelConvention``, chosen in its presets."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..types import IGNORE_INDEX, instance_edges, label_one_hot


def semantics(labels: torch.Tensor, edge_source: torch.Tensor | None, label_channels: int,
              ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """float32 one-hot ``[..., label_channels (+1), H, W]`` of ``labels`` ``[..., H, W]`` (ignored pixels have an
    all-zero class vector), followed, when ``edge_source`` is given, by the boundary map of that id map."""
    onehot = label_one_hot(labels, label_channels, ignore_index)
    if edge_source is None:
        return onehot
    return torch.cat([onehot, instance_edges(edge_source).unsqueeze(-3)], dim=-3)


def instance_onehot(instances: torch.Tensor, count: int | None = None) -> torch.Tensor:
    """One-hot ``[B, K, H, W]`` of contiguous ids ``[B, H, W]``; K = max id over the batch + 1 unless given."""
    count = int(instances.max()) + 1 if count is None else count
    return F.one_hot(instances, count).movedim(-1, 1).float()
