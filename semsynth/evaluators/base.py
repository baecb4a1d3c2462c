"""Metrics as declared states: ``add_state``, ``update``, ``merge``, ``reduce``, ``compute``.

A metric declares each tensor of its state with ``add_state(name, default, reduce)`` ("sum": integer counts and
confusion matrices; "cat": rows, one per image, layout or region, in plan order). Floating-point contributions are
rows that ``compute`` folds in row order: a float sum would depend on how the samples were split into batches and
processes, and metrics must be bit-identical whatever the batch size or the number of processes. ``new_state``,
``merge`` (the state of the union of two disjoint sample sets) and ``reduce`` (the state over all torchrun ranks)
follow from the declarations: "sum" states add element by element (all-reduce), "cat" states concatenate along
dim 0 (all-gather in rank order; the runner gives each rank one contiguous block of the plan, so that is plan
order). A metric's per-run data lives only in its state; the metric object holds its configuration and what
``prepare`` loads (backbones, reference statistics).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Hashable, Optional

import numpy as np
import torch

from ..types import Example

State = dict[str, torch.Tensor]
REDUCTIONS = ("sum", "cat")


@dataclass
class EvalBatch:
    """Generated samples of a batch of layouts: ``images`` uint8 ``[B, K, 3, H, W]`` (K samples per layout, in
    seed order), ``labels`` int64 ``[B, H, W]`` (the layouts, in the dataset's label space) and optional
    ``instances`` and ``real`` images uint8 ``[B, 3, H, W]``. ``key`` identifies the batch within one evaluation
    (the runner passes the batch index); metrics share feature passes of a batch under it."""

    images: torch.Tensor
    labels: torch.Tensor
    instances: Optional[torch.Tensor] = None
    real: Optional[torch.Tensor] = None
    key: Optional[Hashable] = None
    # For metrics with extra samples: the examples, their positions in the plan and, per example, the extra
    # samples planned for it (``ExtraSample.key`` -> uint8 ``[3, H, W]``).
    examples: list[Example] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    extras: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def first_samples(self) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]``: the first sample (seed 0 of the plan) of each layout."""
        return self.images[:, 0]


class FeatureCache:
    """Backbone features of the batch being evaluated, so that metrics on one backbone (FID and KID) share one pass.

    Entries are keyed by what determines the features (backbone, options, image selection) and belong to one batch:
    its ``key``, or the batch object itself when it has none. A new batch drops the previous batch's entries.
    """

    def __init__(self) -> None:
        self.batch: Optional[EvalBatch] = None
        self.entries: dict[Hashable, torch.Tensor] = {}

    def _same_batch(self, batch: EvalBatch) -> bool:
        if self.batch is None:
            return False
        if batch.key is not None or self.batch.key is not None:
            return batch.key == self.batch.key
        return batch is self.batch

    def get(self, batch: EvalBatch, key: Hashable, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The features stored under ``key`` for ``batch``, computed by ``compute()`` the first time."""
        if not self._same_batch(batch):
            self.batch, self.entries = batch, {}
        if key not in self.entries:
            self.entries[key] = compute()
        return self.entries[key]


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
    settings for this metric, the device, a cache folder for reference statistics (shared by all ranks) and the
    feature cache shared by the metrics of one evaluation."""

    dataset: str
    split: str = "val"
    data_root: Optional[Path] = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 64
    cache_dir: Optional[Path] = None
    quiet: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    features: FeatureCache = field(default_factory=FeatureCache)


@dataclass(frozen=True)
class StateSpec:
    """A declared state tensor: its empty value and how two of them combine ("sum" or "cat")."""

    default: torch.Tensor
    reduce: str


class Metric(ABC):
    """A metric over generated samples. ``prepare`` loads backbones and reference statistics once.

    The class attributes declare what the runner must provide: ``min_samples_per_layout`` (samples of each layout
    that ``update`` needs), ``requires_method`` (attributes of the method the metric uses, e.g. ``("resample",)``)
    and ``segmenter_option`` (the option that ``--segmenter`` sets, for mIoU-type metrics); ``joint_options`` the
    options under which it scores jointly generated pairs (``--task joint``: ``EvalBatch.labels`` are then the
    method's own layouts), None where it is not defined for them.
    """

    name: ClassVar[str] = ""
    min_samples_per_layout: ClassVar[int] = 1
    requires_method: ClassVar[tuple[str, ...]] = ()
    segmenter_option: ClassVar[str | None] = None
    joint_options: ClassVar[dict[str, Any] | None] = None
    bootstrap_resamples: ClassVar[int | None] = None     # at most this many resamples (an expensive statistic)
    bootstrap_interval: ClassVar[str] = "percentile"     # or "normal": value +- z * bootstrap standard error

    def add_state(self, name: str, default: torch.Tensor, reduce: str = "sum") -> None:
        """Declare state ``name`` with its empty value ``default`` and its reduction ("sum" or "cat" along dim 0);
        declaring a name again replaces it (e.g. once ``prepare`` knows a backbone's dimension)."""
        if reduce not in REDUCTIONS:
            raise ValueError(f"state '{name}': reduce must be one of {', '.join(REDUCTIONS)}, not '{reduce}'")
        if reduce == "cat" and default.dim() == 0:
            raise ValueError(f"state '{name}': a 'cat' state needs at least one dimension (rows)")
        if reduce == "sum" and (default.is_floating_point() or default.is_complex()):
            raise ValueError(f"state '{name}': a 'sum' state must be integer (float sums depend on the order of the "
                             f"samples); declare the float contributions as 'cat' rows and fold them in compute")
        self.__dict__.setdefault("_states", {})[name] = StateSpec(default.detach().clone(), reduce)

    @property
    def states(self) -> dict[str, StateSpec]:
        """The declared states, by name."""
        return self.__dict__.get("_states", {})

    def _spec(self, name: str) -> StateSpec:
        if name not in self.states:
            raise KeyError(f"metric '{self.name}': state '{name}' was not declared with add_state")
        return self.states[name]

    def extra_samples(self, position: int, example: Example) -> list[ExtraSample]:
        """Samples beyond the plan's that the metric needs for the example at ``position`` of the plan."""
        return []

    def prepare(self, context: EvalContext) -> None:
        """Load what the metric needs (backbone, reference statistics); default: nothing."""

    def new_state(self) -> State:
        """An empty state: a copy of every declared default."""
        return {name: spec.default.clone() for name, spec in self.states.items()}

    @abstractmethod
    def update(self, state: State, batch: EvalBatch) -> None:
        """Add a batch of samples to ``state`` in place."""

    def merge(self, a: State, b: State) -> State:
        """The state of the union of two disjoint sample sets, ``a``'s samples first."""
        merged = {}
        for name in a:
            spec = self._spec(name)
            merged[name] = a[name] + b[name] if spec.reduce == "sum" else torch.cat([a[name], b[name]])
        return merged

    def reduce(self, state: State) -> State:
        """The state over all ranks under torchrun ("sum": all-reduce, "cat": all-gather in rank order)."""
        from .. import distributed

        if distributed.world_size() == 1:
            return state
        reduced = {}
        for name, value in state.items():
            if self._spec(name).reduce == "sum":
                reduced[name] = distributed.all_reduce_state({name: value})[name]
            else:
                reduced[name] = distributed.all_gather_rows(value)
        return reduced

    @abstractmethod
    def compute(self, state: State) -> dict[str, Any]:
        """The metric's record: ``{"value": float, ...}`` plus what identifies how it was computed."""

    def resampled(self, state: State, counts: np.ndarray) -> np.ndarray | None:
        """The metric's value on resamples of the layouts, for bootstrap intervals (``evaluators/bootstrap.py``):
        ``counts`` int64 ``[resamples, n_layouts]`` says how often each layout is drawn. None: the state keeps no
        per-layout rows."""
        return None
