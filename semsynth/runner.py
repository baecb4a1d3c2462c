"""``bench run``: plan -> generate into a resumable sample store -> evaluate -> record.

The plan is (first N layouts of the split) x (seeds 0..K-1), plus the extra samples that metrics declare per layout
(``Metric.extra_samples``). The runner reads only what metrics declare (samples per layout, method attributes,
segmenter option), never their names. Generation skips samples the manifests already have, so a killed run
continues where it stopped; under torchrun each rank generates the samples of its share of the layouts, extras
included. Evaluation always reads the samples back from their PNG files in plan order, so a resumed run ends with
exactly the metrics of an uninterrupted one; each rank evaluates one contiguous block of the plan, so states
gathered in rank order are in plan order and the metrics do not depend on the number of processes.

The run identity (``Plan.identity``: method, resolved settings, the weights' sha256, dataset, absolute data root,
split, protocol, layouts, samples per layout, seed rule, metric specs, and the task when it is not layout -> image)
is stored in ``RUN_DIR/run.json``; a resume whose identity differs is refused.

``--task joint`` (``tasks.py``) keeps the plan and its seeds but gives the method no layout: each of the plan's
slots draws one (image, layout) pair with ``generate_joint(seed)``, both stored (``<key>.png`` and
``<key>_layout.png``), and the metrics, with their ``joint_options``, score the images against the generated layouts;
``n_layouts`` then counts the pairs and the record's ``task`` says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from . import __version__, distributed, load_dataset, load_method, load_metric, tasks
from . import protocols as protocol_table
from .errors import DatasetError, MissingWeightsError, UserError
from .evaluators import bootstrap
from .evaluators.base import EvalBatch, EvalContext, ExtraSample, Metric
from .evaluators.fid import FID
from .outputs import check_writable_folder
from .progress import progress, step_progress
from .registry import METHODS, METRICS, lookup
from .devices import device_name
from .store import RunLock, SampleStore, atomic_write_json, layout_key, sample_key
from .types import Example
from .weights import sha256

SCHEMA = 1
MAX_SAMPLES = 10_000_000   # more images than any protocol asks for: a typo such as --samples-per-layout 10**8
# 2: run.json holds the resolved identity (weights' sha256, absolute data root, metric specs); 1 (no "format"):
# the arguments only.
IDENTITY_FORMAT = 2
SEED_RULE = ("seed = crc32(f'{example_id}/{k}') % 2**31 for k in seeds (semsynth.runner.sample_seed); "
             "the record's sample_seeds lists them")
T = TypeVar("T")


def sample_seed(example_id: str, k: int) -> int:
    """The seed of the k-th sample of a layout. It differs between layouts, so that no two layouts share a noise
    stream (shared streams correlate the samples and bias FID), and depends only on the example's id and k."""
    return zlib.crc32(f"{example_id}/{k}".encode()) % 2**31


def unmet_need(name: str, method_class: type, metric: type[Metric], samples_per_layout: int,
               task: str = tasks.LAYOUT_TO_IMAGE) -> str | None:
    """Why a run of method ``name`` on ``task`` with ``samples_per_layout`` samples per layout cannot compute
    ``metric`` (None when it can); ``bench reproduce`` asks it when it plans, the runner when it selects metrics."""
    unmet = tasks.unmet_need(task, metric)
    if unmet:
        return unmet
    if samples_per_layout < metric.min_samples_per_layout:
        why = f"method '{name}' is deterministic" if not method_class.stochastic else "set --samples-per-layout"
        return (f"needs at least {metric.min_samples_per_layout} samples per layout and this run has "
                f"{samples_per_layout} ({why})")
    missing = [need for need in metric.requires_method if not callable(getattr(method_class, need, None))]
    if missing:
        return f"needs a method with {', '.join(missing)} and '{name}' has none"
    return None


@dataclass
class RunConfig:
    """Everything ``bench run`` takes; stored as ``RUN_DIR/run.json`` so ``--resume`` repeats the same plan."""

    method: str
    dataset: str
    data_root: str | None = None
    checkpoint: str | None = None
    split: str | None = None
    limit: int | None = None
    samples_per_layout: int | None = None
    metrics: list[str] | None = None
    segmenter: str | None = None
    segmenter_backend: str = "native"
    protocol: str = "semsynth-v1"
    task: str = tasks.LAYOUT_TO_IMAGE
    settings: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16
    device: str = "cpu"
    out: str = "runs"
    quiet: bool = False


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _path(path: Path | None) -> str | None:
    return str(Path(path).resolve()) if path is not None else None


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), so identities compare like stored ones."""
    return json.loads(json.dumps(value, default=str))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def identity_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every identity field that differs."""
    return [f"{key}: {_short(recorded.get(key))} -> {_short(current.get(key))}"
            for key in sorted({*recorded, *current}) if recorded.get(key) != current.get(key)]


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """The run.json of an earlier run, or a ``UserError`` saying why it cannot be continued."""
    saved = run_dir / "run.json"
    if not saved.is_file():
        raise UserError(f"{run_dir}: no run.json there; pass the folder of an earlier `bench run`")
    try:
        recorded = json.loads(saved.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{saved} is not valid JSON; the run folder is damaged, start a new run") from None
    if not isinstance(recorded, dict) or "identity" not in recorded:
        raise UserError(f"{saved} holds no run identity; the run folder is damaged, start a new run")
    if recorded.get("format") != IDENTITY_FORMAT:
        raise UserError(f"{run_dir} was started by an earlier semsynth whose run.json does not record the weights' "
                        f"sha256 and the data root, so a resume cannot prove it continues the same run; start a "
                        f"new run (without --resume)")
    return recorded


def check_identity(run_dir: Path, recorded: dict[str, Any], current: dict[str, Any], fix: str) -> None:
    """Refuse, naming what changed, when the current inputs are not those ``run_dir`` was started with."""
    changes = identity_changes(recorded["identity"], current)
    if changes:
        raise UserError(f"{run_dir} was started with other inputs ({'; '.join(changes)}); {fix}")


class Plan:
    """What a run generates and measures, resolved before anything is written: method, dataset, layouts, seeds,
    metrics, and the identity of the run (everything that moves a number). Missing weights and missing data are
    collected and reported together, in one line."""

    def __init__(self, config: RunConfig, prepare_metrics: bool = True) -> None:
        self.config = config
        self.device = distributed.init(config.device)
        self.protocol = protocol_table.get(config.protocol)
        self.spec = self.protocol.for_dataset(config.dataset)
        self.split = config.split or self.spec.split
        self.method_class = lookup(METHODS, config.method)
        self.name, self.task = config.method, config.task
        tasks.check_task(self.task, self.name, self.method_class)
        self.missing: list[str] = []
        self.method = self._attempt(lambda: load_method(config.method, dataset=config.dataset,
                                                        checkpoint=config.checkpoint, device=str(self.device),
                                                        **config.settings))
        self.dataset = self._attempt(lambda: load_dataset(config.dataset, root=config.data_root, split=self.split))
        k = config.samples_per_layout or self.spec.samples_per_layout
        self.samples_per_layout = k if self.method_class.stochastic and self.task == tasks.LAYOUT_TO_IMAGE else 1
        self.ks = list(range(self.samples_per_layout))
        if self.dataset is not None:
            self.n_layouts = self._count_layouts()
            self._attempt(lambda: self.dataset.validate(self.n_layouts))
        self.metric_specs = self._select_metrics()
        self.metrics: dict[str, Metric] = {name: load_metric(spec.metric, **spec.options)
                                           for name, spec in self.metric_specs.items()}
        if prepare_metrics:
            self.context = self._context()
            for metric in self.metrics.values():
                self._attempt(lambda: metric.prepare(self.context))
        if self.missing:
            missing = list(dict.fromkeys(self.missing))
            raise UserError(missing[0] if len(missing) == 1 else
                            f"{len(missing)} inputs are missing: " + " ".join(f"({number}) {problem}" for number,
                                                                              problem in enumerate(missing, 1)))

    def _count_layouts(self) -> int:
        """The plan's number of layouts (``--limit`` or the protocol's, at most the split's), checked for size."""
        limit = self.config.limit if self.config.limit is not None else self.spec.n_layouts
        n_layouts = len(self.dataset) if limit is None else min(limit, len(self.dataset))
        if n_layouts < 1:
            raise UserError("nothing to generate: --limit must be at least 1")
        if n_layouts * self.samples_per_layout > MAX_SAMPLES:
            raise UserError(f"the plan has {n_layouts} layouts x {self.samples_per_layout} samples, more than "
                            f"{MAX_SAMPLES:,} images; lower --samples-per-layout or --limit")
        return n_layouts

    def _attempt(self, step: Callable[[], T]) -> T | None:
        """``step()``, or None with its message noted when it lacks a file (weights or data)."""
        try:
            return step()
        except (MissingWeightsError, DatasetError) as error:
            self.missing.append(str(error))
            return None

    def _context(self) -> EvalContext:
        context = EvalContext(dataset=self.config.dataset, split=self.split,
                              data_root=Path(self.config.data_root) if self.config.data_root else None,
                              device=self.device, batch_size=self.config.batch_size, quiet=self.config.quiet)
        context.options["protocol"] = self.protocol.name
        if self.method_class.fid_reference_split:
            context.options["reference_split"] = self.method_class.fid_reference_split
        return context

    def data_root(self) -> str | None:
        """The absolute folder the dataset is read from (None for a dataset without files, such as shapes)."""
        root = getattr(self.dataset, "root", None)
        return str(root.resolve()) if isinstance(root, Path) else None

    def identity(self) -> dict[str, Any]:
        """Everything that moves a number; a resume must find all of it unchanged."""
        checkpoint = self.method.checkpoint
        extra = {name: sha256(path) for name, path in self.method.extra_weight_files().items()}
        return _plain({
            "method": self.name, "settings": dict(self.method.settings),
            "checkpoint_sha256": sha256(checkpoint) if checkpoint is not None else None,
            **({"extra_weights_sha256": extra} if extra else {}),
            "dataset": self.config.dataset, "data_root": self.data_root(), "split": self.split,
            "protocol": self.protocol.name, "n_layouts": self.n_layouts, "samples_per_layout": len(self.ks),
            "seed_rule": SEED_RULE,
            "metrics": {name: {"metric": spec.metric, "options": spec.options}
                        for name, spec in self.metric_specs.items()},
            **({"task": self.task} if self.task != tasks.LAYOUT_TO_IMAGE else {}),
        })

    def sample_seeds(self, index: int) -> list[int]:
        """The seeds of the plan's samples of layout ``index``."""
        return [sample_seed(self._id(index), k) for k in self.ks]

    def _id(self, index: int) -> str:
        return self.dataset.example_id(index)

    # -- planning --------------------------------------------------------------------------------------------

    def _select_metrics(self) -> dict[str, protocol_table.MetricSpec]:
        """The protocol's metrics that this run can compute: one whose declared needs the run cannot meet is left
        out, or is a user error when it was asked for with --metrics."""
        specs = dict(self.spec.metrics)
        named = self.config.metrics is not None
        wanted = self.config.metrics if named else list(specs)
        unknown = [name for name in wanted if name not in specs]
        if unknown:
            raise UserError(f"metric(s) {', '.join(unknown)} not in protocol '{self.protocol.name}' for "
                            f"{self.config.dataset}; available: {', '.join(specs)}")
        chosen, unmet_needs = {}, []
        for name in wanted:
            metric = lookup(METRICS, specs[name].metric)
            unmet = self._unmet_need(metric)
            if unmet is None:
                chosen[name] = protocol_table.MetricSpec(specs[name].metric,
                                                         tasks.task_options(self.task, metric, specs[name].options))
            elif named:
                raise UserError(f"metric '{name}' {unmet}; leave it out of --metrics")
            else:
                unmet_needs.append(f"'{name}' {unmet}")
        if not chosen:
            raise UserError(f"no metric of protocol '{self.protocol.name}' can be computed by this run "
                            f"({'; '.join(unmet_needs) or 'none asked for'}); change the run so that one can")
        chosen = self._with_segmenters(chosen)
        if self.config.segmenter_backend != "native":
            chosen = self._with_backend(chosen)
        return chosen

    def _unmet_need(self, metric: type[Metric]) -> str | None:
        """Why this run cannot compute ``metric`` (None when it can)."""
        return unmet_need(self.name, self.method_class, metric, self.samples_per_layout, self.task)

    @staticmethod
    def _segmenter_option(spec: protocol_table.MetricSpec) -> str | None:
        return lookup(METRICS, spec.metric).segmenter_option

    def _with_segmenters(self, chosen: dict[str, protocol_table.MetricSpec]) -> dict[str, protocol_table.MetricSpec]:
        """``--segmenter NAME`` for every chosen metric with a segmenter option, or ``METRIC=NAME[,METRIC=NAME]``
        for the named ones."""
        text = self.config.segmenter
        if not text:
            return chosen
        takers = [name for name, spec in chosen.items() if self._segmenter_option(spec)]
        if "=" not in text:
            if not takers:
                raise UserError(f"--segmenter {text}: no metric of this run takes a segmenter; add one to --metrics")
            targets = dict.fromkeys(takers, text)
        else:
            targets = {}
            for item in text.split(","):
                name, _, segmenter = item.partition("=")
                if name not in takers or not segmenter:
                    raise UserError(f"--segmenter {item}: expected METRIC=NAME with METRIC one of this run's metrics "
                                    f"that take a segmenter ({', '.join(takers) or 'none'})")
                targets[name] = segmenter
        return {name: (protocol_table.MetricSpec(spec.metric, {**spec.options,
                                                               self._segmenter_option(spec): targets[name]})
                       if name in targets else spec) for name, spec in chosen.items()}

    def _with_backend(self, chosen: dict[str, protocol_table.MetricSpec]) -> dict[str, protocol_table.MetricSpec]:
        """Every metric with a segmenter through the chosen segmenter backend, checked before anything is
        generated."""
        backend = self.config.segmenter_backend
        if backend != "mmseg":
            raise UserError(f"unknown segmenter backend '{backend}'; use 'native' or 'mmseg'")
        takers = [name for name, spec in chosen.items() if self._segmenter_option(spec)]
        if not takers:
            raise UserError("--segmenter-backend mmseg changes how segmenter metrics are computed, and this run "
                            "computes no mIoU-type metric; add one to --metrics")
        from .evaluators.segmenters import mmseg_backend

        for name in takers:
            segmenter = chosen[name].options.get(self._segmenter_option(chosen[name]), "")
            try:
                mmseg_backend.release(segmenter, self.config.dataset)
            except UserError as error:
                raise UserError(f"metric '{name}': {error}; leave it out with --metrics") from None
            mmseg_backend.check(segmenter, self.config.dataset)
        return {name: protocol_table.MetricSpec(spec.metric, {**spec.options, "backend": backend})
                if name in takers else spec for name, spec in chosen.items()}


class Run(Plan):
    """One benchmark run; ``execute`` does all steps and returns the record written to ``result.json``. Everything
    is checked before the run folder exists; the folder is locked while the run lives."""

    def __init__(self, config: RunConfig, resume: str | None = None) -> None:
        super().__init__(config, prepare_metrics=True)
        check_writable_folder(resume or config.out)
        identity = self.identity()
        self.started_identity = identity   # the weights as loaded: a file replaced mid-run must not rename them
        if resume is not None:
            self.run_dir = Path(resume)
            recorded = read_run_json(self.run_dir)
            check_identity(self.run_dir, recorded, identity, "repeat the original command and restore its weights "
                           "and data, or start a new run without --resume")
        else:
            stamp = distributed.broadcast_object(datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f"))
            self.run_dir = Path(config.out) / f"{config.dataset}-{config.method}-{stamp}"
        self.lock = self._take_folder(resume is None)
        self.store = SampleStore(self.run_dir, rank=distributed.rank())
        if distributed.is_main():
            if resume is None:
                atomic_write_json(self.run_dir / "run.json", {"format": IDENTITY_FORMAT, "identity": identity,
                                                              "config": asdict(config),
                                                              "checkpoint": _path(self.method.checkpoint)})
            else:
                self._clean_up()
        distributed.barrier()

    def _take_folder(self, new: bool) -> RunLock | None:
        """Create (for a new run) and lock the run folder on rank 0; every rank raises rank 0's refusal."""
        lock, refusal = None, None
        if distributed.is_main():
            try:
                if new:
                    self.run_dir.mkdir(parents=True)
                lock = RunLock(self.run_dir)
            except UserError as error:
                refusal = str(error)
            except OSError as error:
                refusal = f"cannot create the run folder {self.run_dir} ({error.strerror}); choose another --out"
        refusal = distributed.broadcast_object(refusal)
        if refusal is not None:
            raise UserError(refusal)
        return lock

    def _clean_up(self) -> None:
        """Before a resume generates anything: delete the temporary files a killed run left and the stored samples
        that do not decode or have the wrong size (they are generated again), with one warning line."""
        self.store.remove_orphans()
        damaged = [key for key in sorted(self.store.finished()) if not self.store.readable(
            key, self.method.resolution, "L" if key.endswith(layout_key("")) else "RGB")]
        for key in damaged:
            (self.store.samples / f"{key}.png").unlink(missing_ok=True)
        if damaged:
            print(f"warning: {len(damaged)} stored sample(s) did not decode or had the wrong size (first: "
                  f"{damaged[0]}.png); generating them again", file=sys.stderr)

    def _extra_samples(self, position: int, example: Example) -> dict[str, ExtraSample]:
        """The extra samples every metric plans for the example at ``position``, by key (metrics may share one)."""
        planned: dict[str, ExtraSample] = {}
        for name, metric in self.metrics.items():
            for extra in metric.extra_samples(position, example):
                if planned.setdefault(extra.key, extra) != extra:
                    raise ValueError(f"metric '{name}' plans {extra.key} with other arguments than another metric")
        return planned

    def _plans_extras(self) -> bool:
        return any(type(metric).extra_samples is not Metric.extra_samples for metric in self.metrics.values())

    # -- generation ------------------------------------------------------------------------------------------

    def generate(self) -> dict[str, Any]:
        """Generate the samples the manifests lack (this rank's layouts): first the plan's K per layout in batches,
        then the metrics' extra samples one by one; returns their timing."""
        done = self.store.finished()
        positions = distributed.shard(range(self.n_layouts))
        todo = [(index, seed) for index in positions for seed in self.sample_seeds(index)]
        todo = [(i, s) for i, s in todo if not set(self._keys(i, s)) <= done]
        started = time.perf_counter()
        batch = self.config.batch_size
        for start in progress(range(0, len(todo), batch), desc=f"generate {self.name}",
                              quiet=self.config.quiet, total=(len(todo) + batch - 1) // batch):
            chunk = todo[start:start + batch]
            seeds = [seed for _, seed in chunk]
            batch_started = time.perf_counter()
            with torch.no_grad(), step_progress("sampling steps", quiet=self.config.quiet):
                if self.task == tasks.JOINT:
                    images, layouts = tasks.generate_pairs(self.method, seeds)
                else:
                    images = self.method.generate_examples([self.dataset[index] for index, _ in chunk], seeds)
            self.store.add_generation_time(time.perf_counter() - batch_started, len(chunk))
            keys = [sample_key(self._id(index), seed) for index, seed in chunk]
            entries = list(zip(keys, images.cpu()))
            if self.task == tasks.JOINT:    # a pair's two manifest lines are appended in one write
                entries += list(zip(map(layout_key, keys), layouts.cpu()))
            self.store.put(entries)
        timing = {"generate_s": time.perf_counter() - started, "generated": len(todo)}
        if self._plans_extras():
            timing.update(self._generate_extras(positions, done))
        distributed.barrier()
        return timing

    def _keys(self, index: int, seed: int) -> list[str]:
        """The store keys of the plan's sample of layout ``index`` drawn with ``seed``: its image, and under
        ``--task joint`` the layout generated with it."""
        key = sample_key(self._id(index), seed)
        return [key, layout_key(key)] if self.task == tasks.JOINT else [key]

    def _generate_extras(self, positions: list[int], done: set[str]) -> dict[str, Any]:
        """The metrics' extra samples of this rank's layouts that the manifests lack, each stored when made."""
        started, generated = time.perf_counter(), 0
        for position in progress(positions, desc=f"extra samples {self.name}", quiet=self.config.quiet):
            example = self.dataset[position]
            for key, extra in self._extra_samples(position, example).items():
                if key not in done:
                    with torch.no_grad():
                        image = getattr(self.method, extra.call)(example.layout, **extra.arguments)
                    self.store.put([(key, image.cpu())])
                    generated += 1
        return {"extra_s": time.perf_counter() - started, "extra_generated": generated}

    # -- evaluation ------------------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, Any]:
        """Every metric over the stored samples in plan order (metrics were prepared when the run was planned)."""
        states = {name: metric.new_state() for name, metric in self.metrics.items()}
        positions = distributed.block(range(self.n_layouts))
        batch = max(1, self.config.batch_size // len(self.ks))
        for start in progress(range(0, len(positions), batch), desc="evaluate", quiet=self.config.quiet,
                              total=(len(positions) + batch - 1) // batch):
            eval_batch = self._eval_batch(positions[start:start + batch])
            for name, metric in self.metrics.items():
                metric.update(states[name], eval_batch)
        states = {name: metric.reduce(states[name]) for name, metric in self.metrics.items()}
        values = {name: {**metric.compute(states[name]), "protocol": self.protocol.name}
                  for name, metric in self.metrics.items()}
        return values, self.uncertainty(states, values)

    def _eval_batch(self, chunk: list[int]) -> EvalBatch:
        """The stored samples of the layouts at plan positions ``chunk`` with what metrics compare them to: the
        dataset's examples, or under ``--task joint`` only the layouts generated with them."""
        images = torch.stack([torch.stack([self.store.get(sample_key(self._id(i), seed))
                                           for seed in self.sample_seeds(i)]) for i in chunk]).to(self.device)
        if self.task == tasks.JOINT:    # one pair per position (K = 1)
            return EvalBatch(images=images, labels=torch.stack(
                [self.store.get_layout(self._keys(i, self.sample_seeds(i)[0])[1]) for i in chunk]))
        examples = [self.dataset[index] for index in chunk]
        return EvalBatch(
            images=images, labels=torch.stack([e.layout.labels for e in examples]),
            instances=(torch.stack([e.layout.instances for e in examples])
                       if examples[0].layout.instances is not None else None),
            real=torch.stack([e.image for e in examples]), examples=examples, positions=chunk,
            extras=[{key: self.store.get(key) for key in self._extra_samples(position, example)}
                    for position, example in zip(chunk, examples)])

    def uncertainty(self, states: dict[str, dict[str, torch.Tensor]], values: dict[str, dict[str, Any]]
                    ) -> dict[str, Any]:
        """The record's ``metrics_ci`` (bootstrap over layouts) and ``fid_infinity`` (per FID-type metric), from
        the gathered states (rank 0 only: the other ranks write no record)."""
        if not distributed.is_main():
            return {}
        extrapolated = {name: metric.infinity(states[name], self.n_layouts) for name, metric in self.metrics.items()
                        if isinstance(metric, FID)}
        return {"metrics_ci": bootstrap.intervals(self.metrics, states, values, self.n_layouts),
                "fid_infinity": {name: value for name, value in extrapolated.items() if value is not None}}

    # -- record ----------------------------------------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        generation = self.generate()
        started = time.perf_counter()
        metrics, uncertainty = self.evaluate()
        evaluate_s = time.perf_counter() - started
        generate_s, generated = generation["generate_s"], generation["generated"]
        identity = self.started_identity
        record = {
            "schema": SCHEMA,
            "method": self.name,
            "dataset": self.config.dataset,
            "split": self.split,
            "protocol": self.protocol.name,
            "task": self.task,
            "checkpoint": {"path": _path(self.method.checkpoint), "sha256": identity["checkpoint_sha256"]},
            **({"extra_weights": {name: {"path": _path(path), "sha256": identity["extra_weights_sha256"][name]}
                                  for name, path in self.method.extra_weight_files().items()}}
               if "extra_weights_sha256" in identity else {}),
            "data_root": identity["data_root"],
            "settings": identity["settings"],
            "n_layouts": self.n_layouts,
            "samples_per_layout": len(self.ks),
            "seeds": self.ks,
            "seed_rule": SEED_RULE,
            "sample_seeds": {self._id(index): self.sample_seeds(index) for index in range(self.n_layouts)},
            "metrics": metrics,
            **uncertainty,
            "timing": {"generate_s": round(generate_s, 3), "evaluate_s": round(evaluate_s, 3),
                       "images_per_s": round(generated / generate_s, 3) if generated else None,
                       "generated": generated,
                       **{key: round(value, 3) for key, value in generation.items() if key.startswith("extra_")},
                       **self.store.generation_cost()},
            "env": {"semsynth": __version__, "torch": torch.__version__, "device": str(self.device),
                    "device_name": device_name(self.device), "git": _git_commit()},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if distributed.is_main():
            atomic_write_json(self.run_dir / "result.json", record)
        return record


def run(config: RunConfig, resume: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Run the benchmark; returns the run folder and its record."""
    job = Run(config, resume)
    try:
        return job.run_dir, job.execute()
    finally:
        if job.lock is not None:
            job.lock.release()
