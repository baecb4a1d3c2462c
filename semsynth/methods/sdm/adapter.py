"""Layout -> SDM network input, as the official loader builds it: a one-hot over the label channels (after the
dataset's id mapping) followed, when the preset has one, by the 4-neighbour edge channel."""

from __future__ import annotations

import torch

from ...types import Layout, instance_edges

EDGE_SOURCES = (None, "instances", "labels", "instances_clipped")


def sdm_labels(layout: Layout, label_channels: int, label_shift: int = 0, ignore_to: int | None = None) -> torch.Tensor:
    """The official class ids: ``(label + label_shift) mod label_channels`` (ADE20K: raw 0 "other" -> 150 via
    shift -1), ignored pixels sent to ``ignore_to`` (COCO-Stuff 255 -> 182) or left out of the one-hot (None)."""
    labels = layout.labels
    ignored = labels == layout.label_space.ignore_index
    ids = torch.remainder(labels + label_shift, label_channels)
    if ignore_to is not None:
        return torch.where(ignored, torch.full_like(ids, ignore_to), ids)
    return torch.where(ignored, torch.full_like(ids, -1), ids)


def layout_channels(layout: Layout, label_channels: int, edge: str | None = None, label_shift: int = 0,
                    ignore_to: int | None = None) -> torch.Tensor:
    """float32 ``[label_channels (+1), H, W]``. ``edge``: None (ADE20K), 'instances' (instance map),
    'labels' (CelebAMask-HQ uses the label map as instance map) or 'instances_clipped' (Cityscapes: ids read
    through an 8-bit conversion, so ids above 255 become 255 and touching thing instances merge)."""
    if edge not in EDGE_SOURCES:
        raise ValueError(f"unknown edge source '{edge}'; known: {EDGE_SOURCES}")
    ids = sdm_labels(layout, label_channels, label_shift, ignore_to)
    onehot = torch.zeros(label_channels, *ids.shape, dtype=torch.float32)
    valid = ids >= 0
    onehot.scatter_(0, ids.clamp(min=0).unsqueeze(0), valid.unsqueeze(0).float())
    if edge is None:
        return onehot
    if edge == "labels":
        edges = instance_edges(layout.labels)
    elif edge == "instances_clipped" and layout.instances is not None:
        edges = instance_edges(layout.instances.clamp(max=255))
    else:
        edges = layout.edges()
    return torch.cat([onehot, edges.unsqueeze(0)])


def preset_channels(layout: Layout, preset) -> torch.Tensor:
    """``layout_channels`` with a dataset preset's channel count, edge source and id mapping."""
    return layout_channels(layout, preset.label_channels, preset.edge, preset.label_shift, preset.ignore_to)
