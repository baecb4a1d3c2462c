"""Quality plots of run records: FID against mIoU, diversity against fidelity (with the reference diversity), and
cost against FID; error bars are the records' bootstrap intervals (``metrics_ci``)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable

from ..leaderboard import REFERENCE_METHODS, display_names, seconds_per_image
from matplotlib.transforms import Bbox

from .png import plt, save_png


def _point(record: dict[str, Any], key: str) -> tuple[float, tuple[float, float]] | None:
    """A metric's value and its error-bar lengths (below, above) from the record's interval (zero without one)."""
    value = (record["metrics"].get(key) or {}).get("value")
    if value is None:
        return None
    interval = (record.get("metrics_ci") or {}).get(key)
    if not interval:
        return value, (0.0, 0.0)
    return value, (max(value - interval["low"], 0.0), max(interval["high"] - value, 0.0))


def _scatter(axes: Any, records: list[dict[str, Any]], names: list[str],
             x: Callable[[dict[str, Any]], tuple[float, tuple[float, float]] | None],
             y: Callable[[dict[str, Any]], tuple[float, tuple[float, float]] | None]) -> int:
    """One point per record with x and y error bars, labelled with its name; returns how many were drawn."""
    labels = []
    for number, (record, name) in enumerate(zip(records, names)):
        px, py = x(record), y(record)
        if px is None or py is None:
            continue
        reference = record["method"] in REFERENCE_METHODS
        colour = "0.4" if reference else f"C{number % 10}"
        axes.errorbar(px[0], py[0], xerr=[[px[1][0]], [px[1][1]]], yerr=[[py[1][0]], [py[1][1]]],
                      fmt="s" if reference else "o", color=colour, capsize=3, markersize=6)
        labels.append((px[0], py[0], name, colour))
    place_labels(axes, labels)
    return len(labels)


# Where a label may sit, in points from its point: right, then left, then further above and below.
LABEL_OFFSETS = ((6, 4), (6, -10), (-6, 4), (-6, -10), (6, 14), (6, -20), (-6, 14), (-6, -20), (6, 24), (6, -30),
                 (-6, 24), (-6, -30), (6, 34), (6, -40), (-6, 34), (-6, -40))


def place_labels(axes: Any, labels: list[tuple[float, float, str, str]]) -> None:
    """Annotate each (x, y, text, colour), in its point's colour, at the first of ``LABEL_OFFSETS`` whose text box
    stays inside the axes and overlaps no point and no label placed before it (when none is free: the one inside the
    axes that covers the least of them): names of close points stay readable, no axis line crosses a name, and a
    name pushed beside another point still says whose it is."""
    figure = axes.figure
    figure.tight_layout()
    figure.canvas.draw()  # final limits, scales and axes position: display boxes no longer move
    renderer = figure.canvas.get_renderer()
    to_display = axes.transData.transform
    taken = [Bbox.from_bounds(*(to_display((x, y)) - 5), 10, 10) for x, y, _, _ in labels]
    frame = axes.get_window_extent(renderer)

    def annotate(x: float, y: float, text: str, colour: str, offset: tuple[int, int]) -> Any:
        return axes.annotate(text, (x, y), textcoords="offset points", xytext=offset, fontsize=8, color=colour,
                             ha="left" if offset[0] > 0 else "right", va="bottom")

    def covered(box: Bbox) -> float:
        overlaps = (Bbox.intersection(box, other) for other in taken)
        return sum(part.width * part.height for part in overlaps if part is not None)

    for x, y, text, colour in labels:
        costs = []
        for offset in LABEL_OFFSETS:
            label = annotate(x, y, text, colour, offset)
            box = label.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            costs.append((not inside, covered(box), offset))
            if costs[-1][:2] == (False, 0):
                break
            label.remove()
        else:
            box = annotate(x, y, text, colour, min(costs)[2]).get_window_extent(renderer)
        taken.append(box)


def _log_if_wide(axes: Any, axis: str, records: list[dict[str, Any]], key: str) -> None:
    """A log scale on ``axis`` when the metric's positive values span more than a factor of 20."""
    values = [value for value in ((record["metrics"].get(key) or {}).get("value") for record in records)
              if value is not None and value > 0]
    if values and max(values) > 20 * min(values):
        (axes.set_xscale if axis == "x" else axes.set_yscale)("log")


def _images_per_second(record: dict[str, Any]) -> tuple[float, tuple[float, float]]:
    return 1 / seconds_per_image(record), (0.0, 0.0)


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    figure, axes = plt.subplots(figsize=(6.4, 4.6))
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    return figure, axes


def quality_plots(records: list[dict[str, Any]], out_dir: Path, stem: str,
                  names: list[str | None] | None = None) -> list[Path]:
    """Write ``<stem>-fid-miou.png``, ``<stem>-diversity-fidelity.png`` and ``<stem>-cost-fid.png`` into
    ``out_dir`` (each only when two or more records have its numbers); returns the written files. ``names`` label
    the points (a report's row names); where absent or None, ``display_names``."""
    names = [given or default for given, default in zip(names or [None] * len(records), display_names(records))]
    written = []
    fid, miou, diversity = (partial(_point, key=key) for key in ("fid", "miou", "lpips"))

    figure, axes = _figure(f"{stem}: FID against mIoU (95% bootstrap intervals; squares: references)",
                           "mIoU (higher is better)", "FID (lower is better; log scale when wide)")
    _log_if_wide(axes, "y", records, "fid")  # scales first: labels are placed in display space
    if _scatter(axes, records, names, miou, fid) >= 2:
        written.append(save_png(figure, Path(out_dir) / f"{stem}-fid-miou.png", crop=True))
    else:
        plt.close(figure)

    figure, axes = _figure(f"{stem}: diversity against fidelity", "FID (lower is better; log scale when wide)",
                           "diversity (should match the reference)")
    references = [(name, diversity(record)[0]) for record, name in zip(records, names)
                  if record["method"] in REFERENCE_METHODS and diversity(record) is not None]
    for name, value in references:
        axes.axhline(value, color="0.4", linestyle="--", linewidth=1)
        axes.annotate(f"reference: {name}", (0.01, value), xycoords=("axes fraction", "data"),
                      textcoords="offset points", xytext=(0, -11), fontsize=8, color="0.3")
    _log_if_wide(axes, "x", records, "fid")
    if _scatter(axes, records, names, fid, diversity) >= 2:
        written.append(save_png(figure, Path(out_dir) / f"{stem}-diversity-fidelity.png", crop=True))
    else:
        plt.close(figure)

    figure, axes = _figure(f"{stem}: cost against quality", "images per second per process (log scale)",
                           "FID (lower is better; log scale when wide)")
    timed = [(record, name) for record, name in zip(records, names) if seconds_per_image(record)]
    axes.set_xscale("log")
    _log_if_wide(axes, "y", records, "fid")
    if _scatter(axes, [record for record, _ in timed], [name for _, name in timed], _images_per_second, fid) >= 2:
        written.append(save_png(figure, Path(out_dir) / f"{stem}-cost-fid.png", crop=True))
    else:
        plt.close(figure)
    return written
