"""FID from streamed statistics: float64 feature sums and sums of outer products, mergeable by addition.

The state holds the scored images' features, one row each, in plan order (each image's features computed alone;
rows gathered from torchrun ranks in plan order); ``compute`` accumulates the statistics row by row in that order,
so the value is bit-identical whatever the batch size or the number of processes.

``frechet_distance`` uses symmetric eigendecompositions instead of ``scipy.linalg.sqrtm`` (whose results changed
across SciPy versions): tr sqrt(S1 S2) = sum of sqrt(eig(S1^1/2 S2 S1^1/2)), exact for singular covariances too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..backbones.base import FeatureBackbone, load_features, per_image
from ..errors import UserError
from ..registry import METRICS
from .base import EvalBatch, EvalContext, FeatureCache, Metric, State
from .bootstrap import rows_per_layout
from .reference import (PRE_RESIZE_METHODS, computed_once, pre_resize, reference_cache, reference_features,
                        scikit_image_transform)


def new_stats(dim: int) -> State:
    """Empty streaming statistics: count, feature sum and sum of outer products (float64)."""
    return {"n": torch.zeros((), dtype=torch.float64), "sum": torch.zeros(dim, dtype=torch.float64),
            "outer": torch.zeros(dim, dim, dtype=torch.float64)}


def update_stats(stats: State, features: torch.Tensor) -> None:
    """Add features ``[B, D]`` to the statistics one row at a time, so the sums do not depend on how the rows
    are batched."""
    features = features.detach().to("cpu", torch.float64)
    for row in features:
        stats["sum"] += row
        stats["outer"].addr_(row, row)
    stats["n"] += features.shape[0]


def mean_cov(stats: State) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (as numpy.cov) of the streamed features."""
    n = stats["n"].item()
    if n < 2:
        raise UserError(f"FID needs at least 2 images, got {int(n)}; raise --limit or --samples-per-layout")
    mu = stats["sum"] / n
    cov = (stats["outer"] - n * torch.outer(mu, mu)) / (n - 1)
    return mu.numpy(), cov.numpy()


def psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a (symmetrised) covariance matrix, negative eigenvalues clipped to 0."""
    values, vectors = np.linalg.eigh(sigma)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     root1: np.ndarray | None = None) -> float:
    """Fréchet distance between two Gaussians, in float64, without a general matrix square root (``root1``:
    ``psd_sqrt(sigma1)`` when already known)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    sigma1 = (sigma1 + sigma1.T) / 2
    sigma2 = (sigma2 + sigma2.T) / 2
    root1 = psd_sqrt(sigma1) if root1 is None else root1
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def stats_distance(a: State, b: State) -> float:
    return frechet_distance(*mean_cov(a), *mean_cov(b))


@METRICS.register_module(name="fid")
class FID(Metric):
    """Fréchet distance between generated and real feature statistics.

    ``backbone`` names a feature backbone; ``samples`` is "first" (one sample per layout, as the papers count)
    or "all"; the reference is ``reference_split`` of the dataset (its first ``reference_limit`` images);
    ``pre_resize`` (H, W) resizes generated and real images alike before the backbone (per-paper protocols), with
    ``pre_resize_method`` "bilinear" (antialiased) or "skimage" (SDM's scikit-image resize, the extra ``paper``).
    """

    name = "fid"
    joint_options = {}     # images only: the same with generated layouts
    bootstrap_resamples = 200       # each resample costs one D x D eigendecomposition (D = 2048 for Inception)
    bootstrap_interval = "normal"   # duplicates bias resampled FIDs upwards: percentiles can miss the estimate
    infinity_points = 15            # FID-infinity: subset sizes from 10% of the layouts to all (Chong & Forsyth)
    infinity_draws = 5              # random subsets averaged at each size (one nested draw is noisy at small N)
    default_backbone = "inception-clean"
    default_mode: str | None = "clean"

    def __init__(self, backbone: str | None = None, samples: str = "first", reference_split: str = "val",
                 reference_limit: int | None = None, mode: str | None = None,
                 pre_resize: tuple[int, int] | list[int] | None = None, pre_resize_method: str = "bilinear",
                 **backbone_options: Any) -> None:
        if pre_resize_method not in PRE_RESIZE_METHODS:
            raise UserError(f"unknown pre_resize_method '{pre_resize_method}'; choose one of "
                            f"{', '.join(PRE_RESIZE_METHODS)}")
        if pre_resize_method == "skimage":
            scikit_image_transform()
        self.backbone_name = backbone or self.default_backbone
        self.samples = samples
        self.reference_split = reference_split
        self.reference_limit = reference_limit
        self.mode = mode if mode is not None or backbone is not None else self.default_mode
        self.pre_resize = tuple(pre_resize) if pre_resize is not None else None
        self.pre_resize_method = pre_resize_method
        self.backbone_options = backbone_options
        self.backbone: FeatureBackbone | None = None
        self.reference: State | None = None
        self.feature_cache = FeatureCache()
        self.declare_states(0)

    def declare_states(self, dim: int) -> None:
        """The state: the ``dim``-d features of every scored image, one row each, in plan order (the backbone's
        dimension is known in ``prepare``)."""
        self.add_state("features", torch.zeros(0, dim, dtype=torch.float64), reduce="cat")

    def identity(self) -> dict[str, Any]:
        """What the reference statistics depend on besides the dataset split."""
        return {"backbone": self.backbone_name, "mode": self.mode, "options": self.backbone_options}

    def prepare(self, context: EvalContext) -> None:
        self.backbone = load_features(self.backbone_name, device=context.device, **self.backbone_options)
        self.declare_states(self.backbone.dim)
        self.feature_cache = context.features
        self.reference_split = context.options.get("reference_split", self.reference_split)
        self.load_reference(context)

    def reference_file(self, context: EvalContext, kind: str) -> tuple[Path, str]:
        """The cache file of this metric's reference ``kind`` and its key."""
        return reference_cache(self.backbone, context, kind, self.reference_split, self.reference_limit,
                               {**self.identity(), "pre_resize": self.pre_resize,
                                **({"pre_resize_method": "skimage"} if self.pre_resize_method == "skimage" else {})})

    def reference_rows(self, context: EvalContext) -> Iterator[torch.Tensor]:
        """The real images' features, batch by batch."""
        return reference_features(self.backbone, context, self.reference_split, self.reference_limit,
                                  self.pre_resize, self.pre_resize_method)

    def load_reference(self, context: EvalContext) -> None:
        """The real images' statistics (computed once, cached)."""
        def compute() -> State:
            stats = new_stats(self.backbone.dim)
            for features in self.reference_rows(context):
                update_stats(stats, features)
            return stats

        self.reference = computed_once(*self.reference_file(context, "stats"), compute)

    def samples_of(self, batch: EvalBatch) -> torch.Tensor:
        """The generated images this metric scores (first sample per layout, or all), pre-resized."""
        images = batch.first_samples() if self.samples == "first" else batch.images.flatten(0, 1)
        return pre_resize(images, self.pre_resize, self.pre_resize_method)

    def features(self, batch: EvalBatch) -> torch.Tensor:
        """float64 features ``[N, D]`` of the images this metric scores, from the context's feature cache, so
        metrics on the same backbone and images share one pass."""
        key = ("features", self.backbone_name, json.dumps(self.backbone_options, sort_keys=True, default=str),
               self.samples, self.pre_resize, self.pre_resize_method)
        return self.feature_cache.get(batch, key, lambda: per_image(self.backbone.features, self.samples_of(batch))
                                      .to("cpu", torch.float64))

    def update(self, state: State, batch: EvalBatch) -> None:
        state["features"] = torch.cat([state["features"], self.features(batch)])

    def record(self, n_fake: int, n_real: int) -> dict[str, Any]:
        """The fields that say how the value was computed."""
        return {"backbone": self.backbone_name, "mode": self.mode, "n_fake": n_fake, "n_real": n_real,
                "reference": self.reference_split, "pre_resize": list(self.pre_resize) if self.pre_resize else None,
                **({"pre_resize_method": self.pre_resize_method} if self.pre_resize else {})}

    def compute(self, state: State) -> dict[str, Any]:
        stats = new_stats(state["features"].shape[1])
        update_stats(stats, state["features"])
        return {"value": stats_distance(stats, self.reference),
                **self.record(int(stats["n"].item()), int(self.reference["n"].item()))}

    def weighted_distances(self, state: State, counts: np.ndarray) -> np.ndarray:
        """float64 ``[len(counts)]``: the FID of each multiset of layouts that a row of ``counts``
        (``[*, n_layouts]``, how often each layout is taken) describes. With A = sqrt(S_ref) and the features mapped
        once, y = A x, tr sqrt(S_ref^1/2 S S_ref^1/2) is the trace root of the weighted covariance of the y: one
        D x D product and one symmetric eigenvalue problem per multiset. Computed on one thread, so that it does not
        depend on how many threads the process has."""
        features = state["features"]
        k = rows_per_layout(features.shape[0], counts.shape[1])
        weights = torch.from_numpy(np.repeat(counts, k, axis=1)).to(torch.float64)
        mu_ref, sigma_ref = (torch.from_numpy(part) for part in mean_cov(self.reference))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            sigma_ref = (sigma_ref + sigma_ref.T) / 2
            values, vectors = torch.linalg.eigh(sigma_ref)
            mapped = features @ ((vectors * values.clamp(min=0).sqrt()) @ vectors.T)
            squares = (features * features).sum(1)
            distances = []
            for weight in weights:
                n = weight.sum()
                if n < 2:
                    raise UserError(f"FID needs at least 2 images, got {int(n)}; raise --limit")
                mean, mean_mapped = weight @ features / n, weight @ mapped / n
                middle = (mapped.T @ (weight[:, None] * mapped) - n * torch.outer(mean_mapped, mean_mapped)) / (n - 1)
                trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
                trace = (weight @ squares - n * mean @ mean) / (n - 1)
                diff = mean - mu_ref
                distances.append(float(diff @ diff + sigma_ref.trace() + trace - 2 * trace_sqrt))
        finally:
            torch.set_num_threads(threads)
        return np.array(distances, np.float64)

    def resampled(self, state: State, counts: np.ndarray) -> np.ndarray | None:
        return self.weighted_distances(state, counts)

    def infinity(self, state: State, n_layouts: int, seed: int = 0) -> dict[str, Any] | None:
        """FID-infinity (Chong & Forsyth 2020): FID on subsets of N layouts (N evenly spaced from 10% of the layouts
        to all; at each N the mean over ``infinity_draws`` seeded permutations, taking the first N layouts of each),
        a least-squares line in 1/N, its value at 1/N = 0. None when there are too few layouts for three sizes."""
        smallest = max(2, math.ceil(n_layouts / 10))
        ns = sorted({int(n) for n in np.linspace(smallest, n_layouts, self.infinity_points).round()})
        if len(ns) < 3:
            return None
        rng = np.random.RandomState(seed)
        orders = [rng.permutation(n_layouts) for _ in range(self.infinity_draws)]
        counts = np.zeros((len(orders) * len(ns), n_layouts), np.int64)
        for row, (order, n) in enumerate((order, n) for order in orders for n in ns):
            counts[row, order[:n]] = 1
        fids = self.weighted_distances(state, counts).reshape(len(orders), len(ns)).mean(0)
        slope, intercept = np.polyfit(1.0 / np.array(ns, np.float64), fids, 1)
        return {"value": float(intercept), "slope": float(slope), "ns": ns, "fids": fids.tolist(), "seed": seed,
                "draws": self.infinity_draws,
                "subsets": "the first N layouts of each of `draws` permutations drawn in turn from "
                           "numpy.random.RandomState(seed); fids are the means over the draws",
                "fit": "least squares FID(N) = value + slope / N"}
