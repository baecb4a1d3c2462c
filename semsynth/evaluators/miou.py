"""mIoU, pixel accuracy and per-class IoU from one dataset-wide confusion matrix.

The segmenter labels the generated images; the ground truth is the layout they were generated from, mapped into
the segmenter's label space and resized with nearest neighbour to the prediction size. IoUs come from the matrix
summed over the whole dataset (not averaged per image). A class absent from both the ground truth and the
predictions of the whole dataset has no IoU (0/0) and is left out of the mean; the per-class list shows None.
Each image is segmented alone, so that no prediction depends on the batch size.
"""

from __future__ import annotations

from typing import Any

import torch

from ..backbones.base import per_image
from ..datasets.base import resize_labels
from ..registry import METRICS
from ..types import IGNORE_INDEX
from .base import EvalBatch, EvalContext, Metric, State


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """int64 ``[C, C]`` counts, rows = ground truth, columns = prediction; ``ignore_index`` pixels are skipped.

    Predictions outside ``0..C-1`` on valid pixels are an error (a segmenter must predict in its own space).
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {list(pred.shape)} and target {list(target.shape)} differ in shape")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    valid = target != ignore_index
    pred, target = pred[valid], target[valid]
    if pred.numel() and (int(pred.min()) < 0 or int(pred.max()) >= num_classes):
        raise ValueError(f"predictions must lie in 0..{num_classes - 1}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise ValueError(f"targets must lie in 0..{num_classes - 1} or be {ignore_index}")
    return torch.bincount(target * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def scores(matrix: torch.Tensor) -> dict[str, Any]:
    """mIoU (over classes present in ground truth or predictions), pixel accuracy and per-class IoU (percent)."""
    matrix = matrix.double()
    true_positive = matrix.diag()
    union = matrix.sum(0) + matrix.sum(1) - true_positive
    present = union > 0
    iou = torch.where(present, true_positive / union.clamp(min=1), torch.zeros_like(union))
    total = matrix.sum()
    return {
        "value": 100 * iou[present].mean().item() if bool(present.any()) else None,
        "pixel_accuracy": 100 * (true_positive.sum() / total).item() if total > 0 else None,
        "per_class": [100 * v if p else None for v, p in zip(iou.tolist(), present.tolist())],
        "n_classes_scored": int(present.sum()),
    }


@METRICS.register_module(name="miou")
class MIoU(Metric):
    """mIoU of a segmenter on generated images against their layouts.

    ``segmenter`` names a registered segmenter; ``samples`` is "first" or "all"; ``segmenter_options`` are
    passed to it (e.g. its input-size policy).
    """

    name = "miou"
    segmenter_option = "segmenter"

    def __init__(self, segmenter: str = "", samples: str = "first", checkpoint: str | None = None,
                 **segmenter_options: Any) -> None:
        self.segmenter_name = segmenter
        self.samples = samples
        self.checkpoint = checkpoint
        self.segmenter_options = segmenter_options
        self.segmenter = None
        self.dataset = ""
        self.add_state("confusion", torch.zeros(0, 0, dtype=torch.int64), reduce="sum")

    def prepare(self, context: EvalContext) -> None:
        from .. import load_segmenter

        self.dataset = context.dataset
        self.segmenter = load_segmenter(self.segmenter_name, dataset=context.dataset, checkpoint=self.checkpoint,
                                        device=str(context.device), **self.segmenter_options)
        self.add_state("confusion", torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64), reduce="sum")

    @property
    def num_classes(self) -> int:
        return self.segmenter.label_space.num_classes

    def update(self, state: State, batch: EvalBatch) -> None:
        if self.samples == "first":
            images, labels = batch.first_samples(), batch.labels
        else:
            k = batch.images.shape[1]
            images, labels = batch.images.flatten(0, 1), batch.labels.repeat_interleave(k, 0)
        pred = per_image(self.segmenter.predict, images).cpu()
        target = self.segmenter.map_labels(labels.cpu(), self.dataset)
        if target.shape[-2:] != pred.shape[-2:]:
            target = torch.stack([resize_labels(t, pred.shape[-2:]) for t in target])
        state["confusion"] += confusion_matrix(pred, target, self.num_classes,
                                               self.segmenter.label_space.ignore_index)

    def compute(self, state: State) -> dict[str, Any]:
        return {**scores(state["confusion"]), **self.segmenter.describe()}
