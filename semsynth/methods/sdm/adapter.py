"""Layout -> SDM network input, as the official loader builds it: a one-hot over the label channels (after the
dataset's id mapping, ``datasets.conventions``) followed, when the preset has one, by the 4-neighbour edge channel."""

from __future__ import annotations

import torch

from ...datasets.conventions import LabelConvention, apply_convention
from ...types import Layout, instance_edges, label_one_hot

# Edge source of a preset -> the instance map of its label convention.
EDGE_SOURCES = {None: "none", "instances": "dataset", "labels": "classes", "instances_clipped": "dataset"}


def sdm_convention(edge: str | None = None, label_shift: int = 0, ignore_to: int | None = None) -> LabelConvention:
    """The label convention of an SDM id mapping: ``label_shift`` -1 is ADE20K's shift (raw 0 "other" -> 150),
    ``ignore_to`` the class of ignored pixels (COCO-Stuff 255 -> 182; None leaves them out of the one-hot)."""
    if edge not in EDGE_SOURCES:
        raise ValueError(f"unknown edge source '{edge}'; known: {tuple(EDGE_SOURCES)}")
    if label_shift not in (0, -1):
        raise ValueError(f"label_shift must be 0 or -1 (ADE20K's shift), got {label_shift}")
    return LabelConvention(ade_shift=label_shift == -1, unknown_index=ignore_to, instances=EDGE_SOURCES[edge],
                           clip_uint8=edge == "instances_clipped")


def layout_channels(layout: Layout, label_channels: int, edge: str | None = None, label_shift: int = 0,
                    ignore_to: int | None = None) -> torch.Tensor:
    """float32 ``[label_channels (+1), H, W]``. ``edge``: None (ADE20K), 'instances' (instance map),
    'labels' (CelebAMask-HQ uses the label map as instance map) or 'instances_clipped' (Cityscapes: ids read
    through an 8-bit conversion, so ids above 255 become 255 and touching thing instances merge)."""
    labels, instances = apply_convention(layout, sdm_convention(edge, label_shift, ignore_to))
    onehot = label_one_hot(labels, label_channels, layout.label_space.ignore_index)
    if edge is None:
        return onehot
    edges = torch.zeros(labels.shape) if instances is None else instance_edges(instances)
    return torch.cat([onehot, edges.unsqueeze(0)])


def preset_channels(layout: Layout, preset) -> torch.Tensor:
    """``layout_channels`` with a dataset preset's channel count, edge source and id mapping."""
    return layout_channels(layout, preset.label_channels, preset.edge, preset.label_shift, preset.ignore_to)
