"""Reference data of FID-style metrics: statistics or features of a dataset's real images, computed once.

Rank 0 computes them and writes them to the cache folder (keyed by everything they depend on); the other ranks wait
at a barrier and read the file, so every rank uses the same bits and torchrun never computes them twice. The cache
folder must be shared by the ranks (the suite's cache, or ``EvalContext.cache_dir``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from .. import distributed
from ..errors import UserError
from ..backbones.base import FeatureBackbone, per_image
from .base import EvalContext, State

# Bumped when the way reference data is computed changes, so that no stale cache file is reused.
# 2: features one image at a time, statistics accumulated image by image (batch-size independent).
COMPUTATION = 2


PRE_RESIZE_METHODS = ("bilinear", "skimage")


def pre_resize(images: torch.Tensor, size: tuple[int, int] | None, method: str = "bilinear") -> torch.Tensor:
    """Resize uint8 ``[B, 3, H, W]`` to ``size`` (H, W) before the backbone (per-paper protocols), else unchanged:
    ``bilinear`` is antialiased bilinear rounded back to uint8, ``skimage`` is SDM's scikit-image resize (float32
    in [0, 255], not rounded; ``skimage_resize``)."""
    from ..datasets.base import resize_image

    if size is None:
        return images
    if method == "skimage":
        return skimage_resize(images, size)
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return torch.stack([resize_image(image, size, mode="bilinear") for image in images])


def scikit_image_transform():
    """``skimage.transform``, or a ``UserError`` naming the optional extra that installs it."""
    try:
        from skimage import transform
    except ImportError:
        raise UserError("this protocol resizes images with scikit-image as SDM's evaluation did, and scikit-image "
                        "is not installed; pip install semsynth-bench[paper]") from None
    return transform


def skimage_resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """float32 ``[B, 3, H, W]`` in [0, 255]: each uint8 image resized as SDM's ``evaluations/fid_folder/
    tests_with_FID.py`` did, ``skimage.transform.resize(image.astype(float32), (H, W, 3))`` with scikit-image's
    defaults (bilinear, reflect padding, Gaussian anti-aliasing when shrinking, output clipped to the input range),
    not rounded back to uint8 (SDM fed the floats, divided by 255, to Inception). Non-square images are squashed."""
    transform = scikit_image_transform()
    resized = [transform.resize(image.permute(1, 2, 0).numpy().astype(np.float32), (*size, 3))
               for image in images.cpu()]
    return torch.from_numpy(np.stack(resized).astype(np.float32)).permute(0, 3, 1, 2).contiguous()


def reference_cache(backbone: FeatureBackbone, context: EvalContext, kind: str, split: str, limit: int | None,
                    identity: dict[str, Any]) -> tuple[Path, str]:
    """The cache file of reference ``kind`` ("stats" or "features") keyed by dataset, split, limit, backbone,
    resolution, protocol and the metric's options (``identity``), and the key itself."""
    from ..registry import DATASETS, lookup
    from ..weights import cache_root

    resolution = getattr(lookup(DATASETS, context.dataset), "resolution", None)
    key = json.dumps({**identity, "kind": kind, "dataset": context.dataset, "split": split, "limit": limit,
                      "resolution": resolution, "protocol": context.options.get("protocol"),
                      "computation": COMPUTATION}, sort_keys=True, default=str)
    folder = context.cache_dir or cache_root() / "stats"
    name = f"{context.dataset}-{split}-{backbone.name}-{kind}-{hashlib.sha1(key.encode()).hexdigest()[:16]}"
    return folder / f"{name}.safetensors", key


def reference_features(backbone: FeatureBackbone, context: EvalContext, split: str, limit: int | None,
                       size: tuple[int, int] | None, method: str = "bilinear") -> Iterator[torch.Tensor]:
    """float64 features ``[B, D]`` of the real images of the first ``limit`` examples of ``split``, batch by batch,
    each image through the backbone alone."""
    from .. import load_dataset
    from ..progress import progress

    dataset = load_dataset(context.dataset, root=context.data_root, split=split)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for start in progress(range(0, count, context.batch_size), desc=f"reference {context.dataset}/{split}",
                          quiet=context.quiet):
        images = torch.stack([dataset[i].image for i in range(start, min(start + context.batch_size, count))])
        yield per_image(backbone.features, pre_resize(images, size, method).to(context.device)).to("cpu",
                                                                                                  torch.float64)


def computed_once(cache: Path, key: str, compute: Callable[[], State]) -> State:
    """The tensors in ``cache``; when it is missing, rank 0 computes and writes them while the others wait."""
    from ..store import load_tensors, save_tensors_atomic

    if distributed.is_main() and not cache.is_file():
        save_tensors_atomic(cache, compute(), metadata={"identity": key})
    distributed.barrier()
    return load_tensors(cache)
