"""semsynth-bench: the reference benchmark suite for semantic image synthesis (label map -> photo).

Public API (stable): ``load_method``, ``load_dataset``, ``load_metric``, ``load_segmenter`` and ``list_*``.
Heavy modules are imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"

__all__ = ["load_method", "load_dataset", "load_metric", "load_segmenter", "list_methods", "list_datasets",
           "list_metrics", "list_segmenters", "__version__"]


def load_method(name: str, dataset: str = "shapes", checkpoint: str | Path | None = None, device: str = "cpu",
                **overrides: Any):
    """A ready-to-sample method; ``checkpoint=None`` takes its file from the weights catalog."""
    from .registry import METHODS, lookup

    method = lookup(METHODS, name)(dataset=dataset, checkpoint=checkpoint, device=device, **overrides)
    if not method.name:   # a plugin need not repeat its registry name
        method.name = name
    return method


def load_dataset(name: str, root: str | Path | None = None, split: str = "val", **options: Any):
    """A dataset split at its benchmark resolution; ``root=None`` means ``$SEMSYNTH_DATA/<name>``."""
    from .registry import DATASETS, lookup

    return lookup(DATASETS, name)(root=root, split=split, **options)


def load_metric(name: str, **options: Any):
    """A metric object with ``new_state``, ``update``, ``merge`` and ``compute``."""
    from .registry import METRICS, lookup

    return lookup(METRICS, name)(**options)


def load_segmenter(name: str, dataset: str | None = None, checkpoint: str | Path | None = None,
                   pretrained: bool = True, device: str = "cpu", backend: str = "native", **options: Any):
    """A segmenter for mIoU; ``pretrained=False`` builds the same network with random weights. ``backend="mmseg"``
    runs the same release through mmsegmentation itself (optional extra ``mmseg``), for cross-checks."""
    from .registry import SEGMENTERS, lookup

    if backend == "mmseg":
        from .evaluators.segmenters.mmseg_backend import MMSegSegmenter

        return MMSegSegmenter(name, dataset=dataset, checkpoint=checkpoint, pretrained=pretrained, device=device,
                              **options)
    if backend != "native":
        from .errors import UserError

        raise UserError(f"unknown segmenter backend '{backend}'; use 'native' or 'mmseg'")
    return lookup(SEGMENTERS, name)(dataset=dataset, checkpoint=checkpoint, pretrained=pretrained, device=device,
                                    **options)


def _names(kind: str) -> list[str]:
    from . import registry

    return registry.names(getattr(registry, kind))


def list_methods() -> list[str]:
    return _names("METHODS")


def list_datasets() -> list[str]:
    return _names("DATASETS")


def list_metrics() -> list[str]:
    return _names("METRICS")


def list_segmenters() -> list[str]:
    return _names("SEGMENTERS")
