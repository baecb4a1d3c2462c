"""mIoU, pixel accuracy and per-class IoU from one dataset-wide confusion matrix.

The segmenter labels the generated images; the ground truth is the layout they were generated from, mapped into
the segmenter's label space and resized with nearest neighbour to the prediction size. IoUs come from the matrix
summed over the whole dataset (not averaged per image). A class absent from both the ground truth and the
predictions of the whole dataset has no IoU (0/0) and is left out of the mean; the per-class list shows None.
Each image is segmented alone, so that no prediction depends on the batch size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
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


def class_iou(true_positive: torch.Tensor, ground_truth: torch.Tensor, predicted: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class IoU (fraction) from float64 pixel counts ``[..., C]`` and which classes are present (in the ground
    truth or the predictions)."""
    union = ground_truth + predicted - true_positive
    present = union > 0
    return torch.where(present, true_positive / union.clamp(min=1), torch.zeros_like(union)), present


def scores(matrix: torch.Tensor) -> dict[str, Any]:
    """mIoU (over classes present in ground truth or predictions), pixel accuracy and per-class IoU (percent)."""
    matrix = matrix.double()
    true_positive = matrix.diag()
    iou, present = class_iou(true_positive, matrix.sum(1), matrix.sum(0))
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
    joint_options = {}     # joint: the segmenter against the generated layout

    def __init__(self, segmenter: str = "", samples: str = "first", checkpoint: str | None = None,
                 **segmenter_options: Any) -> None:
        self.segmenter_name = segmenter
        self.samples = samples
        self.checkpoint = checkpoint
        self.segmenter_options = segmenter_options
        self.segmenter = None
        self.dataset = ""
        self.declare_states(0)

    def declare_states(self, num_classes: int) -> None:
        """The dataset-wide confusion matrix and, per layout (its K samples together with ``samples="all"``), the
        pixel counts true positive / ground truth / predicted per class (int64 ``[N, 3, C]``, the bootstrap's
        rows)."""
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.int64), reduce="sum")
        self.add_state("layouts", torch.zeros(0, 3, num_classes, dtype=torch.int64), reduce="cat")

    def prepare(self, context: EvalContext) -> None:
        from .. import load_segmenter

        self.dataset = context.dataset
        self.segmenter = load_segmenter(self.segmenter_name, dataset=context.dataset, checkpoint=self.checkpoint,
                                        device=str(context.device), **self.segmenter_options)
        self.declare_states(self.num_classes)

    @property
    def num_classes(self) -> int:
        return self.segmenter.label_space.num_classes

    def update(self, state: State, batch: EvalBatch) -> None:
        k = 1 if self.samples == "first" else batch.images.shape[1]
        images = batch.first_samples() if k == 1 else batch.images.flatten(0, 1)
        pred = per_image(self.segmenter.predict, images).cpu()
        target = self.segmenter.map_labels(batch.labels.cpu(), self.dataset)
        if target.shape[-2:] != pred.shape[-2:]:
            target = torch.stack([resize_labels(t, pred.shape[-2:]) for t in target])
        rows = []
        for layout, layout_target in enumerate(target):
            matrix = sum(confusion_matrix(pred[layout * k + sample], layout_target, self.num_classes,
                                          self.segmenter.label_space.ignore_index) for sample in range(k))
            state["confusion"] += matrix
            rows.append(torch.stack([matrix.diag(), matrix.sum(1), matrix.sum(0)]))
        state["layouts"] = torch.cat([state["layouts"], torch.stack(rows)])

    def compute(self, state: State) -> dict[str, Any]:
        return {**scores(state["confusion"]), **self.segmenter.describe()}

    def resampled(self, state: State, counts: np.ndarray) -> np.ndarray:
        """mIoU (percent) of each resample: its layouts' pixel counts added (float64 sums of integers below 2**53
        are exact, so the order of the additions does not matter), then the dataset-wide IoU as in ``scores``."""
        rows = state["layouts"].to(torch.float64)
        totals = (torch.from_numpy(counts).to(torch.float64) @ rows.flatten(1)).reshape(len(counts), *rows.shape[1:])
        iou, present = class_iou(totals[:, 0], totals[:, 1], totals[:, 2])
        return (100 * (iou * present).sum(1) / present.sum(1)).numpy()
