"""A tiny trainable method plugin for the tests: ``train`` measures each class's mean colour on the first training
images and writes it as a weights file; ``generate`` paints the layout with those colours (the palette without a
file) plus Gaussian noise drawn from the seed. Importing this module registers it as ``class-colours``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from semsynth import checkpoints
from semsynth.methods.base import Method
from semsynth.registry import METHODS
from semsynth.types import Layout


@METHODS.register_module(name="class-colours")
class ClassColours(Method):
    """Mean class colours learned from data, plus seeded noise."""

    name = "class-colours"
    defaults = {"noise": 8.0}

    def __init__(self, dataset: str = "shapes", checkpoint: str | Path | None = None, device: str = "cpu",
                 **overrides: Any) -> None:
        super().__init__(dataset, checkpoint, device, **overrides)
        if self.checkpoint is None:
            self.colours = torch.tensor(self.label_space.palette, dtype=torch.float32)
        else:
            self.colours = checkpoints.load(self.checkpoint)[0]["colours"]

    @classmethod
    def train(cls, dataset: str, out_dir: str | Path, steps: int = 8, data_root: str | Path | None = None,
              **_options: Any) -> Path:
        from semsynth import load_dataset

        data = load_dataset(dataset, root=data_root, split="train")
        classes = data.label_space.num_classes
        sums, counts = torch.zeros(classes, 3, dtype=torch.float64), torch.zeros(classes, dtype=torch.float64)
        for index in range(min(steps, len(data))):
            example = data[index]
            labels = example.layout.labels.flatten()
            sums.index_add_(0, labels, example.image.flatten(1).T.double())
            counts.index_add_(0, labels, torch.ones_like(labels, dtype=torch.float64))
        colours = (sums / counts.clamp(min=1)[:, None]).float()
        target = Path(out_dir) / f"class_colours_{dataset}.safetensors"
        checkpoints.save(target, {"colours": colours}, {"dataset": dataset, "images": min(steps, len(data))})
        return target

    def generate(self, layout: Layout, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        image = self.colours[layout.labels.clamp(max=len(self.colours) - 1)].permute(2, 0, 1)
        image = image + self.settings["noise"] * torch.randn(image.shape, generator=generator)
        return image.round().clamp(0, 255).to(torch.uint8)
