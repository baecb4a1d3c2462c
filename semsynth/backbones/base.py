"""Feature backbones behind FID-style metrics and LPIPS-style distances, by name.

A ``FeatureBackbone`` maps uint8 images ``[B, 3, H, W]`` to float64 features ``[B, D]`` (FID, KID, SwAV-FID);
a ``PairDistance`` maps two equally long image batches to per-pair distances ``[B]`` (LPIPS-style diversity).
Each backbone applies its own preprocessing (resizing, normalisation), so metrics stay backbone-agnostic.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch

from ..errors import UserError


class FeatureBackbone(Protocol):
    name: str
    dim: int

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` -> float64 ``[B, D]``."""


class PairDistance(Protocol):
    name: str

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` twice -> float64 ``[B]`` perceptual distances."""


_FEATURES: dict[str, Callable[..., FeatureBackbone]] = {}
_DISTANCES: dict[str, Callable[..., PairDistance]] = {}


def register_features(name: str) -> Callable:
    def decorator(factory: Callable[..., FeatureBackbone]) -> Callable[..., FeatureBackbone]:
        _FEATURES[name] = factory
        return factory
    return decorator


def register_distance(name: str) -> Callable:
    def decorator(factory: Callable[..., PairDistance]) -> Callable[..., PairDistance]:
        _DISTANCES[name] = factory
        return factory
    return decorator


def _build(table: dict[str, Callable], kind: str, name: str, **options: Any):
    from ..registry import load_plugins

    load_plugins()
    if name not in table:
        raise UserError(f"unknown {kind} backbone '{name}'; known: {', '.join(sorted(table))}")
    return table[name](**options)


def load_features(name: str, device: str | torch.device = "cpu", **options: Any) -> FeatureBackbone:
    """A feature backbone (e.g. ``inception-clean``, ``swav-r50``, ``shapes-segnet``)."""
    return _build(_FEATURES, "feature", name, device=device, **options)


def load_distance(name: str, device: str | torch.device = "cpu", **options: Any) -> PairDistance:
    """A pair distance (e.g. ``lpips-alex``, ``shapes-segnet``)."""
    return _build(_DISTANCES, "distance", name, device=device, **options)


def feature_names() -> list[str]:
    return sorted(_FEATURES)


def distance_names() -> list[str]:
    return sorted(_DISTANCES)


def per_image(function: Callable[..., torch.Tensor], *batches: torch.Tensor) -> torch.Tensor:
    """``function`` applied to one image (or one pair of images) at a time, results concatenated along dim 0.

    Convolution and matmul kernels choose their blocking and summation order by batch shape, so a batched pass
    gives features that differ in the last bits with the batch size; one image at a time they do not, which keeps
    every metric bit-identical whatever ``--batch-size``.
    """
    return torch.cat([function(*(batch[i:i + 1] for batch in batches)) for i in range(batches[0].shape[0])])
