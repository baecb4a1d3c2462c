"""Confidence intervals by bootstrap over layouts, computed from the per-layout rows that metric states keep.

A resample draws ``n`` of the run's ``n`` layouts with replacement; it is given to a metric as counts (int64
``[resamples, n]``: how often each layout is drawn), and the metric returns its value on each resample
(``Metric.resampled``). The interval is the percentile interval of those values, or, for a statistic whose
resamples are biased (FID rises when duplicates make the effective sample smaller, so its percentile interval can
miss the estimate), the normal interval value +- z * the bootstrap standard error (``Metric.bootstrap_interval``).
Draws come from
``numpy.random.RandomState(seed)`` (a stream numpy keeps fixed across versions), and the states are the rows in plan
order, so the interval is bit-identical whatever the batch size and the number of processes. No model runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from .base import Metric, State

DRAW_RULE = "counts of numpy.random.RandomState(seed).randint(0, n_layouts, (resamples, n_layouts)) per layout"


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn: ``resamples`` (a metric may ask for fewer with ``Metric.bootstrap_resamples``),
    ``seed`` and the two-sided ``level``."""

    resamples: int = 1000
    seed: int = 0
    level: float = 0.95


def layout_counts(n_layouts: int, resamples: int, seed: int) -> np.ndarray:
    """int64 ``[resamples, n_layouts]``: how often each layout is drawn in each resample (``DRAW_RULE``)."""
    draws = np.random.RandomState(seed).randint(0, n_layouts, (resamples, n_layouts))
    return np.stack([np.bincount(row, minlength=n_layouts) for row in draws]).astype(np.int64)


def normal_interval(estimate: float, values: np.ndarray, level: float) -> tuple[float, float]:
    """``estimate`` +- z_(1+level)/2 times the standard deviation of the bootstrap ``values``."""
    z = NormalDist().inv_cdf((1 + level) / 2)
    spread = z * float(np.asarray(values, np.float64).std(ddof=1))
    return estimate - spread, estimate + spread


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of ``values`` (linear interpolation between order statistics)."""
    tail = (1 - level) / 2
    low, high = np.quantile(np.asarray(values, np.float64), [tail, 1 - tail])
    return float(low), float(high)


def interval(metric: Metric, state: State, n_layouts: int, estimate: float | None,
             config: Bootstrap = Bootstrap()) -> dict[str, Any] | None:
    """The metric's bootstrap interval over layouts around its ``estimate`` (the recorded value), with what was
    drawn (None when the metric keeps no per-layout rows, has no value, or a resample has none)."""
    resamples = min(config.resamples, metric.bootstrap_resamples or config.resamples)
    counts = layout_counts(n_layouts, resamples, config.seed)
    values = metric.resampled(state, counts)
    if values is None or estimate is None or resamples < 2:
        return None
    values = np.asarray(values, np.float64)
    if not np.isfinite(values).all():
        return None
    method = metric.bootstrap_interval
    low, high = (normal_interval(estimate, values, config.level) if method == "normal"
                 else percentile_interval(values, config.level))
    return {"low": low, "high": high, "level": config.level, "method": method, "unit": "layout",
            "resamples": resamples, "seed": config.seed, "n_layouts": n_layouts, "draws": DRAW_RULE,
            "bootstrap_mean": float(values.mean()), "bootstrap_std": float(values.std(ddof=1))}


def intervals(metrics: dict[str, Metric], states: dict[str, State], values: dict[str, dict[str, Any]],
              n_layouts: int, config: Bootstrap = Bootstrap()) -> dict[str, dict[str, Any]]:
    """``interval`` of every metric that keeps per-layout rows, around its recorded value (``values[name]``), by
    metric key (the record's ``metrics_ci``)."""
    found = {name: interval(metric, states[name], n_layouts, values[name].get("value"), config)
             for name, metric in metrics.items()}
    return {name: value for name, value in found.items() if value is not None}


def rows_per_layout(n_rows: int, n_layouts: int) -> int:
    """How many state rows each layout contributed (1, or K for metrics over all samples)."""
    if n_layouts < 1 or n_rows % n_layouts:
        raise ValueError(f"{n_rows} state rows do not split evenly into {n_layouts} layouts")
    return n_rows // n_layouts


def weighted_mean(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """float64 ``[resamples]``: the mean of per-layout ``values`` ``[n]`` under each row of ``counts``
    (numpy's pairwise sum along each row: the same on any number of threads)."""
    values = np.asarray(values, np.float64)
    return (counts * values[None]).sum(1) / counts.sum(1)
