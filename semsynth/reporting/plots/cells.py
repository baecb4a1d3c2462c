"""Published against reproduced values, cell by cell: one panel per metric, the PNG beside a reproduction report."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .png import plt, save_png

MARKERS = "osD^vP*Xh<>"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def published_vs_reproduced(cells: list[dict[str, Any]], path: Path) -> Path:
    """Scatter of published (x) against reproduced (y) per metric; colour is the method, the marker the dataset.
    ``cells``: dicts with table, method, dataset, metric, published, reproduced (numbers, numeric strings or None)
    and optionally track and direction (``lower``/``higher``).
    Cells with ``track`` other than ``paper`` (e.g. ``shapes``) were reproduced on another track: no y = x line is
    drawn, since only the order of the methods can agree. A method with reproduced values but no published one in a
    panel (a reference row such as ``shapes-oracle``) is a dashed horizontal line. Written atomically; returns path."""
    metrics = list(dict.fromkeys(cell["metric"] for cell in cells)) or ["(none)"]
    drawn = [cell for cell in cells if _number(cell.get("reproduced")) is not None]
    methods = list(dict.fromkeys(cell["method"] for cell in drawn))
    datasets = list(dict.fromkeys(cell["dataset"] for cell in drawn if _number(cell.get("published")) is not None))
    colours = {method: plt.get_cmap("tab10")(index % 10) for index, method in enumerate(methods)}
    markers = {dataset: MARKERS[index % len(MARKERS)] for index, dataset in enumerate(datasets)}
    tracks = {cell.get("track", "paper") for cell in cells}
    same_track = tracks <= {"paper"}
    columns = min(2, len(metrics))
    rows = (len(metrics) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.9 * rows), squeeze=False)
    for axis in axes.flat[len(metrics):]:
        axis.set_visible(False)
    for axis, metric in zip(axes.flat, metrics):
        points = [c for c in cells if c["metric"] == metric and _number(c.get("published")) is not None
                  and _number(c.get("reproduced")) is not None]
        plotted = {c["method"] for c in points}
        lines = [c for c in cells if c["metric"] == metric and _number(c.get("published")) is None
                 and _number(c.get("reproduced")) is not None and c["method"] not in plotted]
        lines = list({c["method"]: c for c in lines}.values()) if points else []   # references need a reproduced cell
        for cell in points:
            axis.scatter(_number(cell["published"]), _number(cell["reproduced"]), color=colours[cell["method"]],
                         marker=markers[cell["dataset"]], s=46, edgecolors="black", linewidths=0.4)
        for position, cell in enumerate(lines):
            axis.axhline(_number(cell["reproduced"]), color=colours[cell["method"]], linestyle="--", linewidth=1)
            axis.annotate(cell["method"], (0.02 + 0.3 * position, _number(cell["reproduced"])),
                          xycoords=("axes fraction", "data"),
                          fontsize=7, color=colours[cell["method"]], va="bottom")
        if same_track and points:
            values = [_number(c[k]) for c in points for k in ("published", "reproduced")]
            low, high = min(values), max(values)
            axis.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle=":", label="y = x")
        if not points:
            axis.text(0.5, 0.5, "no cell reproduced", ha="center", va="center", transform=axis.transAxes)
        direction = next((c.get("direction") for c in cells if c["metric"] == metric and c.get("direction")), None)
        axis.set_title(f"{metric}" + (f" ({direction} is better)" if direction else ""), fontsize=10)
        axis.set_xlabel("published")
        axis.set_ylabel("reproduced" if same_track else f"reproduced on {', '.join(sorted(tracks - {'paper'}))}")
        axis.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[m], marker="o", linestyle="", label=m) for m in methods]
    handles += [plt.Line2D([], [], color="black", marker=markers[d], linestyle="", markerfacecolor="none", label=d)
                for d in datasets]
    if handles:
        figure.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    tables = ", ".join(dict.fromkeys(cell["table"] for cell in cells))
    figure.suptitle(f"{tables}: published vs reproduced", fontsize=11)
    return save_png(figure, path, crop=True)
