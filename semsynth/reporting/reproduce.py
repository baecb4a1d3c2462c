"""``bench reproduce TABLE``: plan the table's runs (``plan.py``), run what can run here (``launchers.py``), then write
``reports/<table>.md`` (``<table>.<track>.md`` for another track) with a PNG of published against reproduced cells.

The report gives, per cell, published | reproduced | difference | protocol differences, or why the cell did not run
(the method is not in the suite, or the missing weights and data, each with where to get it); then the doubts the
published data records, the paper's stated protocol beside the suite's preset, and the commands that redo it.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__, tasks
from . import published
from .plan import Cell, Plan, RunSpec, build, load_track


@dataclass
class Options:
    """What ``bench reproduce TABLE`` takes besides the table."""

    track: str = "paper"
    limit: int | None = None
    samples_per_layout: int | None = None
    methods: list[str] | None = None
    metrics: list[str] | None = None
    runs_dir: str = "runs/reproduce"
    reports_dir: str = "reports"
    launcher: str = "local"
    partition: str | None = None
    gpus_per_job: int = 1
    timeout_min: int = 240
    device: str | None = None
    batch_size: int = 16
    data_roots: dict[str, str] = field(default_factory=dict)
    quiet: bool = True

    def command(self, table: str) -> str:
        """The ``bench reproduce`` command line of these options."""
        args = [table] + (["--track", self.track] if self.track != "paper" else [])
        for flag, value in (("--limit", self.limit), ("--samples-per-layout", self.samples_per_layout),
                            ("--methods", ",".join(self.methods or []) or None),
                            ("--metrics", ",".join(self.metrics or []) or None)):
            args += [flag, str(value)] if value is not None else []
        args += [arg for name, root in self.data_roots.items() for arg in ("--data-root", f"{name}={root}")]
        if self.runs_dir != "runs/reproduce":
            args += ["--runs-dir", self.runs_dir]
        if self.launcher == "slurm":
            args += ["--launcher", "slurm", "--partition", str(self.partition), "--gpus-per-job",
                     str(self.gpus_per_job), "--timeout-min", str(self.timeout_min)]
        return "bench reproduce " + " ".join(shlex.quote(arg) for arg in args)


def plan_of(table: str, options: Options) -> Plan:
    return build(table, options.track, limit=options.limit, samples_per_layout=options.samples_per_layout,
                 methods=options.methods, metrics=options.metrics)


def jobs_of(plan: Plan, options: Options) -> list[Any]:
    from ..launchers import RunJob

    device = options.device or ("cuda" if options.launcher == "slurm" and options.gpus_per_job > 0 else "cpu")
    return [RunJob(spec=spec, folder=Path(options.runs_dir) / plan.table / spec.key, device=device,
                   batch_size=options.batch_size, data_roots=dict(options.data_roots), quiet=options.quiet)
            for spec in plan.runs]


def reproduce(table: str, options: Options, executor: Any = None) -> Path | None:
    """Plan, run and report ``table``; returns the report's path (None on ranks other than 0 under torchrun).
    ``executor`` (a submitit executor) runs one job per run; by default ``--launcher slurm`` builds one for SLURM."""
    from .. import distributed, launchers

    plan = plan_of(table, options)
    jobs = jobs_of(plan, options)
    if executor is None and options.launcher == "slurm":
        executor = launchers.slurm_executor(Path(options.runs_dir) / plan.table / "submitit", options.partition,
                                            options.gpus_per_job, options.timeout_min)
    outcomes = launchers.run_submitit(jobs, executor) if executor is not None else launchers.run_here(jobs)
    if not distributed.is_main():
        return None
    return write_report(plan, dict(zip(plan.runs, outcomes)), options)


def describe(table: str, options: Options) -> str:
    """``bench reproduce TABLE --dry-run``: the plan as text, nothing run. Each run with the printed cells it serves,
    its command and the catalog weights it needs (missing ones with how to make or get them), then the cells that
    cannot run here and why."""
    from .. import weights

    plan = plan_of(table, options)
    lines = [f"{plan.table} on the {plan.track['track']} track (protocol {plan.protocol or 'none'}): "
             f"{len(plan.runs)} runs, report {Path(options.reports_dir) / plan.report_name}"]
    for number, spec in enumerate(plan.runs, 1):
        served = list(dict.fromkeys(f"{cell.method} / {cell.metric}" for cell in plan.cells if cell.run == spec))
        lines += ["", f"run {number}: {'; '.join(served) or 'reference row ' + spec.method}",
                  f"  {spec.command()} --out {shlex.quote(str(Path(options.runs_dir) / plan.table / spec.key))}"]
        for name in spec.weight_names():
            found = weights.find(name)
            entry = weights.spec(name)
            lines.append(f"  weights {name}: " + (f"present ({found})" if found else
                                                   f"MISSING {entry.file}: {entry.url}"))
    reasons: dict[str, list[str]] = {}
    for cell in plan.cells:
        if cell.reason:
            reasons.setdefault(cell.reason, []).append(f"{cell.method} / {cell.metric}")
    if reasons:
        lines += ["", "cells that do not run:"]
        lines += [f"  {reason}: {len(cells)} cell(s) ({'; '.join(dict.fromkeys(cells))})"
                  for reason, cells in reasons.items()]
    if plan.note:
        lines += ["", f"track note: {plan.note}"]
    return "\n".join(lines) + "\n"


# -- the report ------------------------------------------------------------------------------------------------

def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def _fmt(value: float | None, like: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:.{max(_decimals(like), 2)}f}"


def _read(outcome: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record of a finished run (None for a run that did not happen)."""
    if not outcome or outcome.get("status") != "done":
        return None
    return json.loads(Path(outcome["record"]).read_text())


def value_of(record: dict[str, Any] | None, key: str | None, field_name: str = "value") -> float | None:
    """``field_name`` of metric ``key`` in a run record, or None where the run or the number is missing."""
    if record is None or key is None or key not in record["metrics"]:
        return None
    value = record["metrics"][key].get(field_name)
    return float(value) if isinstance(value, (int, float)) else None


class Missing:
    """The numbered list of reasons why runs did not happen (each missing input once), with data hints."""

    def __init__(self, track: dict[str, Any]) -> None:
        self.items: list[str] = []
        self.data = track.get("data", {})

    def refs(self, reason: str) -> str:
        """``[1][3]`` for the items of a runner message (several missing inputs are numbered in one line)."""
        parts = re.split(r" \(\d+\) ", re.sub(r"^\d+ inputs are missing: \(1\) ", "", reason))
        numbers = []
        for part in parts:
            for dataset, source in self.data.items():
                if f"'{dataset}'" in part and "data root" in part:
                    part += f" (bench reproduce: --data-root {dataset}=DIR; get the data: {source})"
            part = _portable(part)
            if part not in self.items:
                self.items.append(part)
            numbers.append(self.items.index(part) + 1)
        return "".join(f"[{number}]" for number in numbers)


def _portable(text: str) -> str:
    """``text`` with this machine's package and home folders written as ``<semsynth>`` and ``~``, so that a committed
    report reads the same for every user."""
    from ..weights import ASSETS

    return text.replace(str(ASSETS.parent), "<semsynth>").replace(str(Path.home()), "~")


def _differences(spec: RunSpec | None, record: dict[str, Any] | None) -> str:
    """How this cell's run departs from the protocol preset's sizes and the method's preset settings."""
    if spec is None:
        return ""
    from .. import protocols

    pinned = protocols.get(spec.protocol).for_dataset(spec.dataset)
    n = record["n_layouts"] if record else spec.limit
    k = record["samples_per_layout"] if record else spec.samples_per_layout
    notes = []
    if n is not None and n != pinned.n_layouts:
        unit = "pairs" if spec.task == tasks.JOINT else "layouts"
        notes.append(f"{n} {unit} (protocol: {pinned.n_layouts or 'whole ' + pinned.split + ' split'})")
    if k is not None and k != pinned.samples_per_layout:
        notes.append(f"K={k} (protocol: {pinned.samples_per_layout})")
    notes += [f"{key}={value}" for key, value in spec.settings]
    notes += [f"weights {spec.weights}"] if spec.weights else []
    return "; ".join(notes)


def _status(cell: Cell, outcome: dict[str, Any] | None, missing: Missing) -> str:
    if cell.reason:
        return f"not run: {cell.reason}"
    if outcome is None:
        return "not run"
    return f"not run, see {missing.refs(outcome['reason'])}"


def _plot_cells(plan: Plan, records: dict[RunSpec, dict[str, Any] | None]) -> list[dict[str, Any]]:
    track = plan.track["track"]
    cells = [{"table": plan.table, "method": cell.method, "dataset": cell.dataset, "metric": cell.metric,
              "published": cell.published or None, "direction": cell.direction, "track": track,
              "reproduced": value_of(records.get(cell.run), cell.key, cell.value_field)} for cell in plan.cells]
    for spec in plan.references:
        for cell in _measured(plan).values():
            value = value_of(records.get(spec), cell.key, cell.value_field)
            if value is not None:
                cells.append({"table": plan.table, "method": spec.method, "dataset": spec.dataset,
                              "metric": cell.metric, "published": None, "reproduced": value, "track": track})
    return cells


def _sweep_points(plan: Plan, records: dict[RunSpec, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The reproduced cells of a ``sweep`` table as points: the run's ``x`` and ``series`` settings and the value."""
    if not plan.sweep:
        return []
    points = []
    for cell in plan.cells:
        value = value_of(records.get(cell.run), cell.key, cell.value_field)
        settings = {key: json.loads(text) for key, text in cell.run.settings} if cell.run else {}
        if value is not None and {plan.sweep["x"], plan.sweep["series"]} <= settings.keys():
            points.append({"metric": cell.metric, "direction": cell.direction, "value": value,
                           "x": settings[plan.sweep["x"]], "series": settings[plan.sweep["series"]]})
    return points


def _measured(plan: Plan) -> dict[str, Cell]:
    """One cell per printed metric that a run measures (its protocol key and result field)."""
    return {cell.metric: cell for cell in plan.cells if cell.key}


def _header(plan: Plan, options: Options, records: dict[RunSpec, dict[str, Any] | None]) -> list[str]:
    spec = published.tables()[plan.table]
    paper = next(p for p in published.papers() if any(t["id"] == plan.table for t in p["tables"]))
    sizes = sorted({(r["n_layouts"], r["samples_per_layout"], r["method"], r.get("task") == tasks.JOINT)
                    for r in records.values() if r})
    size_text = ", ".join(f"{m}: {n} (image, layout) pairs generated jointly" if joint else
                          f"{m}: {n} layouts x {k}" for n, k, m, joint in sizes) or "no run finished"
    limit = f"--limit {options.limit}" if options.limit else "the protocol's layouts"
    return [f"# {plan.table} reproduced ({plan.track['track']} track): {spec['title']}", "",
            f"Paper: {paper['paper']} (`{paper['paper_file']}`, caption line {spec.get('caption_line', '?')}). "
            f"Track `{plan.track['track']}`: {plan.track.get('description', '')}. Protocol preset: "
            f"`{plan.protocol or 'none'}`.", "",
            f"Sizes: {limit}, samples per layout {options.samples_per_layout or 'as the protocol pins'} "
            f"(deterministic methods: 1); per run: {size_text}. Seeds follow the suite's rule "
            f"(`crc32(f'{{example_id}}/{{k}}') % 2**31`); the paper's seeds are not known. FID on few layouts "
            f"is biased upwards and noisy: read small runs as a smoke test, not a reproduction.", "",
            f"Written by `{options.command(plan.table)}` on "
            f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, semsynth {__version__}.", ""]


def _paper_table(plan: Plan, outcomes: dict[RunSpec, dict[str, Any]], records: dict, missing: Missing) -> list[str]:
    lines = ["| method | dataset | metric | published | reproduced | difference | protocol differences |",
             "|---|---|---|---|---|---|---|"]
    for cell in plan.cells:
        value = value_of(records.get(cell.run), cell.key, cell.value_field)
        if value is None:
            shown, difference = _status(cell, outcomes.get(cell.run), missing), ""
        else:
            shown = _fmt(value, cell.published)
            difference = (f"{value - float(cell.published):+.{max(_decimals(cell.published), 2)}f}"
                          if cell.published else "")
        method = f"**{cell.method}**" if cell.own else cell.method
        row = [method, cell.dataset, cell.metric, cell.published or "—", shown, difference,
               _differences(cell.run, records.get(cell.run))]
        lines.append("| " + " | ".join(str(part).replace("|", "\\|") for part in row) + " |")
    return lines


def _track_table(plan: Plan, outcomes: dict[RunSpec, dict[str, Any]], records: dict, missing: Missing) -> list[str]:
    """Another track: one line per (row, metric) with the value on the track beside the published value of every
    dataset; differences are not computed (the scales differ), the order section compares the methods."""
    lines = [f"| method | metric | published (per dataset) | reproduced on {plan.track['track']} | difference | "
             f"protocol differences |", "|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in plan.cells:
        groups.setdefault((cell.method, cell.metric), []).append(cell)
    for (method, metric), cells in groups.items():
        first = cells[0]
        value = value_of(records.get(first.run), first.key, first.value_field)
        shown = (_fmt(value, first.published) if value is not None
                 else _status(first, outcomes.get(first.run), missing))
        values = " · ".join(f"{c.dataset} {c.published or '—'}" for c in cells)
        label = f"**{method}**" if first.own else method
        row = [label, metric, values, shown, "— (other track)" if value is not None else "",
               _differences(first.run, records.get(first.run))]
        lines.append("| " + " | ".join(str(part).replace("|", "\\|") for part in row) + " |")
    return lines


def _references(plan: Plan, records: dict) -> list[str]:
    if not plan.references:
        return []
    measured = _measured(plan)
    lines = ["", "Reference rows (no published values; what the real images and a perfect generator score):", "",
             "| reference | " + " | ".join(measured) + " |", "|---|" + "---|" * len(measured)]
    for spec in plan.references:
        record = records.get(spec)
        lines.append(f"| {spec.method} | " + " | ".join(_fmt(value_of(record, cell.key, cell.value_field),
                                                             cell.published) for cell in measured.values()) + " |")
    return lines


def _order(plan: Plan, records: dict) -> list[str]:
    """Per metric and dataset run: the order of the reproduced methods against their order in the paper (on
    another track, against the paper's order on each of its datasets)."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in plan.cells:
        if value_of(records.get(cell.run), cell.key, cell.value_field) is not None:
            groups.setdefault((cell.metric, cell.run.dataset), []).append(cell)
    lines = []
    for (metric, dataset), cells in groups.items():
        here = {c.method: value_of(records.get(c.run), c.key, c.value_field) for c in cells}
        if len(here) < 2:
            continue
        lower = cells[0].direction == "lower"

        def ranked(values: dict[str, float]) -> str:
            return " > ".join(sorted(values, key=lambda method: values[method], reverse=not lower))

        lines.append(f"- {metric}, best first, reproduced on {dataset}: {ranked(here)}")
        for printed in dict.fromkeys(c.dataset for c in cells):
            paper = {c.method: float(c.published) for c in cells if c.dataset == printed and c.published}
            if len(paper) >= 2:
                lines.append(f"  - published on {printed}: {ranked(paper)}")
    return ["", "## Order of the methods", "", *lines] if lines else []


def _doubts(plan: Plan) -> list[str]:
    doubts = [f"- {c.method} / {c.dataset} / {c.metric} (printed {c.published or 'n/a'}): {c.doubt}"
              for c in plan.cells if c.doubt]
    return ["", "## Doubts recorded in the published data", "", *(doubts or ["None recorded for this table."])]


def _protocol(plan: Plan) -> list[str]:
    from .. import protocols

    stated = published.tables()[plan.table]["protocol"]
    lines = ["", "## Protocol", "", "As the paper states it:", ""]
    lines += [f"- {key}: {value}" for key, value in stated.items()]
    if plan.protocol in protocols.PROTOCOLS:
        preset = protocols.get(plan.protocol)
        lines += ["", f"As this suite runs it (`{preset.name}`): {preset.description}.", ""]
        notes: dict[str, list[str]] = {}
        for dataset in dict.fromkeys(spec.dataset for spec in plan.runs):
            if dataset in preset.datasets and preset.datasets[dataset].notes:
                notes.setdefault(preset.datasets[dataset].notes, []).append(dataset)
        lines += [f"- {', '.join(datasets)}: {note}" for note, datasets in notes.items()]
    own = load_track("paper").get("tables", {}).get(plan.table, {}).get("protocol")
    if plan.track["track"] != "paper" and own:
        lines += ["", f"On the paper's datasets this table runs under `{own}` (`bench reproduce {plan.table}`)."]
    if plan.note:
        lines += ["", f"Track note: {plan.note}"]
    return lines


def _commands(plan: Plan, options: Options) -> list[str]:
    runs = [f"{spec.command()} --out {shlex.quote(str(Path(options.runs_dir) / plan.table / spec.key))}"
            for spec in plan.runs]
    return ["", "## Commands", "", "This report (runs that finished are kept; the same command resumes the others):",
            "", "```", options.command(plan.table), "```", "", "Each run on its own:", "", "```", *runs, "```"]


def write_report(plan: Plan, outcomes: dict[RunSpec, dict[str, Any]], options: Options) -> Path:
    """``reports/<table>[.<track>].md`` and, when a cell was reproduced, its PNG beside it (both atomic)."""
    from ..store import atomic_write_bytes

    records = {spec: _read(outcome) for spec, outcome in outcomes.items()}
    missing = Missing(plan.track)
    report = Path(options.reports_dir) / plan.report_name
    other_track = plan.track["track"] != "paper"
    table = (_track_table if other_track else _paper_table)(plan, outcomes, records, missing)
    done = sum(1 for cell in plan.cells if value_of(records.get(cell.run), cell.key, cell.value_field) is not None)
    lines = _header(plan, options, records)
    lines += ["## Cells", "", f"{done} of {len(plan.cells)} published cells reproduced"
              f"{' (on ' + plan.track['track'] + ')' if other_track else ''}.", "", *table]
    lines += _references(plan, records)
    if missing.items:
        lines += ["", "## Why runs did not happen", "", *(f"{n}. {item}" for n, item in enumerate(missing.items, 1))]
    plot_cells = _plot_cells(plan, records)
    if any(cell["reproduced"] is not None for cell in plot_cells) and any(cell.published for cell in plan.cells):
        from .plots.cells import published_vs_reproduced

        png = published_vs_reproduced(plot_cells, report.with_suffix(".png"))
        lines += ["", f"![published vs reproduced]({png.name})"]
    points = _sweep_points(plan, records)
    if points:
        from .plots.sweep import sweep_plot

        png = sweep_plot(points, plan.sweep["x"], plan.sweep["series"], f"{plan.table} on {plan.track['track']}",
                         report.with_name(f"{report.stem}-sweep.png"))
        lines += ["", f"![{png.stem}]({png.name})"]
    if any(records.values()):
        from .plots.quality import quality_plots

        rows = {cell.run: cell.method for cell in plan.cells if cell.run is not None}
        done_runs = [run for run, record in records.items() if record]
        for png in quality_plots([records[run] for run in done_runs], report.parent, report.stem,
                                 [rows.get(run) for run in done_runs]):
            lines += ["", f"![{png.stem}]({png.name})"]
    lines += _order(plan, records) + _doubts(plan) + _protocol(plan) + _commands(plan, options)
    atomic_write_bytes(report, ("\n".join(lines) + "\n").encode())
    return report
