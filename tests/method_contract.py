"""The contract every method must pass (``tests/test_method_contract.py`` runs it for every registered method;
a method's own tests may call ``run_contract`` on variants).

Output is uint8 ``[3, H, W]`` at the dataset resolution; the same (layout, seed) gives the same image;
``generate_batch`` equals one-by-one generation bit for bit on the CPU over 8 layouts at batch sizes 1, 3 and 8;
different seeds give different images for stochastic methods; an invalid layout raises ``LayoutError``.
"""

from __future__ import annotations

from typing import Sequence

import pytest
import torch

from semsynth.errors import LayoutError
from semsynth.methods.base import Method
from semsynth.types import LabelSpace, Layout


BATCH_SIZES = (1, 3, 8)
LAYOUTS = 8


def contract_layouts(method: Method, count: int = LAYOUTS) -> list[Layout]:
    """Layouts of the method's dataset: from ``shapes`` itself, or random blocky maps of the right size."""
    if method.dataset == "shapes":
        from semsynth.datasets.shapes import Shapes

        data = Shapes(split="val")
        return [data.layout(i) for i in range(count)]
    height, width = method.resolution
    generator = torch.Generator().manual_seed(0)
    layouts = []
    for _ in range(count):
        coarse = torch.randint(0, method.label_space.num_classes, (height // 16 + 1, width // 16 + 1),
                               generator=generator)
        labels = coarse.repeat_interleave(16, 0).repeat_interleave(16, 1)[:height, :width].contiguous()
        instances = labels * 1000 + (torch.arange(width) // 32)[None].expand(height, width)
        layouts.append(Layout(labels, method.label_space, instances.contiguous()))
    return layouts


def run_contract(method: Method, layouts: Sequence[Layout] | None = None,
                 batch_sizes: Sequence[int] = BATCH_SIZES) -> None:
    layouts = list(layouts or contract_layouts(method))
    height, width = method.resolution

    first = method.generate(layouts[0], seed=0)
    assert first.dtype == torch.uint8, f"output dtype {first.dtype}, expected uint8"
    assert tuple(first.shape) == (3, height, width), f"output shape {tuple(first.shape)}"

    assert torch.equal(method.generate(layouts[0], seed=0), first), "same (layout, seed) gave different images"

    seeds = [7 * index + 3 for index in range(len(layouts))]
    singles = [method.generate(layout, seed=seed) for layout, seed in zip(layouts, seeds)]
    for size in batch_sizes:
        for start in range(0, len(layouts), size):
            chunk = layouts[start:start + size]
            batch = method.generate_batch(chunk, seeds[start:start + size])
            assert batch.dtype == torch.uint8 and tuple(batch.shape) == (len(chunk), 3, height, width)
            for offset, image in enumerate(batch):
                assert torch.equal(image, singles[start + offset]), \
                    f"generate_batch at batch size {size} differs from generate for layout {start + offset}"

    if method.stochastic:
        other = method.generate(layouts[0], seed=1)
        assert not torch.equal(other, first), "different seeds gave identical images"

    wrong_space = LabelSpace("other", tuple(f"c{i}" for i in range(method.label_space.num_classes + 3)),
                             ((0, 0, 0),) * (method.label_space.num_classes + 3))
    with pytest.raises(LayoutError):
        method.generate(Layout(torch.zeros(height, width, dtype=torch.long), wrong_space), seed=0)
    with pytest.raises(LayoutError):
        method.generate(Layout(torch.zeros(height // 2, width, dtype=torch.long), method.label_space), seed=0)
    corrupted = Layout(layouts[0].labels.clone(), method.label_space, layouts[0].instances)
    corrupted.labels[0, 0] = method.label_space.num_classes + 1   # changed after construction
    with pytest.raises(LayoutError):
        method.generate(corrupted, seed=0)
