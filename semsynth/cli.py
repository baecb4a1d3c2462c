"""The ``bench`` command. User errors print one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import UserError

EXIT_USER_ERROR = 2


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
        table = getattr(registry, kind.upper())
        for name in registry.names(table):
            cls = table.get(name)
            print(f"{name:24s} {_summary(kind, cls)}")
    elif kind == "weights":
        registry.load_plugins()
        for spec in sorted(weights.CATALOG.values(), key=lambda s: s.name):
            print(f"{spec.name:32s} {spec.file:48s} {weights.verify(spec.name)}")
    elif kind == "protocols":
        print(protocols.describe())
    return 0


def _summary(kind: str, cls: Any) -> str:
    doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    if kind == "datasets":
        h, w = cls.resolution
        return f"{cls.label_space.num_classes} classes, {h}x{w}, splits {'/'.join(cls.splits)}"
    if kind == "segmenters":
        from .evaluators.segmenters.mmseg_backend import datasets_of

        files = ", ".join(f"{d}: {w}" for d, w in cls.weights.items())
        mmseg = f"; mmseg backend: {', '.join(datasets_of(cls.name))}" if datasets_of(cls.name) else ""
        return f"datasets {', '.join(cls.datasets)}; input {cls.input_size}; weights {files}{mmseg}"
    return doc


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
        segmenter_backend=args.segmenter_backend, protocol=args.protocol, settings=_settings(args),
        batch_size=args.batch_size, device=args.device, out=args.out, quiet=args.quiet)
    run_dir, record = run(config, resume=args.resume)
    for name, metric in record["metrics"].items():
        value = metric.get("value")
        shown = f"{value:.4f}" if isinstance(value, float) else value
        via = metric.get("backbone") or metric.get("segmenter") or ""
        via += f" via {metric['backend']}" if metric.get("backend") else ""
        print(f"{name:10s} {shown}  ({via}, {metric['protocol']})")
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

    for path in write_leaderboards(Path(args.runs), Path(args.out), args.dataset):
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
    from . import registry, weights

    registry.load_plugins()
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

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="semsynth-bench: semantic image synthesis benchmark")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bars (for logs)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", parents=[common],
                       help="list methods, datasets, metrics, segmenters, weights or protocols")
    p.add_argument("kind", nargs="?", default="methods",
                   choices=["methods", "datasets", "metrics", "segmenters", "weights", "protocols"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", parents=[common], help="generate samples, evaluate them and record the result")
    p.add_argument("--method", required=True)
    p.add_argument("--dataset", default="shapes")
    p.add_argument("--data-root")
    p.add_argument("--checkpoint")
    p.add_argument("--split")
    p.add_argument("--limit", type=_positive, help="first N layouts of the split")
    p.add_argument("--samples-per-layout", type=_positive)
    p.add_argument("--metrics", help="comma-separated metric keys of the protocol (default: all)")
    p.add_argument("--segmenter", metavar="NAME | METRIC=NAME[,METRIC=NAME]",
                   help="segmenter of every metric that takes one (mIoU-type) instead of the protocol's, or of the "
                        "named metrics only")
    p.add_argument("--segmenter-backend", choices=["native", "mmseg"], default="native",
                   help="run the mIoU segmenters through mmsegmentation itself (cross-check; needs the mmseg extra)")
    p.add_argument("--protocol", default="semsynth-v1")
    p.add_argument("--sampler")
    p.add_argument("--steps", type=_positive)
    p.add_argument("--guidance", type=float)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="other method settings")
    p.add_argument("--batch-size", type=_positive, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs")
    p.add_argument("--resume", metavar="RUN_DIR")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", parents=[common], help="train a method (or the shapes evaluator network)")
    p.add_argument("--method")
    p.add_argument("--segmenter")
    p.add_argument("--dataset", default="shapes")
    p.add_argument("--data-root")
    p.add_argument("--steps", type=_positive)
    p.add_argument("--batch-size", type=_positive)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="training options of the method")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("leaderboard", parents=[common], help="write markdown leaderboards from run records")
    p.add_argument("--dataset")
    p.add_argument("--runs", default="runs")
    p.add_argument("--out", default="leaderboards")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("sample", parents=[common], help="a PNG grid: colourised layout | samples for several seeds")
    p.add_argument("--method")
    p.add_argument("--run", metavar="RUN_DIR",
                   help="repeat the samples of layout --index of this run exactly (also written one PNG each)")
    p.add_argument("--dataset", default="shapes")
    p.add_argument("--data-root")
    p.add_argument("--split", default="val")
    p.add_argument("--checkpoint")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--seeds", type=_seeds, help="default 0-3")
    p.add_argument("--device", help="default cpu (with --run: the run's)")
    p.add_argument("--out", default="grid.png")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("weights", parents=[common], help="the catalog of pretrained files")
    p.add_argument("action", nargs="?", default="list", choices=["list", "verify", "path", "fetch"])
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("datasets", parents=[common], help="check a dataset folder")
    p.add_argument("action", choices=["check"])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", required=True)
    p.set_defaults(func=cmd_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
