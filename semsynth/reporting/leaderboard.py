"""Markdown leaderboards from run records (``result.json``), one file per dataset, with plots beside them.

One row per run configuration (the newest record of each method, settings, checkpoint, protocol and segmenter),
named for people (``palette (ignore_layout)``; the settings go to a footnote). Rows are ranked within each protocol
by the protocol's primary metric; reference rows (``real``, ``shapes-oracle``) are shown, not ranked. Each number
carries its bootstrap interval over layouts where the record has one (``metrics_ci``), FID its FID-infinity
(``fid_infinity``), and the cost column says what one image cost to generate and on which device. On real datasets
the papers' published numbers follow, each tagged with the protocol its paper states.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UserError
from ..store import atomic_write_bytes
from ..tasks import LAYOUT_TO_IMAGE

HEADERS = {
    "shapes": "Numbers on `shapes` are comparable only within the `shapes` track: FID features, the diversity "
              "distance and mIoU all come from the shipped `shapes` evaluator network, not from Inception, "
              "LPIPS-AlexNet or a real-data segmenter. `shapes-oracle` samples the true texture process (what a "
              "perfect generator scores); `palette` is the README's example plugin (flat class colours plus noise), "
              "and with `ignore_layout` it is the layout-ignoring baseline.",
}
REFERENCE_METHODS = ("real", "shapes-oracle")       # reference rows: shown with the ranked methods, never ranked
LOWER_IS_BETTER = ("fid", "kid", "swav_fid", "clip_fid")
MIN_FID_IMAGES = 1000          # below this FID's 1/N bias dominates differences between good methods
COMMAND = "bench leaderboard --runs {runs} --out {out}"
SOURCE_MARK = "<!-- records: {} -->"
NOTE = "NOTE.md"               # <runs>/<dataset>/NOTE.md: what the board's header says about how its records were made
MAIN_METRICS = ("fid", "lpips", "miou")
COLUMNS = {"fid": "FID", "miou": "mIoU", "lpips": "diversity"}     # record key -> board column
# published tables shown on real-dataset boards: the papers' main comparisons
PUBLISHED_TABLES = ("sdm-table1", "sdm-table3", "inade-table1", "inade-table2", "piti-table1", "dpsims-table1",
                    "dpsims-table2", "dpsims-table-s7", "gcdp-table1")
PUBLISHED_DATASETS = {"ade20k": ("ADE20K", "ADE-20K"), "cityscapes": ("Cityscapes",),
                      "cocostuff": ("COCO-Stuff",), "celebamask": ("CelebAMask-HQ",)}


def load_records(runs: Path, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every layout -> image run record (a JSON file with ``"schema": 1``, e.g. ``result.json``) under ``runs``, at
    any depth, optionally of one dataset (``bench run --task joint`` records are left out)."""
    records = []
    for path in sorted(Path(runs).rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(record, dict) or record.get("schema") != 1:
            continue
        if record.get("task", LAYOUT_TO_IMAGE) != LAYOUT_TO_IMAGE:     # joint generation scores other things
            continue
        if dataset is None or record.get("dataset") == dataset:
            record["_path"] = str(path)
            records.append(record)
    return records


def _fmt(value: Any, digits: int = 2) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else f"{value:.{digits}f}"


def segmenter_label(miou: dict[str, Any]) -> str:
    """The segmenter column: its name, plus the backend when it is not the native port (mmseg cross-check runs are
    ranked and normalised against their own ``real`` row)."""
    name = miou.get("segmenter", "")
    return f"{name} ({miou['backend']})" if miou.get("backend") else name


def _setting_text(key: str, value: Any) -> str:
    return key if value is True else f"{key}={json.dumps(value)}"


def display_names(records: list[dict[str, Any]]) -> list[str]:
    """A name per record: the method, plus in parentheses what tells it apart from the other records of the same
    method (the settings whose values differ among them, a boolean shown by its name when true; else the checkpoint
    hash, then the protocol)."""
    names = []
    for record in records:
        same = [other for other in records if other["method"] == record["method"]]
        settings = record.get("settings") or {}
        varying = sorted(key for key in {k for other in same for k in (other.get("settings") or {})}
                         if len({json.dumps((other.get("settings") or {}).get(key)) for other in same}) > 1)
        parts = [_setting_text(key, settings.get(key)) for key in varying
                 if settings.get(key) not in (False, None)]
        checkpoints = {_checkpoint(other) for other in same}
        if len(checkpoints) > 1 and _checkpoint(record):
            parts.append(f"@{_checkpoint(record)[:8]}")
        names.append(f"{record['method']} ({', '.join(parts)})" if parts else record["method"])
    return names


def _checkpoint(record: dict[str, Any]) -> str:
    return (record.get("checkpoint") or {}).get("sha256") or ""


def seconds_per_image(record: dict[str, Any]) -> float | None:
    """Generation seconds per image on one process (older records: from their images per second)."""
    timing = record.get("timing") or {}
    if timing.get("seconds_per_image"):
        return timing["seconds_per_image"]
    return 1 / timing["images_per_s"] if timing.get("images_per_s") else None


def device_label(record: dict[str, Any]) -> str:
    env = record.get("env") or {}
    name = env.get("device_name")
    return f"{env.get('device', '?')}: {name}" if name else env.get("device", "")


def primary_metric(protocol: str, dataset: str) -> tuple[str, bool]:
    """The protocol's primary metric for ``dataset`` (its first metric) and whether lower is better."""
    from .. import protocols

    try:
        specs = protocols.get(protocol).for_dataset(dataset).metrics
    except UserError:
        return "fid", True
    key = next(iter(specs))
    return key, specs[key].metric in LOWER_IS_BETTER


def table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (method, protocol, checkpoint, settings, segmenter), the newest record chosen."""
    rows = []
    for record in records:
        metrics = record["metrics"]
        fid, lpips, miou = metrics.get("fid", {}), metrics.get("lpips", {}), metrics.get("miou", {})
        intervals, infinity = record.get("metrics_ci") or {}, record.get("fid_infinity") or {}
        rows.append({
            "method": record["method"], "protocol": record["protocol"], "dataset": record.get("dataset", ""),
            "checkpoint": _checkpoint(record)[:12],
            "settings": json.dumps(record["settings"], sort_keys=True),
            "created": record["created"], "record": record,
            "FID": fid.get("value"), "FID CI": intervals.get("fid"), "FID∞": (infinity.get("fid") or {}).get("value"),
            "n_fake": fid.get("n_fake"), "FID backbone": fid.get("backbone", ""),
            "diversity": lpips.get("value"), "diversity CI": intervals.get("lpips"),
            "diversity backbone": lpips.get("backbone", ""),
            "mIoU": miou.get("value"), "mIoU CI": intervals.get("miou"), "segmenter": segmenter_label(miou),
            "layouts": record["n_layouts"], "K": record["samples_per_layout"],
            "s / image": seconds_per_image(record), "device": device_label(record),
            **{key: metric.get("value") for key, metric in metrics.items() if key not in MAIN_METRICS},
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values("created").drop_duplicates(["method", "protocol", "checkpoint", "settings",
                                                          "segmenter"], keep="last")
    frame["name"] = display_names(list(frame["record"]))
    clashes = frame.duplicated(["name", "protocol"], keep=False)     # e.g. the mmseg cross-check of a row
    frame.loc[clashes, "name"] = [f"{row.name} [{row.segmenter}]" for row in frame[clashes].itertuples()]
    ceilings = frame[frame["method"] == "real"].set_index(["protocol", "segmenter"])["mIoU"]
    frame["mIoU / real"] = [
        row.mIoU / ceilings[(row.protocol, row.segmenter)]
        if (row.protocol, row.segmenter) in ceilings.index and row.mIoU is not None else None
        for row in frame.itertuples()]
    frame["diversity / ref"] = [_diversity_ratio(frame, row) for row in frame.itertuples()]
    frame["rank"] = _ranks(frame)
    frame["_order"] = [(row.rank if isinstance(row.rank, int) else 10**6) for row in frame.itertuples()]
    return frame.sort_values(["protocol", "_order", "method"]).drop(columns="_order").reset_index(drop=True)


def reference_diversity(frame: pd.DataFrame, protocol: str) -> tuple[str, float] | None:
    """The diversity a generator should match under ``protocol``: the oracle's (the true process), else the real
    row's when it has one."""
    for method in ("shapes-oracle", "real"):
        rows = frame[(frame["method"] == method) & (frame["protocol"] == protocol) & frame["diversity"].notna()]
        if len(rows):
            return method, float(rows["diversity"].iloc[-1])
    return None


def _diversity_ratio(frame: pd.DataFrame, row: Any) -> float | None:
    reference = reference_diversity(frame, row.protocol)
    if reference is None or row.diversity is None or row.diversity != row.diversity or not reference[1]:
        return None
    return row.diversity / reference[1]


def _ranks(frame: pd.DataFrame) -> list[Any]:
    """Rank 1, 2, ... within each protocol by its primary metric; reference rows and rows without it get none."""
    ranks: dict[int, Any] = {}
    for protocol, group in frame.groupby("protocol"):
        key, lower = primary_metric(protocol, group["dataset"].iloc[0])
        column = COLUMNS.get(key, key)
        ranked = group[~group["method"].isin(REFERENCE_METHODS)]
        if column in ranked:
            ranked = ranked[ranked[column].notna()].sort_values(column, ascending=lower)
            ranks.update({index: position for position, index in enumerate(ranked.index, 1)})
    return [ranks.get(index, "ref" if method in REFERENCE_METHODS else "") for index, method
            in zip(frame.index, frame["method"])]


def _with_ci(value: Any, interval: Any, digits: int) -> str:
    text = _fmt(value, digits)
    if text and isinstance(interval, dict):
        text += f" [{_fmt(interval['low'], digits)}, {_fmt(interval['high'], digits)}]"
    return text


def _fid_warning(row: dict[str, Any], floor: float | None) -> bool:
    """Whether FID rests on too few images to mean much, or lies below the real images' own floor."""
    if row["FID"] is None or row["FID"] != row["FID"] or row["method"] == "real":
        return False
    few = row["n_fake"] is not None and row["n_fake"] < MIN_FID_IMAGES
    return few or (floor is not None and row["FID"] < floor)


def _protocol_section(dataset: str, protocol: str, frame: pd.DataFrame, devices: list[str]) -> list[str]:
    key, lower = primary_metric(protocol, dataset)
    label = COLUMNS.get(key, key)
    lines = [f"## Protocol `{protocol}`: ranked by {label} ({'lower' if lower else 'higher'} is better)", ""]
    floor_rows = frame[(frame["method"] == "real") & frame["FID"].notna()]
    floor = float(floor_rows["FID"].iloc[-1]) if len(floor_rows) else None
    known = {"method", "protocol", "dataset", "checkpoint", "settings", "created", "record", "FID", "FID CI", "FID∞",
             "n_fake", "FID backbone", "diversity", "diversity CI", "diversity backbone", "mIoU", "mIoU CI",
             "segmenter", "layouts", "K", "s / image", "device", "name", "mIoU / real", "diversity / ref", "rank"}
    extra = sorted(column for column in frame.columns if column not in known and frame[column].notna().any())
    reference = reference_diversity(frame, protocol)
    header = ["rank", "method", "FID [95% CI]", "FID∞", "mIoU [95% CI]", "mIoU / real", "diversity [95% CI]",
              f"diversity / {reference[0]}" if reference else "diversity / ref", *extra, "s / image", "layouts × K"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    warned = False
    for row in frame.to_dict("records"):
        fid = _with_ci(row["FID"], row["FID CI"], 2)
        if _fid_warning(row, floor):
            fid, warned = fid + " ⚠", True
        cost = row["s / image"] if row["s / image"] == row["s / image"] else None   # pandas turns None into NaN
        device = f" ({chr(ord('a') + devices.index(row['device']))})" if cost is not None else ""
        cells = [str(row["rank"]), f"`{row['name']}`", fid, _fmt(row["FID∞"], 2),
                 _with_ci(row["mIoU"], row["mIoU CI"], 2), _fmt(row["mIoU / real"], 3),
                 _with_ci(row["diversity"], row["diversity CI"], 3), _fmt(row["diversity / ref"], 2),
                 *[_fmt(row[column], 4) if isinstance(row[column], float) else str(row[column] or "")
                   for column in extra],
                 (f"{cost:.3g}{device}" if cost is not None else ""), f"{row['layouts']} × {row['K']}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if warned:
        lines += [f"⚠ FID from fewer than {MIN_FID_IMAGES:,} images, or below the `real` row's floor: FID is biased "
                  f"upwards by roughly a constant over N, so at this N it mostly measures the sample size and its "
                  f"ranking can flip; compare FID∞ (the extrapolation to infinitely many images) and the intervals.",
                  ""]
    return lines


def _footnotes(frame: pd.DataFrame, devices: list[str], runs: Path) -> list[str]:
    lines = ["### Rows", ""]
    for row in frame.to_dict("records"):
        record = row["record"]
        settings = ", ".join(f"{key}={json.dumps(value)}" for key, value in sorted(record["settings"].items()))
        parts = [f"protocol `{row['protocol']}`", f"settings {settings or 'none'}",
                 f"checkpoint sha256 `{row['checkpoint']}…`" if row["checkpoint"] else "no weights file",
                 f"FID on {row['FID backbone']}" if row["FID backbone"] else "",
                 f"diversity on {row['diversity backbone']}" if row["diversity backbone"] else "",
                 f"segmenter {row['segmenter']}" if row["segmenter"] else "",
                 f"record `{os.path.relpath(record['_path'], runs)}`" if record.get("_path") else "",
                 f"created {row['created']}"]
        lines.append(f"- `{row['name']}`: " + "; ".join(part for part in parts if part) + ".")
    lines += ["", "Cost (s / image): generation seconds per image on one process, measured on:", ""]
    lines += [f"- ({chr(ord('a') + number)}) {device or 'device not recorded'}" for number, device
              in enumerate(devices)]
    return lines + [""]


def _intervals_note(frame: pd.DataFrame) -> list[str]:
    drawn = [interval for column in ("FID CI", "mIoU CI", "diversity CI") for interval in frame[column]
             if isinstance(interval, dict)]
    if not drawn:
        return []
    counts = sorted({f"{interval['resamples']}" for interval in drawn}, key=int)
    seeds = sorted({str(interval["seed"]) for interval in drawn})
    return [f"Intervals: 95% bootstrap over layouts ({' or '.join(counts)} resamples, seed {', '.join(seeds)}; "
            f"percentile intervals for mIoU and diversity; for FID, whose resamples are biased upwards by their "
            f"duplicates, the value ± 1.96 bootstrap standard errors). FID∞: Chong & Forsyth's extrapolation of FID "
            f"on subsets of 10% to 100% of the layouts (linear in 1/N) to infinitely many images. Diversity is "
            f"shown against the reference's (the true process, else real images): more is not better, a generator "
            f"should match it (ignoring the layout raises diversity).", ""]


def published_section(dataset: str) -> list[str]:
    """The papers' printed numbers for ``dataset`` (main comparison tables), one small table per paper table, each
    tagged with the protocol its paper states and the suite's preset that follows it; empty for datasets no paper
    reports (``shapes``)."""
    from . import published
    from .. import protocols

    names = PUBLISHED_DATASETS.get(dataset)
    if not names:
        return []
    tables = published.tables()
    lines = ["## Published numbers (as printed; not comparable across protocols)", "",
             "Each paper measured with its own protocol (segmenter, FID implementation, number of samples): compare "
             "a reproduced row only with a published one of the same protocol. The paper's own methods are bold; a "
             "printed value that looks wrong is kept and its doubt named below.", ""]
    doubts = []
    for table_id in PUBLISHED_TABLES:
        cells = [cell for cell in tables.get(table_id, {}).get("cells", []) if cell["dataset"] in names
                 and cell["value"] != ""]
        if not cells:
            continue
        preset = f"{table_id.split('-')[0]}-paper"
        preset = f"`{preset}`" if preset in protocols.PROTOCOLS else "none in the suite"
        stated = tables[table_id].get("protocol") or {}
        lines += [f"### {table_id} (protocol preset {preset})", "", tables[table_id]["title"], "",
                  "Protocol as stated: " + "; ".join(f"{key}: {value}" for key, value in stated.items() if value)
                  + ".", ""]
        metrics = list(dict.fromkeys(cell["metric"] for cell in cells))
        rows: dict[str, dict[str, str]] = {}
        for cell in cells:
            method = f"**{cell['method']}**" if cell.get("own") else cell["method"]
            value = cell["value"]
            if cell.get("doubt"):
                doubts.append(cell["doubt"])
                value += f" (doubt {len(doubts)})"
            rows.setdefault(method, {})[cell["metric"]] = value
        lines += ["| method | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 1)]
        lines += [f"| {method} | " + " | ".join(values.get(metric, "") for metric in metrics) + " |"
                  for method, values in rows.items()]
        lines.append("")
    lines += [f"{number}. {doubt}" for number, doubt in enumerate(doubts, 1)]
    return lines + ([""] if doubts else [])


def markdown(dataset: str, frame: pd.DataFrame, runs: Path = Path("runs"), out: Path = Path("leaderboards"),
             plots: list[Path] = (), note: str = "") -> str:
    """The board of one dataset: header (and the records' own ``note``), one ranked table per protocol, notes, row
    footnotes, published numbers."""
    source = os.path.relpath(Path(runs).resolve(), Path(out).resolve())
    lines = [f"# Leaderboard: {dataset}", "", SOURCE_MARK.format(source), ""]
    if dataset in HEADERS:
        lines += [HEADERS[dataset], ""]
    if note.strip():
        lines += [note.strip(), ""]
    layouts = sorted(set(frame["layouts"])) if len(frame) else []
    lines += ["`real` is the reference row (the dataset's own images): its mIoU is the segmenter's ceiling and its "
              f"FID the floor (val against train). Rows are measured on {', '.join(map(str, layouts))} layouts. "
              f"Regenerate this file with `{COMMAND.format(runs=runs, out=out)}`.", ""]
    devices = sorted({row["device"] for row in frame.to_dict("records")})
    for protocol, group in frame.groupby("protocol", sort=True):
        lines += _protocol_section(dataset, protocol, group, devices)
    lines += _intervals_note(frame)
    lines += [f"![{path.stem}]({path.name})" for path in plots] + ([""] if plots else [])
    lines += _footnotes(frame, devices, Path(runs))
    lines += published_section(dataset)
    return "\n".join(lines).rstrip("\n") + "\n"


def _check_replace(path: Path, runs: Path, force: bool) -> None:
    """Refuse to replace a board generated from other records (e.g. the committed ``leaderboards/``) without
    ``force``."""
    if force or not path.exists():
        return
    source = os.path.relpath(Path(runs).resolve(), path.parent.resolve())
    existing = path.read_text(errors="replace")
    if SOURCE_MARK.format(source) not in existing:
        raise UserError(f"{path} exists and was not generated from {runs}; pass --out DIR to write elsewhere or "
                        f"--force to replace it")


def write_leaderboards(runs: Path, out: Path, dataset: str | None = None, force: bool = False) -> list[Path]:
    """Write ``out/<dataset>.md`` and its plots for each dataset with records (or only ``dataset``), with the note
    ``runs/<dataset>/NOTE.md`` when there is one; a board made from other records is replaced only with ``force``."""
    from .plots.quality import quality_plots

    records = load_records(runs, dataset)
    if not records:
        raise UserError(f"no run records{' for ' + dataset if dataset else ''} under {runs}; run `bench run` first "
                        f"or pass --runs DIR")
    names = sorted({record["dataset"] for record in records})
    for name in names:
        _check_replace(Path(out) / f"{name}.md", runs, force)
    written = []
    for name in names:
        frame = table([r for r in records if r["dataset"] == name])
        plots = quality_plots(list(frame["record"]), Path(out), name)
        path = Path(out) / f"{name}.md"
        note = Path(runs) / name / NOTE
        text = markdown(name, frame, runs, out, plots, note.read_text() if note.is_file() else "")
        atomic_write_bytes(path, text.encode())
        written += [path, *plots]
    return written
