"""The ``bench`` command. User errors print one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from .errors import UserError

EXIT_USER_ERROR = 2

# OpenMP threads that wait for work sleep instead of spinning: spinning threads compete with every other busy
# process on a shared machine (2 cores, 2 busy neighbours: SDM generation 984 s spinning, 24 s passive, 46 s with
# one thread; benchmarks/threads_under_load.py). The thread count stays torch's default.
THREAD_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}


def set_thread_policy() -> None:
    """Apply ``THREAD_POLICY`` to this process and its children, before torch is imported; a value the user set wins."""
    for key, value in THREAD_POLICY.items():
        os.environ.setdefault(key, value)


def _seeds(text: str) -> list[int]:
    """'0-3' -> [0, 1, 2, 3]; '0,5,7' -> [0, 5, 7]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            seeds.extend(range(int(low), int(high) + 1) if high else [int(low)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must look like 0-3 or 0,5,7, got '{text}'") from None
    return seeds


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


# -- bench list ------------------------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    from . import protocols, registry, weights

    kind = args.kind
    if kind in ("methods", "datasets", "metrics", "segmenters"):
        for name, summary in registry.summaries(getattr(registry, kind.upper())).items():
            print(f"{name:24s} {summary}")
    elif kind == "weights":
        weights.load_catalog()
        for spec in sorted(weights.CATALOG.values(), key=lambda s: s.name):
            print(f"{spec.name:32s} {spec.file:48s} {weights.verify(spec.name)}")
    elif kind == "protocols":
        print(protocols.describe())
    return 0


# -- bench run -------------------------------------------------------------------------------------------------

def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = {"sampler": getattr(args, "sampler", None), "steps": args.steps,
                "guidance": getattr(args, "guidance", None)}
    settings.update(_key_values(args.set))
    return {key: value for key, value in settings.items() if value is not None}


def _key_values(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs; values are parsed as JSON where they can be (numbers, true/false, lists)."""
    settings: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set expects KEY=VALUE, got '{item}'")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import RunConfig, run

    config = RunConfig(
        method=args.method, dataset=args.dataset, data_root=args.data_root, checkpoint=args.checkpoint,
        split=args.split, limit=args.limit, samples_per_layout=args.samples_per_layout,
        metrics=args.metrics.split(",") if args.metrics else None, segmenter=args.segmenter,
        segmenter_backend=args.segmenter_backend, protocol=args.protocol, task=args.task, settings=_settings(args),
        batch_size=args.batch_size, device=args.device, out=args.out, quiet=args.quiet)
    run_dir, record = run(config, resume=args.resume)
    for name, metric in record["metrics"].items():
        value = metric.get("value")
        shown = f"{value:.4f}" if isinstance(value, float) else value
        via = metric.get("backbone") or metric.get("segmenter") or ""
        via += f" via {metric['backend']}" if metric.get("backend") else ""
        print(f"{name:10s} {shown}  ({', '.join(part for part in (via, metric['protocol']) if part)})")
    print(f"record: {run_dir / 'result.json'}")
    return 0


# -- bench train -----------------------------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    if args.segmenter:
        if args.segmenter != "shapes-segnet":
            raise UserError(f"only the shapes network is trained by this suite, not '{args.segmenter}'")
        from .evaluators.segmenters.train_shapes_segnet import train

        out = Path(args.out or "semsynth/assets/shapes_segnet.safetensors")
        options = {key: value for key, value in {"steps": args.steps, "batch_size": args.batch_size}.items()
                   if value is not None}
        train(out, device=args.device, quiet=args.quiet, **options)
        print(f"weights: {out}")
        return 0
    if not args.method:
        raise UserError("bench train needs --method NAME (or --segmenter shapes-segnet)")
    from . import registry

    method = registry.lookup(registry.METHODS, args.method)
    options = {key: value for key, value in {"steps": args.steps, "batch_size": args.batch_size}.items()
               if value is not None}
    result = method.train(args.dataset, Path(args.out or f"runs/train-{args.method}-{args.dataset}"),
                          data_root=args.data_root, device=args.device, quiet=args.quiet, **options,
                          **_key_values(args.set))
    print(f"trained: {result}")
    return 0


# -- bench leaderboard / sample / weights / datasets ----------------------------------------------------------

def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .reporting.leaderboard import write_leaderboards

    for path in write_leaderboards(Path(args.runs), Path(args.out), args.dataset, force=args.force):
        print(f"wrote {path}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .reporting import grid

    if args.run:
        given = [flag for flag, value in (("--method", args.method), ("--checkpoint", args.checkpoint),
                                          ("--data-root", args.data_root), ("--seeds", args.seeds)) if value]
        if given:
            raise UserError(f"--run takes the method, weights, data and seeds from the run; drop {', '.join(given)}")
        for path in grid.run_samples(Path(args.run), args.index, Path(args.out), device=args.device):
            print(f"wrote {path}")
        return 0
    if not args.method:
        raise UserError("bench sample needs --method NAME (or --run RUN_DIR to repeat a run's samples)")
    out = grid.sample_grid(args.method, args.dataset, args.index, args.seeds or [0, 1, 2, 3], Path(args.out),
                           data_root=args.data_root, split=args.split, checkpoint=args.checkpoint,
                           device=args.device or "cpu")
    print(f"wrote {out}")
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from . import weights

    weights.load_catalog()
    if args.action in ("list", "verify"):
        mismatched = []
        for spec in sorted(weights.CATALOG.values(), key=lambda s: s.name):
            status = weights.verify(spec.name)
            print(f"{spec.name:32s} {status:10s} {spec.file}  <- {spec.url}")
            mismatched += [spec.name] if status == "MISMATCH" else []
        if args.action == "verify" and mismatched:
            print(f"error: sha256 mismatch for {', '.join(mismatched)}; replace those files with the originals "
                  f"(bench weights path NAME shows where each was found)", file=sys.stderr)
            return EXIT_USER_ERROR
        return 0
    if not args.name:
        raise UserError(f"bench weights {args.action} needs a NAME (see `bench weights list`)")
    if args.action == "path":
        print(weights.path(args.name))
        return 0
    fetch = getattr(weights, "fetch", None)
    if fetch is None:
        raise UserError("downloading is not available in this build; fetch the file by hand (bench weights list)")
    print(fetch(args.name))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from .datasets.check import check_dataset

    counts, problems, sources = check_dataset(args.dataset, args.data_root)
    for split, count in counts.items():
        found = f" ({sources[split]})" if sources.get(split) else ""
        print(f"{args.dataset}/{split}: {count} examples{found}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if problems or not any(counts.values()):
        return EXIT_USER_ERROR
    print("ok")
    return 0


# -- parser ----------------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Usage errors as one line naming the problem and where to read more, exit 2 (not the usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message} (see `{self.prog} --help`)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, where it has one (None means the help says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        shown = not any(action.default is hidden for hidden in (None, False, argparse.SUPPRESS))
        return f"{action.help} (default: %(default)s)" if shown else action.help


def _data_roots(items: list[str] | None) -> dict[str, str]:
    """``--data-root NAME=DIR`` pairs of ``bench reproduce``."""
    roots = {}
    for item in items or []:
        name, sep, root = item.partition("=")
        if not sep or not name or not root:
            raise UserError(f"--data-root expects DATASET=DIR for bench reproduce (e.g. ade20k=/data/ade20k), "
                            f"got '{item}'")
        roots[name] = root
    return roots


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .reporting import published

    if args.list:
        for table_id, spec in published.tables().items():
            print(f"{table_id}\t{spec['title']}")
        return 0
    if args.table is None:
        raise UserError("bench reproduce needs a TABLE id (see `bench reproduce --list`)")
    published.table(args.table)
    if args.published:
        render = published.render_csv if args.format == "csv" else published.render_markdown
        sys.stdout.write(render(args.table))
        return 0
    if args.launcher == "slurm" and not args.partition:
        raise UserError("--launcher slurm needs --partition P (and --gpus-per-job N)")
    from .reporting.reproduce import Options, describe, reproduce

    options = Options(track=args.track, limit=args.limit, samples_per_layout=args.samples_per_layout,
                      methods=args.methods.split(",") if args.methods else None,
                      metrics=args.metrics.split(",") if args.metrics else None, runs_dir=args.runs_dir,
                      reports_dir=args.reports_dir, launcher=args.launcher, partition=args.partition,
                      gpus_per_job=args.gpus_per_job, timeout_min=args.timeout_min, device=args.device,
                      batch_size=args.batch_size, data_roots=_data_roots(args.data_root), quiet=args.quiet)
    if args.dry_run:
        sys.stdout.write(describe(args.table, options))
        return 0
    report = reproduce(args.table, options)
    if report is not None:
        print(f"report: {report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .tasks import TASKS

    parser = _Parser(prog="bench", description="semsynth-bench: semantic image synthesis benchmark")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bars (for logs)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=summary, description=summary, formatter_class=_HelpFormatter)
        p.set_defaults(func=func)
        return p

    p = command("list", "list methods, datasets, metrics, segmenters, weights or protocols", cmd_list)
    p.add_argument("kind", nargs="?", default="methods", help="what to list",
                   choices=["methods", "datasets", "metrics", "segmenters", "weights", "protocols"])

    p = command("run", "generate samples, evaluate them and record the result", cmd_run)
    p.add_argument("--method", required=True, help="registered method (see `bench list methods`)")
    p.add_argument("--dataset", default="shapes", help="registered dataset (see `bench list datasets`)")
    p.add_argument("--data-root", help="dataset folder (default: $SEMSYNTH_DATA/<dataset>)")
    p.add_argument("--checkpoint", help="weights file of the method (default: its file from the weights catalog)")
    p.add_argument("--split", help="dataset split (default: the protocol's split)")
    p.add_argument("--limit", type=_positive, help="first N layouts of the split (default: the protocol's count)")
    p.add_argument("--samples-per-layout", type=_positive,
                   help="images generated per layout (default: the protocol's count)")
    p.add_argument("--metrics", help="comma-separated metric keys of the protocol (default: all)")
    p.add_argument("--segmenter", metavar="NAME | METRIC=NAME[,METRIC=NAME]",
                   help="segmenter of every metric that takes one (mIoU-type) instead of the protocol's, or of the "
                        "named metrics only (default: the protocol's)")
    p.add_argument("--segmenter-backend", choices=["native", "mmseg"], default="native",
                   help="run the mIoU segmenters through mmsegmentation itself (cross-check; needs the mmseg extra)")
    p.add_argument("--protocol", default="semsynth-v1", help="evaluation protocol (see `bench list protocols`)")
    p.add_argument("--task", choices=TASKS, default=TASKS[0],
                   help="layout-to-image: an image for each layout of the plan; joint: no layout is given, the "
                        "method generates an image and its layout together from each of the plan's seeds "
                        "(generate_joint, e.g. gcdp), scored by the protocol's metrics defined for such pairs: FID "
                        "of the images, mIoU of the segmenter against the generated layouts, FSD of the generated "
                        "layouts against the real ones (GCDP Table 1: --protocol gcdp-paper)")
    p.add_argument("--sampler", help="method setting `sampler` (default: the method's preset)")
    p.add_argument("--steps", type=_positive, help="method setting `steps` (default: the method's preset)")
    p.add_argument("--guidance", type=float, help="method setting `guidance` (default: the method's preset)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="other method settings, repeatable (default: the method's preset)")
    p.add_argument("--batch-size", type=_positive, default=16, help="layouts generated and evaluated at once")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--out", default="runs", help="folder that receives the run folder")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run in RUN_DIR")

    p = command("train", "train a method (or the shapes evaluator network)", cmd_train)
    p.add_argument("--method", help="registered method with a trainer")
    p.add_argument("--segmenter", help="train this evaluator network instead (only shapes-segnet)")
    p.add_argument("--dataset", default="shapes", help="registered dataset")
    p.add_argument("--data-root", help="dataset folder (default: $SEMSYNTH_DATA/<dataset>)")
    p.add_argument("--steps", type=_positive, help="training steps (default: the trainer's)")
    p.add_argument("--batch-size", type=_positive, help="training batch size (default: the trainer's)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="training options of the method, repeatable")
    p.add_argument("--device", default="cpu", help="torch device")
    p.add_argument("--out", help="output folder (default: runs/train-<method>-<dataset>) or weights file")

    p = command("leaderboard", "write markdown leaderboards from run records", cmd_leaderboard)
    p.add_argument("--dataset", help="only this dataset (default: every dataset with runs)")
    p.add_argument("--runs", default="runs", help="folder searched for run records")
    p.add_argument("--out", default="runs/leaderboards",
                   help="folder that receives one markdown file and its plots per dataset (the committed boards "
                        "regenerate with --runs leaderboards/records --out leaderboards)")
    p.add_argument("--force", action="store_true", help="replace a board that was generated from other records")

    p = command("sample", "a PNG grid: colourised layout | samples for several seeds", cmd_sample)
    p.add_argument("--method", help="registered method (not needed with --run)")
    p.add_argument("--run", metavar="RUN_DIR",
                   help="repeat the samples of layout --index of this run exactly (also written one PNG each)")
    p.add_argument("--dataset", default="shapes", help="registered dataset")
    p.add_argument("--data-root", help="dataset folder (default: $SEMSYNTH_DATA/<dataset>)")
    p.add_argument("--split", default="val", help="dataset split")
    p.add_argument("--checkpoint", help="weights file of the method (default: its file from the weights catalog)")
    p.add_argument("--index", type=int, default=0, help="layout index in the split")
    p.add_argument("--seeds", type=_seeds, help="seeds, as 0-3 or 0,5,7 (default: 0-3)")
    p.add_argument("--device", help="torch device (default: cpu; with --run: the run's)")
    p.add_argument("--out", default="grid.png", help="PNG file written")

    p = command("weights", "the catalog of pretrained files", cmd_weights)
    p.add_argument("action", nargs="?", default="list", choices=["list", "verify", "path", "fetch"],
                   help="list the catalog, verify sha256, print a file's path, or fetch it")
    p.add_argument("name", nargs="?", help="weights name, for path and fetch")

    p = command("datasets", "check a dataset folder", cmd_datasets)
    p.add_argument("action", choices=["check"], help="what to do")
    p.add_argument("--dataset", required=True, help="registered dataset")
    p.add_argument("--data-root", required=True, help="dataset folder")

    p = command("reproduce", "reproduce a paper's table: plan its runs, run what can run here, write the report",
                cmd_reproduce)
    p.add_argument("table", nargs="?", metavar="TABLE", help="table id, e.g. sdm-table1 (see --list)")
    p.add_argument("--list", action="store_true", help="list the table ids with their titles")
    p.add_argument("--published", action="store_true", help="print the paper's printed values of TABLE")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (runs, commands, weights each needs and how to make the missing ones); "
                        "run nothing")
    p.add_argument("--format", choices=["csv", "md"], default="csv", help="output format of --published")
    p.add_argument("--track", default="paper",
                   help="paper (the paper's datasets and protocol), shapes (the built-in track) or a track .json file")
    p.add_argument("--limit", type=_positive, help="first N layouts of each run (default: the protocol's count)")
    p.add_argument("--samples-per-layout", type=_positive, help="images per layout (default: the protocol's)")
    p.add_argument("--methods", help="comma-separated suite methods to run (default: every row in the suite)")
    p.add_argument("--metrics", help="comma-separated protocol metric keys to measure (default: the table's)")
    p.add_argument("--data-root", action="append", metavar="DATASET=DIR",
                   help="dataset folder, repeatable (default: $SEMSYNTH_DATA/<dataset>)")
    p.add_argument("--runs-dir", default="runs/reproduce", help="runs go to RUNS_DIR/<table>/<run key>/")
    p.add_argument("--reports-dir", default="reports", help="folder of the report <table>[.<track>].md and its PNG")
    p.add_argument("--launcher", choices=["local", "slurm"], default="local",
                   help="local: in this process (or under torchrun); slurm: one submitit job per run")
    p.add_argument("--partition", help="SLURM partition (with --launcher slurm)")
    p.add_argument("--gpus-per-job", type=int, default=1, help="GPUs (and tasks) per SLURM job")
    p.add_argument("--timeout-min", type=_positive, default=240,
                   help="SLURM time limit per job; a job that hits it is requeued and resumes")
    p.add_argument("--device", help="torch device of the runs (default: cpu; cuda with --launcher slurm)")
    p.add_argument("--batch-size", type=_positive, default=16, help="layouts generated and evaluated at once")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    set_thread_policy()
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # output piped into a reader that closed early (`bench list | head`)
        sys.stdout = open(os.devnull, "w")
        return 0
