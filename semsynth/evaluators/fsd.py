"""Fréchet Segmentation Distance (Bau et al. 2019, used by GCDP): the Fréchet distance between the distributions of
per-image class pixel fractions of generated and real data.

Each image is summarised by the fraction of its (non-ignored) pixels in every class of a segmenter's label space;
the generated side is the segmenter's prediction on the generated images (``generated='segmented'``) or the
layouts themselves (``'layouts'``, for joint image-layout models whose samples carry their own layout); the
reference side is the segmenter on the real images of ``reference_split`` (``reference='segmented'``) or their
ground-truth layouts (``'labels'``). Without a segmenter the dataset's own label space is used (layouts only).
The state holds integer pixel counts, one row per image in plan order; statistics are accumulated row by row in
``compute``, so the value does not depend on the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..backbones.base import per_image
from ..errors import UserError
from ..registry import METRICS
from ..types import IGNORE_INDEX
from .base import EvalBatch, EvalContext, Metric, State
from .fid import new_stats, stats_distance, update_stats
from .reference import computed_once, reference_cache

SOURCES = ("segmented", "layouts")
UNITS = {"fraction": 1.0, "percent": 100.0}   # per-image class shares as fractions or percentages
REFERENCES = ("segmented", "labels")


def class_counts(labels: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """int64 ``[B, C]``: pixels of each class in each label map ``[B, H, W]`` (``ignore_index`` pixels skipped)."""
    rows = []
    for label in labels.reshape(labels.shape[0], -1).long():
        valid = label[(label != ignore_index) & (label >= 0) & (label < num_classes)]
        rows.append(torch.bincount(valid, minlength=num_classes))
    return torch.stack(rows).cpu() if rows else torch.zeros(0, num_classes, dtype=torch.int64)


def fraction_stats(counts: torch.Tensor, scale: float = 1.0) -> State:
    """Streaming Fréchet statistics of the per-image class fractions x ``scale`` (rows of ``counts``, accumulated
    in order)."""
    stats = new_stats(counts.shape[1])
    fractions = scale * counts.double() / counts.sum(dim=1, keepdim=True).clamp(min=1).double()
    update_stats(stats, fractions)
    return stats


@dataclass(frozen=True)
class _Source:
    """What names the reference cache file (the cache helpers key files by a backbone's ``name``)."""

    name: str


@METRICS.register_module(name="fsd")
class FSD(Metric):
    """Fréchet Segmentation Distance on per-image class pixel fractions (module docstring).

    Options: ``segmenter``, ``generated`` (segmented | layouts), ``reference`` (segmented | labels), ``samples``
    (first | all), ``reference_split``, ``reference_limit`` and ``unit`` (fraction | percent)."""

    name = "fsd"
    segmenter_option = "segmenter"
    # joint generation (GCDP Table 1): the generated layouts themselves against the real layouts
    joint_options = {"generated": "layouts", "reference": "labels"}

    def __init__(self, segmenter: str = "", generated: str = "segmented", reference: str = "segmented",
                 samples: str = "first", reference_split: str = "val", reference_limit: int | None = None,
                 unit: str = "fraction", checkpoint: str | None = None, **segmenter_options: Any) -> None:
        if unit not in UNITS:
            raise UserError(f"fsd: unit must be one of {', '.join(UNITS)}, got {unit!r}")
        if generated not in SOURCES or reference not in REFERENCES:
            raise UserError(f"fsd: generated must be one of {', '.join(SOURCES)} and reference one of "
                            f"{', '.join(REFERENCES)}, got {generated!r} and {reference!r}")
        if not segmenter and "segmented" in (generated, reference):
            raise UserError("fsd needs a segmenter (--segmenter NAME) unless generated='layouts' and "
                            "reference='labels'")
        self.segmenter_name, self.generated, self.reference_kind = segmenter, generated, reference
        self.samples, self.reference_split, self.reference_limit = samples, reference_split, reference_limit
        self.checkpoint, self.segmenter_options, self.unit = checkpoint, segmenter_options, unit
        self.segmenter = None
        self.label_space = None
        self.dataset = ""
        self.reference: State | None = None
        self.add_state("counts", torch.zeros(0, 0, dtype=torch.int64), reduce="cat")

    def prepare(self, context: EvalContext) -> None:
        from .. import load_segmenter
        from ..registry import DATASETS, lookup

        self.dataset = context.dataset
        if self.segmenter_name:
            self.segmenter = load_segmenter(self.segmenter_name, dataset=context.dataset, checkpoint=self.checkpoint,
                                            device=str(context.device), **self.segmenter_options)
            self.label_space = self.segmenter.label_space
        else:
            self.label_space = lookup(DATASETS, context.dataset).label_space
        self.add_state("counts", torch.zeros(0, self.label_space.num_classes, dtype=torch.int64), reduce="cat")
        self.reference_split = context.options.get("reference_split", self.reference_split)
        source = _Source(f"fsd-{self.segmenter_name or 'labels'}")
        cache, key = reference_cache(source, context, "class-fractions", self.reference_split, self.reference_limit,
                                     {"segmenter": self.segmenter_name, "reference": self.reference_kind,
                                      "unit": self.unit, "options": self.segmenter_options})
        self.reference = computed_once(cache, key, lambda: self._reference(context))

    def _labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Dataset layouts in the label space the fractions are counted in."""
        return labels if self.segmenter is None else self.segmenter.map_labels(labels.cpu(), self.dataset)

    def _counts(self, images: torch.Tensor | None, labels: torch.Tensor, segmented: bool) -> torch.Tensor:
        maps = per_image(self.segmenter.predict, images).cpu() if segmented else self._labels(labels)
        return class_counts(maps, self.label_space.num_classes, self.label_space.ignore_index)

    def _reference(self, context: EvalContext) -> State:
        from .. import load_dataset

        dataset = load_dataset(context.dataset, root=context.data_root, split=self.reference_split)
        count = len(dataset) if self.reference_limit is None else min(self.reference_limit, len(dataset))
        rows = []
        for start in range(0, count, context.batch_size):
            examples = [dataset[i] for i in range(start, min(start + context.batch_size, count))]
            images = torch.stack([example.image for example in examples]).to(context.device) \
                if self.reference_kind == "segmented" else None
            labels = torch.stack([example.layout.labels for example in examples])
            rows.append(self._counts(images, labels, self.reference_kind == "segmented"))
        return fraction_stats(torch.cat(rows), UNITS[self.unit])

    def update(self, state: State, batch: EvalBatch) -> None:
        if self.samples == "first":
            images, labels = batch.first_samples(), batch.labels
        else:
            k = batch.images.shape[1]
            images, labels = batch.images.flatten(0, 1), batch.labels.repeat_interleave(k, 0)
        segmented = self.generated == "segmented"
        state["counts"] = torch.cat([state["counts"], self._counts(images if segmented else None, labels, segmented)])

    def compute(self, state: State) -> dict[str, Any]:
        generated = fraction_stats(state["counts"], UNITS[self.unit])
        return {"value": stats_distance(generated, self.reference), "images": int(state["counts"].shape[0]),
                "generated": self.generated, "reference": self.reference_kind,
                "reference_split": self.reference_split, "segmenter": self.segmenter_name or None, "unit": self.unit}
