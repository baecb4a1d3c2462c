"""A published table as a plan of runs for ``bench reproduce``: each cell is bound to one run (method x dataset x
protocol preset, samples as the protocol says) or to the reason it cannot run here.

A track file, ``semsynth/reporting/tracks/<track>.json`` (or any JSON file passed as ``--track PATH``), maps the
printed rows, datasets and metrics of the papers' tables (``reporting/papers/*.json``) to ``bench run`` arguments,
so a new method's tables, ablations included, are added by data only::

    {
      "track": "shapes",                 the report is reports/<table>.<track>.md (track "paper": reports/<table>.md)
      "description": "...",
      "protocol": "semsynth-v1",         protocol preset of every table; a table may name its own
      "dataset": "shapes",               every printed dataset runs on this one, or instead
      "datasets": {"ADE20K": "ade20k"},  printed dataset -> suite dataset (unlisted: not in the suite)
      "data": {"ade20k": "where to get it"},              shown when a dataset root is missing
      "metrics": {"FID": "fid", "accuracy": "miou.pixel_accuracy"},
                                         printed metric -> the protocol's metric key [. field of its result]
      "methods": {"INADE": "inade"},     printed row -> ROW, for every table
      "references": ["shapes-oracle"],   extra rows the report adds without published values
      "stated_sizes": true,              take layouts and samples per layout from the table's protocol data when
                                         it states them as numbers ("n_layouts", "samples_per_layout")
      "tables": {"TABLE": {"protocol": "...", "note": "...", "rows": {"printed row": ROW},
                           "cells": {"printed row": {"printed metric": ROW}},
                           "sweep": {"x": "guidance", "series": "guidance_mode"}}}
    }

ROW is a suite method name, or ``{"method": NAME, "settings": {...}, "weights": CATALOG NAME,
"samples_per_layout": K, "limit": N, "task": "joint"}``: a row with ``weights`` runs that catalog file (an
ablation's own network), ``settings`` are method settings as ``--set``, ``task`` is what the method generates
(``bench run --task``): ``layout-to-image`` (the default) or ``joint``, image and layout together from noise, scored
by the protocol's metrics defined for such pairs as in GCDP's Table 1 (a method without ``generate_joint`` leaves
the row's cells not run, saying so). A printed row without ROW is "not in the suite"; a ROW naming a method that is
not registered is "not in the suite yet". ``cells`` binds single cells of a row where its printed columns need
different runs (a share of the training data per column: one network each). ``sweep`` (for rows that differ only by
two settings, e.g. a figure without printed values) adds a plot of each metric against setting ``x``, one line per
value of setting ``series``. Layouts and samples per layout: ``--limit`` and
``--samples-per-layout``, else the row's, else the paper's stated numbers (``stated_sizes``), else the protocol's.
Seeds always follow the runner's rule (the papers do not state theirs).
"""
from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import tasks
from ..errors import UserError
from . import published

TRACKS_DIR = Path(__file__).parent / "tracks"
ROW_KEYS = {"method", "settings", "weights", "samples_per_layout", "limit", "task"}


@dataclass(frozen=True)
class RunSpec:
    """One ``bench run`` of the plan; cells that need the same run share it."""

    method: str
    dataset: str
    protocol: str
    metrics: tuple[str, ...]
    settings: tuple[tuple[str, str], ...] = ()   # (name, value as JSON text), sorted
    weights: str | None = None
    limit: int | None = None
    samples_per_layout: int | None = None
    task: str = tasks.LAYOUT_TO_IMAGE

    def weight_names(self) -> tuple[str, ...]:
        """The catalog files this run needs besides the method's defaults: ``weights`` and every setting whose value
        is a catalog name (an extra network such as PITI's ``upsample_weights``)."""
        from .. import weights

        weights.load_catalog()
        named = [json.loads(value) for _, value in self.settings]
        extra = [value for value in named if isinstance(value, str) and value in weights.CATALOG]
        return tuple(dict.fromkeys([self.weights, *extra] if self.weights else extra))

    @property
    def key(self) -> str:
        """The run's folder name: readable prefix plus a digest of everything that moves a number (the task only
        where it is not the default, so that the folders of layout -> image runs keep their names)."""
        task = [self.task] if self.task != tasks.LAYOUT_TO_IMAGE else []
        digest = hashlib.sha1(json.dumps([self.protocol, self.metrics, self.settings, self.weights, self.limit,
                                          self.samples_per_layout, *task], default=str).encode()).hexdigest()[:8]
        return f"{self.dataset}-{self.method}-{digest}"

    def arguments(self) -> list[str]:
        """The ``bench run`` arguments of this run (the checkpoint as its catalog name, resolved at run time)."""
        args = ["--method", self.method, "--dataset", self.dataset, "--protocol", self.protocol,
                "--metrics", ",".join(self.metrics)]
        args += ["--task", self.task] if self.task != tasks.LAYOUT_TO_IMAGE else []
        args += ["--limit", str(self.limit)] if self.limit is not None else []
        args += ["--samples-per-layout", str(self.samples_per_layout)] if self.samples_per_layout is not None else []
        for key, value in self.settings:
            args += ["--set", f"{key}={value}"]
        args += ["--checkpoint", f"$(bench weights path {self.weights})"] if self.weights else []
        return args

    def command(self) -> str:
        return "bench run " + " ".join(arg if arg.startswith("$(") else shlex.quote(arg) for arg in self.arguments())


@dataclass
class Cell:
    """One published cell and how it is reproduced: ``run`` and the ``value_field`` of metric ``key``'s result, or
    ``reason`` (why it cannot run here)."""

    method: str
    dataset: str
    metric: str
    published: str
    direction: str
    own: bool
    doubt: str = ""
    run: RunSpec | None = None
    key: str | None = None
    value_field: str = "value"
    reason: str | None = None


@dataclass
class Plan:
    table: str
    track: dict[str, Any]
    protocol: str
    cells: list[Cell]
    references: list[RunSpec]
    note: str = ""
    sweep: dict[str, str] | None = None

    @property
    def runs(self) -> list[RunSpec]:
        """Every distinct run, in table order, then the reference rows."""
        runs = [cell.run for cell in self.cells if cell.run is not None] + self.references
        return list(dict.fromkeys(runs))

    @property
    def report_name(self) -> str:
        name = self.track["track"]
        return f"{self.table}.md" if name == "paper" else f"{self.table}.{name}.md"


def load_track(track: str) -> dict[str, Any]:
    """A built-in track by name (``paper``, ``shapes``) or a track file by path."""
    path = Path(track) if track.endswith(".json") else TRACKS_DIR / f"{track}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in TRACKS_DIR.glob("*.json")))
        raise UserError(f"unknown track '{track}'; built-in tracks: {known}, or pass the path of a track .json file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"track file {path} is not valid JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("track"), str) or "metrics" not in data:
        raise UserError(f"track file {path} needs at least \"track\" and \"metrics\" (see semsynth/reporting/plan.py)")
    return data


def _row(spec: Any) -> dict[str, Any]:
    row = {"method": spec} if isinstance(spec, str) else dict(spec)
    unknown = set(row) - ROW_KEYS
    if unknown or not isinstance(row.get("method"), str):
        raise UserError(f"track row {spec!r}: expected a method name or an object with keys "
                        f"{', '.join(sorted(ROW_KEYS))} (unknown: {', '.join(sorted(unknown)) or 'none'})")
    return row


class _Planner:
    """Binds cells to runs; the checks that need the registry (methods, protocols, metrics) are made here."""

    def __init__(self, table_id: str, track: dict[str, Any], limit: int | None, samples: int | None,
                 methods: list[str] | None, metrics: list[str] | None) -> None:
        from .. import protocols, registry

        self.protocols, self.registry = protocols, registry
        self.table_id, self.track = table_id, track
        self.entry = track.get("tables", {}).get(table_id, {})
        self.protocol = self.entry.get("protocol", track.get("protocol"))
        self.limit, self.samples, self.only_methods, self.only_metrics = limit, samples, methods, metrics
        stated = published.tables()[table_id]["protocol"] if track.get("stated_sizes") else {}
        self.stated = {key: stated[key] for key in ("n_layouts", "samples_per_layout")
                       if isinstance(stated.get(key), int) and not isinstance(stated.get(key), bool)}
        self.known_methods = set(registry.names(registry.METHODS))

    def rows(self) -> dict[str, Any]:
        return {**self.track.get("methods", {}), **self.entry.get("rows", {})}

    def row_of(self, cell: Cell) -> Any:
        """The ROW of one cell: its own binding in ``cells``, else its printed row's."""
        own = self.entry.get("cells", {}).get(cell.method, {})
        return own[cell.metric] if cell.metric in own else self.rows().get(cell.method)

    def dataset(self, printed: str) -> str | None:
        return self.track.get("dataset") or self.track.get("datasets", {}).get(printed)

    def bind(self, cell: Cell) -> None:
        """Set ``cell.run`` (with its metric key and field) or ``cell.reason``."""
        spec = self.row_of(cell)
        metric = self.track["metrics"].get(cell.metric)
        dataset = self.dataset(cell.dataset)
        if spec is None:
            cell.reason = f"{cell.method} is not in the suite"
        elif metric is None:
            cell.reason = f"metric '{cell.metric}' is not measured by the suite"
        elif dataset is None:
            cell.reason = f"dataset '{cell.dataset}' is not in the suite"
        if cell.reason:
            return
        row = _row(spec)
        cell.key, _, field_name = metric.partition(".")
        cell.value_field = field_name or "value"
        cell.reason = self._why_not(row, dataset, cell.key)
        if cell.reason is None:
            cell.run = self.run(row, dataset, (cell.key,))

    def _why_not(self, row: dict[str, Any], dataset: str, key: str) -> str | None:
        """Why a run of ``row`` on ``dataset`` cannot measure protocol metric ``key`` (None when it can)."""
        from ..runner import unmet_need

        method = row["method"]
        if self.protocol is None:
            return f"track '{self.track['track']}' names no protocol preset for {self.table_id}"
        if self.protocol not in self.protocols.PROTOCOLS:
            return f"protocol '{self.protocol}' is not in the suite yet"
        if method not in self.known_methods:
            return f"method '{method}' is not in the suite yet"
        method_class = self.registry.lookup(self.registry.METHODS, method)
        task = row.get("task", tasks.LAYOUT_TO_IMAGE)
        if problem := tasks.cannot_do(task, method, method_class):
            return problem
        if self.only_methods is not None and method not in self.only_methods:
            return f"left out (--methods {','.join(self.only_methods)})"
        covered = self.protocols.get(self.protocol).datasets
        if dataset not in covered:
            return f"protocol '{self.protocol}' does not cover '{dataset}'"
        specs = covered[dataset].metrics
        if key not in specs:
            return f"protocol '{self.protocol}' pins no '{key}' for {dataset}"
        if self.only_metrics is not None and key not in self.only_metrics:
            return f"left out (--metrics {','.join(self.only_metrics)})"
        if row.get("weights"):
            from .. import weights

            try:
                weights.spec(row["weights"])
            except UserError:
                return f"weights '{row['weights']}' are not in the catalog (the row needs its own trained network)"
        k = self._samples(row, dataset) if method_class.stochastic and task == tasks.LAYOUT_TO_IMAGE else 1
        unmet = unmet_need(method, method_class, self.registry.lookup(self.registry.METRICS, specs[key].metric), k,
                           task)
        return f"'{key}' {unmet}" if unmet else None

    def _samples(self, row: dict[str, Any], dataset: str) -> int:
        return (self._sizes(row)[1] or self.protocols.get(self.protocol).for_dataset(dataset).samples_per_layout)

    def _sizes(self, row: dict[str, Any]) -> tuple[int | None, int | None]:
        """Layouts and samples per layout: the command line's, else the row's, else the paper's stated numbers
        (``stated_sizes`` tracks); None leaves the protocol's."""
        limit = next((v for v in (self.limit, row.get("limit"), self.stated.get("n_layouts")) if v is not None), None)
        samples = self.samples or row.get("samples_per_layout") or self.stated.get("samples_per_layout")
        return limit, samples

    def run(self, row: dict[str, Any], dataset: str, keys: tuple[str, ...]) -> RunSpec:
        settings = tuple(sorted((key, json.dumps(value)) for key, value in row.get("settings", {}).items()))
        return RunSpec(method=row["method"], dataset=dataset, protocol=self.protocol, metrics=keys,
                       settings=settings, weights=row.get("weights"), task=row.get("task", tasks.LAYOUT_TO_IMAGE),
                       limit=self._sizes(row)[0], samples_per_layout=self._sizes(row)[1])


def build(table_id: str, track: str | dict[str, Any] = "paper", limit: int | None = None,
          samples_per_layout: int | None = None, methods: list[str] | None = None,
          metrics: list[str] | None = None) -> Plan:
    """The plan of ``table_id`` on ``track``: every published cell bound to a run or to the reason it cannot run.
    Cells of one row and dataset share one run that measures all their metrics."""
    track = load_track(track) if isinstance(track, str) else track
    planner = _Planner(table_id, track, limit, samples_per_layout, methods, metrics)
    cells = [Cell(method=c["method"], dataset=c["dataset"], metric=c["metric"], published=c["value"],
                  direction=c["direction"], own=c["own"], doubt=c.get("doubt", ""))
             for c in published.table(table_id)]
    for cell in cells:
        planner.bind(cell)
    wanted: dict[RunSpec, set[str]] = {}
    for cell in cells:          # one run per (row, dataset): the union of its cells' metrics, in protocol order
        if cell.run is not None:
            wanted.setdefault(replace(cell.run, metrics=()), set()).add(cell.key)
    for cell in cells:
        if cell.run is not None:
            base = replace(cell.run, metrics=())
            order = planner.protocols.get(base.protocol).for_dataset(base.dataset).metrics
            cell.run = replace(base, metrics=tuple(key for key in order if key in wanted[base]))
    return Plan(table=table_id, track=track, protocol=planner.protocol or "", cells=cells,
                references=_references(planner, cells), note=planner.entry.get("note", ""),
                sweep=planner.entry.get("sweep"))


def _references(planner: _Planner, cells: list[Cell]) -> list[RunSpec]:
    """The track's reference rows on each dataset of the table's cells that the suite can measure, with the metrics
    measured there (before --methods and --metrics filters, which then apply to the references themselves)."""
    measured: dict[str, list[str]] = {}
    for cell in cells:
        if cell.key is not None:
            measured.setdefault(planner.dataset(cell.dataset), []).append(cell.key)
    references = []
    for spec in planner.track.get("references", []):
        row = _row(spec)
        for dataset, keys in measured.items():
            order = planner.protocols.get(planner.protocol).for_dataset(dataset).metrics
            usable = tuple(key for key in order if key in keys and planner._why_not(row, dataset, key) is None)
            if usable:
                references.append(planner.run(row, dataset, usable))
    return references
