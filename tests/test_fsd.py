"""The Fréchet Segmentation Distance against a direct computation (numpy covariances, scipy's matrix square root)
of per-image class fractions, on layouts alone and with the shapes segmenter; its state is integer counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from semsynth import load_metric
from semsynth.datasets.shapes import Shapes, render
from semsynth.evaluators.base import EvalBatch, EvalContext
from semsynth.evaluators.fsd import class_counts

N = 12


def direct_fsd(generated: np.ndarray, reference: np.ndarray) -> float:
    """The textbook Fréchet distance of two sets of fraction vectors (rows)."""
    mu1, mu2 = generated.mean(0), reference.mean(0)
    s1, s2 = np.cov(generated, rowvar=False), np.cov(reference, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def fractions(labels: torch.Tensor, classes: int) -> np.ndarray:
    counts = np.stack([np.bincount(label.flatten().numpy(), minlength=classes) for label in labels]).astype(float)
    return counts / counts.sum(1, keepdims=True)


def test_class_counts_skip_ignored_pixels() -> None:
    labels = torch.tensor([[[0, 1], [255, 1]], [[2, 2], [2, 2]]])
    assert class_counts(labels, 3).tolist() == [[1, 2, 0], [0, 0, 4]]


@pytest.mark.parametrize("segmenter", ["", "shapes-segnet"])
def test_fsd_equals_the_direct_computation(segmenter: str, tmp_path) -> None:
    generated_maps = torch.stack([Shapes(split="train").layout(100 + i).labels for i in range(N)])
    if segmenter:
        metric = load_metric("fsd", segmenter=segmenter, reference_split="train", reference_limit=N)
    else:
        metric = load_metric("fsd", generated="layouts", reference="labels", reference_split="train",
                             reference_limit=N)
    metric.prepare(EvalContext(dataset="shapes", cache_dir=tmp_path, batch_size=5))
    layouts = [Shapes(split="val").layout(i) for i in range(N)]
    images = torch.stack([render(layout.labels, layout.instances, 0) for layout in layouts])[:, None]
    labels = torch.stack([layout.labels for layout in layouts])
    if not segmenter:
        labels = generated_maps
    state = metric.new_state()
    for start in range(0, N, 5):
        metric.update(state, EvalBatch(images=images[start:start + 5], labels=labels[start:start + 5]))
    assert state["counts"].dtype == torch.int64 and state["counts"].shape == (N, 10)
    reference_maps = torch.stack([Shapes(split="train").layout(i).labels for i in range(N)])
    if segmenter:
        reference_maps = torch.stack([metric.segmenter.predict(Shapes(split="train")[i].image[None])[0].cpu()
                                      for i in range(N)])
        generated_maps = torch.stack([metric.segmenter.predict(image)[0].cpu() for image in images])
    expected = direct_fsd(fractions(generated_maps, 10), fractions(reference_maps, 10))
    assert metric.compute(state)["value"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert expected > 0
