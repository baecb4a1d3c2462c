"""Method-specific label conventions, applied by each method's input adapter (datasets keep the raw encoding).

The official codes differ in how they feed the same files to a network: SDM shifts ADE20K (raw 0 "other" becomes
class 150), maps COCO-Stuff's unlabelled 255 to an extra class 182 and reads instance PNGs through PIL's ``L`` mode
(ids above 255 clip to 255); INADE feeds ADE20K unshifted, re-numbers instance ids to 0..K-1 and, where a layout
has no instances, treats each present class as one instance. A method's presets pick a ``LabelConvention`` per
dataset and its input adapter calls ``apply_convention`` once per layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..types import Layout

INSTANCE_SOURCES = ("dataset", "classes", "dataset_or_classes", "none")


def ade_shift(labels: torch.Tensor, other_index: int = 150, ignore_index: int = 255) -> torch.Tensor:
    """ADE20K raw labels 0..150 -> SDM's 0..150: class k becomes k-1, raw 0 ("other") becomes ``other_index`` and
    ignored pixels stay ``ignore_index``."""
    shifted = torch.where(labels == 0, torch.full_like(labels, other_index), labels - 1)
    return torch.where(labels == ignore_index, labels, shifted)


def unknown_to_index(labels: torch.Tensor, index: int, ignore_index: int = 255) -> torch.Tensor:
    """Turn ignored pixels into an extra class ``index`` (SDM COCO-Stuff: 255 -> 182; SPADE's don't-care channel)."""
    return torch.where(labels == ignore_index, torch.full_like(labels, index), labels)


def renumber_instances(instances: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Map the distinct ids of an instance map, in increasing order, to 0..K-1 (INADE's re-id); returns (ids, K)."""
    values, inverse = torch.unique(instances, sorted=True, return_inverse=True)
    return inverse.reshape(instances.shape).to(torch.int64), int(values.numel())


def instances_from_labels(labels: torch.Tensor) -> torch.Tensor:
    """"Each present class is one instance": the label map re-numbered to 0..K-1 (INADE on ADE20K and CelebAMask;
    SDM's CelebA label-as-instance map has the same edges)."""
    return renumber_instances(labels)[0]


def clip_instances_uint8(instances: torch.Tensor) -> torch.Tensor:
    """SDM's quirk: instance PNGs opened with PIL ``convert('L')`` clip ids above 255 to 255, so touching
    Cityscapes instances of one class (26001, 26002) merge and lose their shared edge."""
    return instances.clamp(0, 255)


@dataclass(frozen=True)
class LabelConvention:
    """How one official code encodes a layout.

    ``ade_shift``: SDM's ADE20K shift (``ade_shift``). ``unknown_index``: class index given to ignored pixels (None
    keeps them as the ignore index). ``instances``: ``"dataset"`` (the layout's own instance map), ``"classes"``
    (each present class is one instance), ``"dataset_or_classes"`` (the instance map where the layout has one, else
    the classes; INADE's generic rule) or ``"none"``. ``clip_uint8``: SDM's PIL ``L``-mode clipping of ids.
    ``renumber``: INADE's re-id of instance ids to 0..K-1 (needed for its per-instance one-hot).
    """

    ade_shift: bool = False
    unknown_index: int | None = None
    instances: str = "dataset"
    clip_uint8: bool = False
    renumber: bool = False

    def __post_init__(self) -> None:
        if self.instances not in INSTANCE_SOURCES:
            raise ValueError(f"instances must be one of {INSTANCE_SOURCES}, got {self.instances!r}")


def apply_convention(layout: Layout, convention: LabelConvention) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Labels and instance ids (int64 ``[H, W]``; instances None when the convention or the layout has none) exactly
    as the official code would feed them; edges for SPADE-style inputs are ``types.instance_edges(instances)``."""
    labels, ignore_index = layout.labels, layout.label_space.ignore_index
    if convention.ade_shift:
        labels = ade_shift(labels, ignore_index=ignore_index)
    if convention.unknown_index is not None:
        labels = unknown_to_index(labels, convention.unknown_index, ignore_index)
    source = convention.instances
    if source == "dataset_or_classes":
        source = "dataset" if layout.instances is not None else "classes"
    instances = {"dataset": layout.instances, "classes": layout.labels, "none": None}[source]
    if instances is not None and convention.clip_uint8:
        instances = clip_instances_uint8(instances)
    if instances is not None and (convention.renumber or source == "classes"):
        instances = renumber_instances(instances)[0]
    return labels, instances

