"""Diversity: the mean perceptual distance between samples of the same layout, under one of two protocols.

``all-pairs`` (SDM): for each layout the mean over all K(K-1)/2 unordered pairs of its K samples, then the mean over
layouts. ``random-groups`` (INADE): the K samples of each layout form K groups (sample k of every layout is group
k); ``pairs`` random pairs of distinct groups are drawn with ``seed``; each pair scores the mean distance over
layouts, and the value is the mean of those scores, i.e. per layout the mean over the drawn pairs. The distance
is a ``PairDistance`` backbone (LPIPS-AlexNet on real datasets, the ``shapes`` network's per-layer features on
``shapes``). The state holds each layout's mean (one float64 per layout), averaged exactly with ``math.fsum``."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch

from ..backbones.base import PairDistance, load_distance, per_image
from ..errors import UserError
from ..registry import METRICS
from .base import EvalBatch, EvalContext, Metric, State
from .bootstrap import weighted_mean


def random_group_pairs(k: int, pairs: int, seed: int) -> list[tuple[int, int]]:
    """``pairs`` pairs of distinct groups out of ``k``, each drawn uniformly with ``RandomState(seed)``."""
    rng = np.random.RandomState(seed)
    return [tuple(sorted(int(i) for i in rng.choice(k, 2, replace=False))) for _ in range(pairs)]


def pairs_mean(distance: PairDistance, samples: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """float64 ``[B]``: for each layout, the mean distance over ``pairs`` of its samples ``[B, K, ...]``."""
    first = samples[:, [i for i, _ in pairs]].flatten(0, 1)
    second = samples[:, [j for _, j in pairs]].flatten(0, 1)
    return per_image(distance.distance, first, second).reshape(samples.shape[0], len(pairs)).double().mean(1)


def all_pairs_mean(distance: PairDistance, samples: torch.Tensor) -> torch.Tensor:
    """float64 ``[B]``: for each layout, the mean distance over the K(K-1)/2 pairs of its samples ``[B, K, ...]``."""
    return pairs_mean(distance, samples, list(itertools.combinations(range(samples.shape[1]), 2)))


@METRICS.register_module(name="lpips")
class LPIPSDiversity(Metric):
    """LPIPS-style diversity, ``pairing`` ``all-pairs`` or ``random-groups`` (``pairs``, ``seed``; module docstring)."""

    name = "lpips"
    min_samples_per_layout = 2
    pairings = ("all-pairs", "random-groups")
    min_samples_per_layout = 2

    def __init__(self, backbone: str = "lpips-alex", pairing: str = "all-pairs", pairs: int = 10, seed: int = 0,
                 **backbone_options: Any) -> None:
        if pairing not in self.pairings:
            raise UserError(f"unknown diversity pairing '{pairing}'; choose one of {', '.join(self.pairings)}")
        self.backbone_name = backbone
        self.pairing, self.pairs, self.seed = pairing, pairs, seed
        self.backbone_options = backbone_options
        self.distance: PairDistance | None = None
        self.add_state("means", torch.zeros(0, dtype=torch.float64), reduce="cat")
        self.add_state("samples_per_layout", torch.zeros(0, dtype=torch.int64), reduce="cat")

    def prepare(self, context: EvalContext) -> None:
        self.distance = load_distance(self.backbone_name, device=context.device, **self.backbone_options)

    def layout_pairs(self, k: int) -> list[tuple[int, int]]:
        """The sample pairs scored for every layout of K samples."""
        if k < 2:
            raise ValueError("diversity needs at least 2 samples per layout (--samples-per-layout)")
        if self.pairing == "random-groups":
            return random_group_pairs(k, self.pairs, self.seed)
        return list(itertools.combinations(range(k), 2))

    def update(self, state: State, batch: EvalBatch) -> None:
        k = batch.images.shape[1]
        means = pairs_mean(self.distance, batch.images, self.layout_pairs(k)).cpu()
        state["means"] = torch.cat([state["means"], means])
        counts = torch.full_like(means, k, dtype=torch.int64)
        state["samples_per_layout"] = torch.cat([state["samples_per_layout"], counts])

    def compute(self, state: State) -> dict[str, Any]:
        n = state["means"].numel()
        # math.fsum is exactly rounded: the mean does not depend on the order of the layouts (batches, ranks)
        record = {"value": math.fsum(state["means"].tolist()) / n if n else None,
                  "backbone": self.backbone_name, "pairing": self.pairing, "n_layouts": n}
        if self.pairing == "random-groups":
            record["seed"] = self.seed
            ks = state["samples_per_layout"].unique().tolist()
            if len(ks) == 1:
                record["pairs"] = [list(pair) for pair in self.layout_pairs(ks[0])]
        return record

    def resampled(self, state: State, counts: np.ndarray) -> np.ndarray:
        """The diversity of each resample: the weighted mean of the per-layout means."""
        return weighted_mean(state["means"].numpy(), counts)
