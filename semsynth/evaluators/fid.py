"""FID from streamed statistics: float64 feature sums and sums of outer products, mergeable by addition.

``frechet_distance`` uses symmetric eigendecompositions instead of ``scipy.linalg.sqrtm`` (whose results changed
across SciPy versions): tr sqrt(S1 S2) = sum of sqrt(eig(S1^1/2 S2 S1^1/2)), exact for singular covariances too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import torch

from ..registry import METRICS
from ..backbones.base import FeatureBackbone, load_features
from .base import EvalBatch, EvalContext, Metric, State


def new_stats(dim: int) -> State:
    """Empty streaming statistics: count, feature sum and sum of outer products (float64)."""
    return {"n": torch.zeros((), dtype=torch.float64), "sum": torch.zeros(dim, dtype=torch.float64),
            "outer": torch.zeros(dim, dim, dtype=torch.float64)}


def update_stats(stats: State, features: torch.Tensor) -> None:
    features = features.detach().to("cpu", torch.float64)
    stats["n"] += features.shape[0]
    stats["sum"] += features.sum(0)
    stats["outer"] += features.T @ features


def mean_cov(stats: State) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (as numpy.cov) of the streamed features."""
    n = stats["n"].item()
    if n < 2:
        raise ValueError(f"FID needs at least 2 images, got {int(n)}")
    mu = stats["sum"] / n
    cov = (stats["outer"] - n * torch.outer(mu, mu)) / (n - 1)
    return mu.numpy(), cov.numpy()


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between two Gaussians, in float64, without a general matrix square root."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    sigma1 = (sigma1 + sigma1.T) / 2
    sigma2 = (sigma2 + sigma2.T) / 2
    values, vectors = np.linalg.eigh(sigma1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def stats_distance(a: State, b: State) -> float:
    return frechet_distance(*mean_cov(a), *mean_cov(b))


def stream_features(backbone: FeatureBackbone, images: torch.Tensor) -> torch.Tensor:
    """``backbone.features(images)``, reusing the previous result when the same backbone kind sees the same image
    tensor again (FID and KID of one batch share one Inception pass)."""
    global _last_features
    key = (backbone.name, str(getattr(backbone, "file", "")), images.data_ptr(), tuple(images.shape),
           images.stride(), images._version, str(images.device))
    if _last_features is None or _last_features[0] != key:
        _last_features = (key, images, backbone.features(images))   # holding images keeps its memory unshared
    return _last_features[2]


_last_features: tuple | None = None


def pre_resize(images: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Resize uint8 ``[B, 3, H, W]`` to ``size`` (H, W) before the backbone (per-paper protocols), else unchanged."""
    from ..datasets.base import resize_image

    if size is None or tuple(images.shape[-2:]) == tuple(size):
        return images
    return torch.stack([resize_image(image, size, mode="bilinear") for image in images])


def reference_cache(backbone: FeatureBackbone, context: EvalContext, kind: str, split: str, limit: int | None,
                    identity: dict[str, Any]):
    """The cache file of reference ``kind`` ("stats" or "features") keyed by dataset, split, limit, backbone,
    resolution, protocol and the metric's options (``identity``), and the key itself."""
    from ..weights import cache_root

    from ..registry import DATASETS, lookup

    resolution = getattr(lookup(DATASETS, context.dataset), "resolution", None)
    key = json.dumps({**identity, "kind": kind, "dataset": context.dataset, "split": split, "limit": limit,
                      "resolution": resolution, "protocol": context.options.get("protocol")},
                     sort_keys=True, default=str)
    folder = context.cache_dir or cache_root() / "stats"
    name = f"{context.dataset}-{split}-{backbone.name}-{kind}-{hashlib.sha1(key.encode()).hexdigest()[:16]}"
    return folder / f"{name}.safetensors", key


def reference_batches(context: EvalContext, split: str, limit: int | None, size: tuple[int, int] | None):
    """Batches of the real images (uint8 ``[B, 3, H, W]``) of the first ``limit`` examples of ``split``."""
    from .. import load_dataset
    from ..progress import progress

    dataset = load_dataset(context.dataset, root=context.data_root, split=split)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for start in progress(range(0, count, context.batch_size), desc=f"reference {context.dataset}/{split}",
                          quiet=context.quiet):
        images = torch.stack([dataset[i].image for i in range(start, min(start + context.batch_size, count))])
        yield pre_resize(images, size).to(context.device)


def reference_stats(backbone: FeatureBackbone, context: EvalContext, split: str, limit: int | None,
                    identity: dict[str, Any], size: tuple[int, int] | None = None) -> State:
    """Statistics of the real images of ``split`` (first ``limit``), cached under the cache folder by identity.

    The cache key covers the dataset, split, limit, data root, the backbone and its weights (``backbone.identity``,
    e.g. the sha256 of its file), so a changed file or folder never reuses stale statistics.
    """
    from ..store import load_tensors, save_tensors_atomic

    cache, key = reference_cache(backbone, context, "stats", split, limit, {**identity, "pre_resize": size})
    if cache.is_file():
        return load_tensors(cache)
    stats = new_stats(backbone.dim)
    for images in reference_batches(context, split, limit, size):
        update_stats(stats, backbone.features(images))
    save_tensors_atomic(cache, stats, metadata={"identity": key})
    return stats


def reference_features(backbone: FeatureBackbone, context: EvalContext, split: str, limit: int | None,
                       identity: dict[str, Any], size: tuple[int, int] | None = None) -> torch.Tensor:
    """float64 ``[N, D]`` features of the real images of ``split`` (KID needs them all), cached like the stats."""
    from ..store import load_tensors, save_tensors_atomic

    cache, key = reference_cache(backbone, context, "features", split, limit, {**identity, "pre_resize": size})
    if cache.is_file():
        return load_tensors(cache)["features"]
    features = torch.cat([backbone.features(images).double() for images in reference_batches(context, split, limit,
                                                                                               size)])
    save_tensors_atomic(cache, {"features": features}, metadata={"identity": key})
    return features


@METRICS.register_module(name="fid")
class FID(Metric):
    """Fréchet distance between generated and real feature statistics.

    ``backbone`` names a feature backbone; ``samples`` is "first" (one sample per layout, as the papers count)
    or "all"; the reference is ``reference_split`` of the dataset (its first ``reference_limit`` images);
    ``pre_resize`` (H, W) resizes generated and real images alike before the backbone (per-paper protocols).
    """

    name = "fid"
    default_backbone = "inception-clean"
    default_mode: str | None = "clean"

    def __init__(self, backbone: str | None = None, samples: str = "first", reference_split: str = "val",
                 reference_limit: int | None = None, mode: str | None = None,
                 pre_resize: tuple[int, int] | list[int] | None = None, **backbone_options: Any) -> None:
        self.backbone_name = backbone or self.default_backbone
        self.samples = samples
        self.reference_split = reference_split
        self.reference_limit = reference_limit
        self.mode = mode if mode is not None or backbone is not None else self.default_mode
        self.pre_resize = tuple(pre_resize) if pre_resize is not None else None
        self.backbone_options = backbone_options
        self.backbone: FeatureBackbone | None = None
        self.reference: State | None = None

    def identity(self) -> dict[str, Any]:
        """What the reference statistics depend on besides the dataset split."""
        return {"backbone": self.backbone_name, "mode": self.mode, "options": self.backbone_options}

    def prepare(self, context: EvalContext) -> None:
        self.backbone = load_features(self.backbone_name, device=context.device, **self.backbone_options)
        self.reference_split = context.options.get("reference_split", self.reference_split)
        self.load_reference(context)

    def load_reference(self, context: EvalContext) -> None:
        """The real images' statistics (cached)."""
        self.reference = reference_stats(self.backbone, context, self.reference_split, self.reference_limit,
                                         self.identity(), self.pre_resize)

    def samples_of(self, batch: EvalBatch) -> torch.Tensor:
        """The generated images this metric scores (first sample per layout, or all), pre-resized."""
        images = batch.first_samples() if self.samples == "first" else batch.images.flatten(0, 1)
        return pre_resize(images, self.pre_resize)

    def new_state(self) -> State:
        return new_stats(self.backbone.dim if self.backbone is not None else 0)

    def update(self, state: State, batch: EvalBatch) -> None:
        update_stats(state, stream_features(self.backbone, self.samples_of(batch)))

    def record(self, n_fake: int, n_real: int) -> dict[str, Any]:
        """The fields that say how the value was computed."""
        return {"backbone": self.backbone_name, "mode": self.mode, "n_fake": n_fake, "n_real": n_real,
                "reference": self.reference_split, "pre_resize": list(self.pre_resize) if self.pre_resize else None}

    def compute(self, state: State) -> dict[str, Any]:
        return {"value": stats_distance(state, self.reference),
                **self.record(int(state["n"].item()), int(self.reference["n"].item()))}


@METRICS.register_module(name="swav_fid")
class SwAVFID(FID):
    """SwAV-FID (Morozov et al.): the Fréchet distance on SwAV ResNet-50 features (backbone ``swav-r50``)."""

    name = "swav_fid"
    default_backbone = "swav-r50"
    default_mode = "swav-morozov"


@METRICS.register_module(name="clip_fid")
class CLIPFID(FID):
    """FID-C (PITI): the Fréchet distance on CLIP ViT-B/32 image embeddings (backbone ``clip-vit-b32``)."""

    name = "clip_fid"
    default_backbone = "clip-vit-b32"
    default_mode = "clean-fid-clip"
