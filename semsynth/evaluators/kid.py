"""KID (Bińkowski et al. 2018) as clean-fid computes it, but seeded: the unbiased MMD^2 with the cubic polynomial
kernel k(x, y) = (x.y / d + 1)^3, averaged over ``subsets`` random subsets of ``min(n_fake, n_real, subset_size)``
features of each set. clean-fid draws the subsets from numpy's global generator; here a ``RandomState(seed)``
draws them in the same order, so with ``np.random.seed(seed)`` clean-fid returns the same number.

Unlike FID's co-moments, KID needs every feature: the state declares them as rows (float64 ``[N, D]``, "cat"),
so merging two states concatenates them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..registry import METRICS
from .base import EvalContext, State
from .fid import FID
from .reference import computed_once


def kernel_distance(real: np.ndarray, fake: np.ndarray, seed: int = 0, subsets: int = 100,
                    subset_size: int = 1000) -> float:
    """Seeded KID between feature sets ``real`` ``[N, D]`` and ``fake`` ``[M, D]`` (float64)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    d = real.shape[1]
    m = min(real.shape[0], fake.shape[0], subset_size)
    if m < 2:
        raise UserError(f"KID needs at least 2 images in each set, got {fake.shape[0]} and {real.shape[0]}; "
                        f"raise --limit or --samples-per-layout")
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(subsets):
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        within = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        across = (x @ y.T / d + 1) ** 3
        total += (within.sum() - np.diag(within).sum()) / (m - 1) - across.sum() * 2 / m
    return float(total / subsets / m)


@METRICS.register_module(name="kid")
class KID(FID):
    """Seeded KID on the same backbones and reference splits as ``fid``; ``seed``, ``subsets`` and
    ``subset_size`` are recorded with the value."""

    name = "kid"

    def __init__(self, *args: Any, seed: int = 0, subsets: int = 100, subset_size: int = 1000,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed, self.subsets, self.subset_size = seed, subsets, subset_size
        self.reference_feats: torch.Tensor | None = None

    def load_reference(self, context: EvalContext) -> None:
        """The real images' features (computed once, cached): KID needs all of them."""
        def compute() -> State:
            return {"features": torch.cat(list(self.reference_rows(context)))}

        self.reference_feats = computed_once(*self.reference_file(context, "features"), compute)["features"]

    def compute(self, state: State) -> dict[str, Any]:
        value = kernel_distance(self.reference_feats.numpy(), state["features"].numpy(), self.seed, self.subsets,
                                self.subset_size)
        return {"value": value, **self.record(state["features"].shape[0], self.reference_feats.shape[0]),
                "seed": self.seed, "subsets": self.subsets, "subset_size": self.subset_size}

    def resampled(self, state: State, counts: np.ndarray) -> None:
        """No bootstrap interval: KID draws its own subsets."""
        return None

    def infinity(self, state: State, n_layouts: int, seed: int = 0) -> None:
        """No extrapolation: KID is unbiased in the number of images."""
        return None
