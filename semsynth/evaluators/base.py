"""Metrics as mergeable states: ``new_state``, ``update``, ``merge``, ``compute``.

A state is a dict of tensors (sums, co-moments, confusion matrices) whose size does not grow with the number of
images; merging two states (``merge``) and all-reducing one across ranks both add them element by element.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

import torch

from ..types import Example

State = dict[str, torch.Tensor]


@dataclass
class EvalBatch:
    """Generated samples of a batch of layouts: ``images`` uint8 ``[B, K, 3, H, W]`` (K samples per layout, in
    seed order), ``labels`` int64 ``[B, H, W]`` (the layouts, in the dataset's label space) and optional
    ``instances`` and ``real`` images uint8 ``[B, 3, H, W]``."""

    images: torch.Tensor
    labels: torch.Tensor
    instances: Optional[torch.Tensor] = None
    real: Optional[torch.Tensor] = None
    # For metrics with extra samples: the examples, their positions in the plan and, per example, the extra
    # samples planned for it (``ExtraSample.key`` -> uint8 ``[3, H, W]``).
    examples: list[Example] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    extras: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def first_samples(self) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]``: the first sample (seed 0 of the plan) of each layout."""
        return self.images[:, 0]


@dataclass(frozen=True)
class ExtraSample:
    """A sample a metric needs beyond the plan's K per layout: the runner stores
    ``getattr(method, call)(layout, **arguments)`` under ``key`` (unique in the run, fixed by the arguments) like
    any other sample, and hands it back in ``EvalBatch.extras``."""

    key: str
    call: str
    arguments: dict[str, Any]


@dataclass
class EvalContext:
    """What a metric may need before it sees samples: the dataset (for reference statistics), the protocol's
    settings for this metric, the device and a cache folder for reference statistics."""

    dataset: str
    split: str = "val"
    data_root: Optional[Path] = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 64
    cache_dir: Optional[Path] = None
    quiet: bool = True
    options: dict[str, Any] = field(default_factory=dict)


class Metric(ABC):
    """A metric over generated samples. ``prepare`` loads backbones and reference statistics once."""

    name: ClassVar[str] = ""
    # What the metric needs from a run; the runner plans from these alone (a run that cannot meet them leaves the
    # metric out, or stops with a user error when the metric was asked for by name).
    min_samples_per_layout: ClassVar[int] = 1
    requires_method: ClassVar[tuple[str, ...]] = ()        # method attributes it needs, e.g. ("resample",)
    segmenter_option: ClassVar[str | None] = None          # the constructor option that `--segmenter` sets

    def extra_samples(self, position: int, example: Example) -> list[ExtraSample]:
        """Samples beyond the plan's that the metric needs for the example at ``position`` of the plan."""
        return []

    def prepare(self, context: EvalContext) -> None:
        """Load what the metric needs (backbone, reference statistics); default: nothing."""

    @abstractmethod
    def new_state(self) -> State:
        """An empty state."""

    @abstractmethod
    def update(self, state: State, batch: EvalBatch) -> None:
        """Add a batch of samples to ``state`` in place."""

    def merge(self, a: State, b: State) -> State:
        """The state of the union of two disjoint sets of samples (element-wise sum by default)."""
        return {key: a[key] + b[key] for key in a}

    def reduce(self, state: State) -> State:
        """The state over all ranks under torchrun: an all-reduce sum by default (states that are sums);
        metrics whose state is a list of rows (KID) gather instead."""
        from ..distributed import all_reduce_state

        return all_reduce_state(state)

    @abstractmethod
    def compute(self, state: State) -> dict[str, Any]:
        """The metric's record: ``{"value": float, ...}`` plus what identifies how it was computed."""
