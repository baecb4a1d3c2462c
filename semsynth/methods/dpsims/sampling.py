"""Training-image sampling (supplement B.4, Table S11): ``uniform`` (every image equally often) or ``balanced``
(a class uniformly at random, then an image that contains it), so rare classes are seen as often as common ones.

``Balanced`` is a dataset view for the shared Trainer: item ``i`` is a deterministic function of (seed, i), so a
resumed run sees the same images. The class index covers the first ``pool`` training layouts (``shapes`` train is
virtual and has a million)."""

from __future__ import annotations

import zlib
from typing import Any

import torch

SAMPLING = ("uniform", "balanced")


def layout_of(dataset: Any, index: int) -> Any:
    """The layout of item ``index`` without loading its image when the dataset can (``dataset.layout``)."""
    return dataset.layout(index) if hasattr(dataset, "layout") else dataset[index].layout


class Balanced:
    """Class-balanced view of ``dataset``: ``len`` is the dataset's; item ``i`` draws a class present in the pool,
    then one of the pool's images containing it."""

    def __init__(self, dataset: Any, pool: int, seed: int = 0) -> None:
        self.dataset, self.seed = dataset, seed
        self.label_space = dataset.label_space
        num_classes = dataset.label_space.num_classes
        members: list[list[int]] = [[] for _ in range(num_classes)]
        for index in range(min(pool, len(dataset))):
            labels = layout_of(dataset, index).labels
            for c in labels[labels < num_classes].unique().tolist():
                members[c].append(index)
        self.members = [torch.tensor(m) for m in members if m]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        rng = torch.Generator().manual_seed(zlib.crc32(f"balanced/{self.seed}/{index}".encode()))
        members = self.members[int(torch.randint(len(self.members), (1,), generator=rng))]
        return self.dataset[int(members[int(torch.randint(len(members), (1,), generator=rng))])]


def training_view(dataset: Any, sampling: str, pool: int, seed: int) -> Any:
    """``dataset`` itself (uniform) or its ``Balanced`` view."""
    if sampling not in SAMPLING:
        raise ValueError(f"unknown sampling {sampling!r}; use {' or '.join(SAMPLING)}")
    return dataset if sampling == "uniform" else Balanced(dataset, pool, seed)
