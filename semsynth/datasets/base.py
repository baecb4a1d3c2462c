"""The dataset contract: a map-style dataset of ``Example``s at the benchmark resolution, plus its label space."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ..errors import DatasetError, UserError
from ..types import Example, LabelSpace


def data_root(name: str, root: str | Path | None) -> Path:
    """``root`` if given, else ``$SEMSYNTH_DATA/<name>``; a clear error when neither is set."""
    if root is not None:
        return Path(root).expanduser()
    base = os.environ.get("SEMSYNTH_DATA")
    if not base:
        raise DatasetError(f"no data root for '{name}': pass --data-root DIR or set SEMSYNTH_DATA to the folder "
                           f"that holds '{name}/'")
    return Path(base).expanduser() / name


class Dataset(ABC):
    """A benchmark dataset. Class attributes describe it without touching the disk (methods need the label
    space and resolution before any data exists); instances read one split."""

    name: ClassVar[str] = ""
    label_space: ClassVar[LabelSpace]
    resolution: ClassVar[tuple[int, int]]       # benchmark (H, W)
    splits: ClassVar[tuple[str, ...]] = ("train", "val")
    has_instances: ClassVar[bool] = False

    def __init__(self, root: str | Path | None = None, split: str = "val") -> None:
        if split not in self.splits:
            raise UserError(f"dataset '{self.name}' has no split '{split}'; splits: {', '.join(self.splits)}")
        self.split = split
        self.root = root

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> Example: ...

    def example_id(self, index: int) -> str:
        """The id of example ``index`` (datasets override this to avoid reading the files)."""
        return self[index].id

    def __iter__(self) -> Iterator[Example]:
        for index in range(len(self)):
            yield self[index]

    def problems_of(self, indices: Iterable[int]) -> list[str]:
        """Problems of the files that the examples ``indices`` read (and of the split as a whole), one line each;
        empty when usable. Datasets stored as files override it; ``check`` and ``validate`` both use it."""
        return []

    def check(self, sample: int = 20) -> list[str]:
        """Problems found on disk for ``sample`` examples spread over the split, one line each (``bench datasets
        check``)."""
        count = min(sample, len(self))
        return self.problems_of(sorted({round(i * (len(self) - 1) / max(count - 1, 1)) for i in range(count)}))

    def validate(self, count: int) -> None:
        """Raise a ``DatasetError`` with the first problem of the first ``count`` examples (every file decoded),
        so that ``bench run`` refuses faulty data before it writes anything."""
        problems = self.problems_of(range(min(count, len(self))))
        if problems:
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            raise DatasetError(f"{self.name} {self.split} data at {self.root}: {problems[0]}{more}; fix the files "
                               f"(`bench datasets check --dataset {self.name} --data-root DIR` lists every problem)")


def resize_image(image: torch.Tensor, size: Sequence[int], mode: str = "bicubic") -> torch.Tensor:
    """Resize uint8 ``[3, h, w]`` to ``size`` (H, W) with antialiasing, rounding back to uint8."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    out = F.interpolate(image[None].float(), size=tuple(size), mode=mode, antialias=mode in ("bilinear", "bicubic"),
                        align_corners=False if mode in ("bilinear", "bicubic") else None)
    return out[0].round().clamp(0, 255).to(torch.uint8)


def resize_labels(labels: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize an integer map ``[h, w]`` to ``size`` (H, W) with nearest neighbour (labels and instance ids)."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    out = F.interpolate(labels[None, None].double(), size=tuple(size), mode="nearest")
    return out[0, 0].to(labels.dtype)
