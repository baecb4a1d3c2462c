"""A setting sweep of a reproduction report: each metric against one method setting (``x``), one line per value of
another (``series``), e.g. FID and mIoU against the guidance strength for plain and normalised guidance."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .png import plt, save_png


def sweep_plot(points: list[dict[str, Any]], x_name: str, series_name: str, title: str, path: Path) -> Path:
    """One panel per metric: ``value`` against ``x``, a line per ``series``. ``points``: dicts with metric,
    direction (``lower``/``higher``), x, series and value. Written atomically; returns ``path``."""
    metrics = list(dict.fromkeys(point["metric"] for point in points))
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), squeeze=False)
    for axis, metric in zip(axes.flat, metrics):
        mine = [point for point in points if point["metric"] == metric]
        for number, series in enumerate(dict.fromkeys(point["series"] for point in mine)):
            line = sorted((point["x"], point["value"]) for point in mine if point["series"] == series)
            axis.plot([x for x, _ in line], [y for _, y in line], marker="o", color=f"C{number}",
                      label=f"{series_name}={series}")
        direction = next((point.get("direction") for point in mine if point.get("direction")), None)
        axis.set_title(metric + (f" ({direction} is better)" if direction else ""), fontsize=10)
        axis.set_xlabel(x_name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=11)
    return save_png(figure, path, crop=True)
