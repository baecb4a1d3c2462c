"""Markdown leaderboards from run records (``result.json``), one file per dataset, rendered with pandas.

The newest record per (method, protocol, checkpoint, settings) is shown. mIoU is also shown relative to the
``real`` row of the same segmenter and protocol (the segmenter's ceiling on real images) when one exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..store import atomic_write_bytes

HEADERS = {
    "shapes": "Numbers on `shapes` are comparable only within the `shapes` track: FID features, the diversity "
              "distance and mIoU all come from the shipped `shapes` evaluator network, not from Inception, "
              "LPIPS-AlexNet or a real-data segmenter. `shapes-oracle` samples the true texture process (what a "
              "perfect generator scores); `palette` is the README's example plugin (flat class colours plus noise), "
              "and with `ignore_layout` it is the layout-ignoring baseline.",
}


def load_records(runs: Path, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every run record (a JSON file with ``"schema": 1``, e.g. ``result.json``) under ``runs``, at any depth,
    optionally of one dataset."""
    records = []
    for path in sorted(Path(runs).rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict) or record.get("schema") != 1:
            continue
        if dataset is None or record.get("dataset") == dataset:
            record["_path"] = str(path)
            records.append(record)
    return records


MAIN_METRICS = ("fid", "lpips", "miou")


def _fmt(value: Any, digits: int = 2) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else f"{value:.{digits}f}"


def segmenter_label(miou: dict[str, Any]) -> str:
    """The segmenter column: its name, plus the backend when it is not the native port (mmseg cross-check runs are
    ranked and normalised against their own ``real`` row)."""
    name = miou.get("segmenter", "")
    return f"{name} ({miou['backend']})" if miou.get("backend") else name


def table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (method, protocol, checkpoint, settings), newest record first chosen."""
    rows = []
    for record in records:
        metrics = record["metrics"]
        fid, lpips, miou = metrics.get("fid", {}), metrics.get("lpips", {}), metrics.get("miou", {})
        rows.append({
            "method": record["method"], "protocol": record["protocol"],
            "checkpoint": (record["checkpoint"].get("sha256") or "")[:12],
            "settings": json.dumps(record["settings"], sort_keys=True),
            "created": record["created"],
            "FID": fid.get("value"), "FID backbone": fid.get("backbone", ""),
            "diversity": lpips.get("value"), "diversity backbone": lpips.get("backbone", ""),
            "mIoU": miou.get("value"), "segmenter": segmenter_label(miou),
            "layouts": record["n_layouts"], "K": record["samples_per_layout"],
            **{key: metric.get("value") for key, metric in metrics.items() if key not in MAIN_METRICS},
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values("created").drop_duplicates(["method", "protocol", "checkpoint", "settings",
                                                          "segmenter"], keep="last")
    ceilings = frame[frame["method"] == "real"].set_index(["protocol", "segmenter"])["mIoU"]
    frame["mIoU / real"] = [
        row.mIoU / ceilings[(row.protocol, row.segmenter)]
        if (row.protocol, row.segmenter) in ceilings.index and row.mIoU is not None else None
        for row in frame.itertuples()]
    return frame.sort_values(["protocol", "method"]).reset_index(drop=True)


def markdown(dataset: str, frame: pd.DataFrame) -> str:
    lines = [f"# Leaderboard: {dataset}", ""]
    if dataset in HEADERS:
        lines += [HEADERS[dataset], ""]
    lines += ["`real` is the reference row (the dataset's own images): its mIoU is the segmenter's ceiling and its "
              "FID the floor (val against train). FID lower is better; diversity and mIoU higher are better.", ""]
    known = {"method", "protocol", "checkpoint", "settings", "created", "FID", "FID backbone", "diversity",
             "diversity backbone", "mIoU", "segmenter", "layouts", "K", "mIoU / real"}
    extra = sorted(column for column in frame.columns if column not in known)
    columns = ["method", "protocol", "FID", "diversity", "mIoU", "mIoU / real", *extra, "FID backbone",
               "diversity backbone", "segmenter", "layouts", "K", "checkpoint", "settings"]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in frame.to_dict("records"):
        cells = []
        for column in columns:
            value = row[column]
            if column in ("FID", "diversity", "mIoU"):
                value = _fmt(value, 4 if column == "diversity" else 2)
            elif column in extra:
                value = _fmt(value, 4) if isinstance(value, float) else ("" if value is None else value)
            elif column == "mIoU / real":
                value = _fmt(value, 3)
            elif column == "settings":
                value = f"`{value}`" if value != "{}" else ""
            cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_leaderboards(runs: Path, out: Path, dataset: str | None = None) -> list[Path]:
    """Write ``out/<dataset>.md`` for each dataset with records (or only ``dataset``)."""
    from ..errors import UserError

    records = load_records(runs, dataset)
    if not records:
        raise UserError(f"no run records{' for ' + dataset if dataset else ''} under {runs}; run `bench run` first "
                        f"or pass --runs DIR")
    written = []
    for name in sorted({record["dataset"] for record in records}):
        path = Path(out) / f"{name}.md"
        atomic_write_bytes(path, markdown(name, table([r for r in records if r["dataset"] == name])).encode())
        written.append(path)
    return written
