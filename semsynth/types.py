"""The shared vocabulary: label spaces, layouts (label maps with optional instances) and dataset examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch

from .errors import LayoutError, UserError

IGNORE_INDEX = 255


@dataclass(frozen=True)
class LabelSpace:
    """The classes of a dataset as methods see them.

    ``num_classes`` counts the classes a layout may contain (ids ``0 .. num_classes-1``); ``ignore_index`` marks
    unlabelled pixels. ``raw_note`` says how the dataset's raw label files map into this space (for example
    ADE20K's raw 0 = "other"). ``things`` lists the classes that have instances. ``eval_lut`` maps each class to
    the evaluation label space that segmenters score (``eval_class_names``; e.g. Cityscapes labelIds -> trainIds,
    ADE20K 151 -> 150 with "other" ignored); empty means the evaluation space is this one.
    """

    name: str
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = IGNORE_INDEX
    things: tuple[int, ...] = ()
    raw_note: str = ""
    eval_class_names: tuple[str, ...] = ()
    eval_lut: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.palette) != len(self.class_names):
            raise ValueError(f"label space {self.name}: {len(self.class_names)} names but {len(self.palette)} colours")
        if self.eval_lut and len(self.eval_lut) != len(self.class_names):
            raise ValueError(f"label space {self.name}: eval_lut needs one entry per class")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_eval_classes(self) -> int:
        return len(self.eval_class_names) if self.eval_lut else self.num_classes

    def to_eval(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels in the evaluation label space (ignored pixels stay ``ignore_index``)."""
        if not self.eval_lut:
            return labels
        lut = torch.full((256,), self.ignore_index, dtype=torch.int64)
        lut[: len(self.eval_lut)] = torch.tensor(self.eval_lut, dtype=torch.int64)
        return lut.to(labels.device)[labels.clamp(0, 255)]

    def colorize(self, labels: torch.Tensor) -> torch.Tensor:
        """Colour a label map ``[H, W]`` (or ``[B, H, W]``) with the palette; ignored pixels are black."""
        lut = torch.zeros(256, 3, dtype=torch.uint8)
        lut[: self.num_classes] = torch.tensor(self.palette, dtype=torch.uint8)
        rgb = lut[labels.clamp(0, 255).long()]
        return rgb.movedim(-1, -3).contiguous()


def instance_edges(instances: torch.Tensor) -> torch.Tensor:
    """4-neighbour boundary map of an id map ``[..., H, W]``: 1 where a pixel differs from its left, right, upper
    or lower neighbour (the edge channel of SPADE, INADE and SDM)."""
    edge = torch.zeros_like(instances, dtype=torch.bool)
    horizontal = instances[..., :, 1:] != instances[..., :, :-1]
    vertical = instances[..., 1:, :] != instances[..., :-1, :]
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    return edge.to(torch.float32)


def label_one_hot(labels: torch.Tensor, channels: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """float32 one-hot ``[..., channels, H, W]`` of an id map ``[..., H, W]``; ignored pixels have an all-zero class
    vector (the semantic input of SPADE-style generators and SDM)."""
    valid = labels != ignore_index
    onehot = torch.zeros(*labels.shape[:-2], channels, *labels.shape[-2:], dtype=torch.float32, device=labels.device)
    return onehot.scatter_(-3, torch.where(valid, labels, 0).unsqueeze(-3), valid.unsqueeze(-3).float())


@dataclass(frozen=True)
class Layout:
    """A semantic layout: ``labels`` int64 ``[H, W]`` in ``label_space``, optional ``instances`` int64 ``[H, W]``.

    Constructing one validates it; a bad map raises ``LayoutError`` saying what is wrong.
    """

    labels: torch.Tensor
    label_space: LabelSpace
    instances: torch.Tensor | None = field(default=None)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        labels, space = self.labels, self.label_space
        if not isinstance(labels, torch.Tensor):
            raise LayoutError(f"layout labels must be a torch.Tensor, got {type(labels).__name__}")
        if labels.dtype != torch.int64:
            raise LayoutError(f"layout labels must be int64, got {labels.dtype}; convert with labels.long()")
        if labels.dim() != 2:
            raise LayoutError(f"layout labels must have shape [H, W], got {list(labels.shape)}")
        if labels.numel() == 0:
            raise LayoutError("layout labels are empty")
        bad = (labels < 0) | ((labels >= space.num_classes) & (labels != space.ignore_index))
        if bool(bad.any()):
            value = int(labels[bad][0])
            raise LayoutError(
                f"label {value} is outside {space.name}'s classes 0..{space.num_classes - 1} "
                f"(ignore index {space.ignore_index}); map the raw labels into the label space first"
            )
        if self.instances is not None:
            inst = self.instances
            if not isinstance(inst, torch.Tensor) or inst.dtype != torch.int64:
                raise LayoutError("layout instances must be an int64 torch.Tensor")
            if inst.shape != labels.shape:
                raise LayoutError(f"instance map shape {list(inst.shape)} differs from label map {list(labels.shape)}")
            if bool((inst < 0).any()):
                raise LayoutError("instance ids must be >= 0")

    @property
    def size(self) -> tuple[int, int]:
        return int(self.labels.shape[0]), int(self.labels.shape[1])

    def edges(self) -> torch.Tensor:
        """The 4-neighbour instance boundary map, float32 ``[H, W]`` of 0/1 (all zeros without instances)."""
        if self.instances is None:
            return torch.zeros(self.labels.shape, dtype=torch.float32)
        return instance_edges(self.instances)

    def one_hot(self, num_channels: int | None = None) -> torch.Tensor:
        """float32 ``[C, H, W]`` one-hot of the labels; ignored pixels are all zero."""
        return label_one_hot(self.labels, num_channels or self.label_space.num_classes, self.label_space.ignore_index)

    def region_mask(self, region: Mapping[str, int]) -> torch.Tensor:
        """bool ``[H, W]``: the pixels of a region, ``{"class": c}`` (every pixel of class c) or ``{"instance": id}``
        (an id of ``instances``); the unit that region-level control (resampling, editing) and metrics act on."""
        if set(region) == {"class"}:
            mask = self.labels == int(region["class"])
        elif set(region) == {"instance"}:
            if self.instances is None:
                raise UserError("region {'instance': ...} needs a layout with an instance map; use {'class': c}")
            mask = self.instances == int(region["instance"])
        else:
            raise UserError(f"region must be {{'class': c}} or {{'instance': id}}, got {dict(region)}")
        if not bool(mask.any()):
            raise LayoutError(f"region {dict(region)} is absent from the layout")
        return mask


@dataclass(frozen=True)
class Example:
    """One dataset item: its id (file stem), the real image uint8 ``[3, H, W]`` and its layout."""

    id: str
    image: torch.Tensor
    layout: Layout


def stack_layouts(layouts: Sequence[Layout]) -> torch.Tensor:
    """Labels of same-sized layouts as one int64 ``[B, H, W]`` tensor."""
    sizes = {layout.size for layout in layouts}
    if len(sizes) != 1:
        raise LayoutError(f"layouts of one batch must share a size, got {sorted(sizes)}")
    return torch.stack([layout.labels for layout in layouts])
