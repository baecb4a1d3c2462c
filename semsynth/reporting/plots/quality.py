"""Quality plots of run records: FID against mIoU, diversity against fidelity (with the reference diversity), and
cost against FID; error bars are the records' bootstrap intervals (``metrics_ci``)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable

from ..leaderboard import REFERENCE_METHODS, display_names, seconds_per_image
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
    drawn = 0
    for number, (record, name) in enumerate(zip(records, names)):
        px, py = x(record), y(record)
        if px is None or py is None:
            continue
        reference = record["method"] in REFERENCE_METHODS
        axes.errorbar(px[0], py[0], xerr=[[px[1][0]], [px[1][1]]], yerr=[[py[1][0]], [py[1][1]]],
                      fmt="s" if reference else "o", color="0.4" if reference else f"C{number % 10}", capsize=3,
                      markersize=6)
        # staggered label offsets, so that neighbouring points (references that score alike) stay readable
        axes.annotate(name, (px[0], py[0]), textcoords="offset points", xytext=(6, 6 - 10 * (drawn % 3)),
                      fontsize=8)
        drawn += 1
    return drawn


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
    if _scatter(axes, records, names, miou, fid) >= 2:
        _log_if_wide(axes, "y", records, "fid")
        written.append(save_png(figure, Path(out_dir) / f"{stem}-fid-miou.png"))
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
    if _scatter(axes, records, names, fid, diversity) >= 2:
        _log_if_wide(axes, "x", records, "fid")
        written.append(save_png(figure, Path(out_dir) / f"{stem}-diversity-fidelity.png"))
    else:
        plt.close(figure)

    figure, axes = _figure(f"{stem}: cost against quality", "images per second per process (log scale)",
                           "FID (lower is better; log scale when wide)")
    timed = [(record, name) for record, name in zip(records, names) if seconds_per_image(record)]
    if _scatter(axes, [record for record, _ in timed], [name for _, name in timed], _images_per_second, fid) >= 2:
        axes.set_xscale("log")
        _log_if_wide(axes, "y", records, "fid")
        written.append(save_png(figure, Path(out_dir) / f"{stem}-cost-fid.png"))
    else:
        plt.close(figure)
    return written
