"""GCDP's own evaluation (paper Table 1): generate (image, layout) pairs jointly and score FID of the images, the
mIoU between each generated layout and the segmenter's prediction on its image, and the Fréchet Segmentation
Distance between the generated layouts and the real ones, with the metrics and options of a protocol
(``gcdp-paper``) as they apply to joint generation (``semsynth.tasks``). This scores a method object in memory;
``bench run --task joint`` does the same through the resumable runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ... import load_metric, protocols, tasks
from ...evaluators.base import EvalBatch, EvalContext
from ...progress import progress
from ...registry import METRICS, lookup


def joint_evaluation(method: Any, protocol: str = "gcdp-paper", n: int | None = None, seed: int = 0,
                     prompts: Sequence[str | None] | None = None, batch_size: int = 16,
                     data_root: str | Path | None = None, cache_dir: str | Path | None = None,
                     quiet: bool = True) -> dict[str, Any]:
    """Scores of ``n`` jointly generated pairs (seeds ``seed .. seed + n - 1``, ``prompts[i]`` or the null text):
    ``{"fid": record, "miou": record, "fsd": record, "n", "protocol", "method"}``. ``n`` defaults to the protocol's
    layout count, else the size of its split. ``method`` needs ``generate_joint(seed, prompt)``."""
    from ... import load_dataset

    entry = protocols.get(protocol).for_dataset(method.dataset)
    if n is None:
        n = entry.n_layouts or len(load_dataset(method.dataset, root=data_root, split=entry.split))
    context = EvalContext(dataset=method.dataset, split=entry.split, data_root=Path(data_root) if data_root else None,
                          device=method.device, batch_size=batch_size, quiet=quiet,
                          cache_dir=Path(cache_dir) if cache_dir else None, options={"protocol": protocol})
    metrics = {}
    for key in ("fid", "miou", "fsd"):
        spec = entry.metrics[key]
        metrics[key] = load_metric(spec.metric, **tasks.task_options(tasks.JOINT, lookup(METRICS, spec.metric),
                                                                     spec.options))
        metrics[key].prepare(context)
    states = {key: metric.new_state() for key, metric in metrics.items()}
    for start in progress(range(0, n, batch_size), desc=f"gcdp joint {method.dataset}", quiet=quiet):
        indices = range(start, min(start + batch_size, n))
        images, layouts = tasks.generate_pairs(method, [seed + i for i in indices],
                                               None if prompts is None else [prompts[i] for i in indices])
        batch = EvalBatch(images=images[:, None], labels=layouts, key=start)
        for key, metric in metrics.items():
            metric.update(states[key], batch)
    return {**{key: metric.compute(states[key]) for key, metric in metrics.items()}, "n": n, "protocol": protocol,
            "method": method.describe()}
