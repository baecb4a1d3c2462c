"""``bench sample``: one layout, colourised, beside the method's samples for several seeds, as one PNG; or, with
``--run``, the exact samples of one layout of a recorded run."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .. import load_dataset, load_method
from ..errors import UserError
from ..store import atomic_write_bytes, png_bytes, sample_key
from ..types import Example


def sample_grid(method: str, dataset: str, index: int, seeds: Sequence[int], out: Path, data_root: str | None = None,
                split: str = "val", checkpoint: str | None = None, device: str = "cpu", gap: int = 2) -> Path:
    """Write ``out``: [colourised layout | real image | sample(seed) for each seed], separated by white gaps."""
    data = load_dataset(dataset, root=data_root, split=split)
    _check_index(index, len(data), f"{dataset}/{split}")
    example = data[index]
    model = load_method(method, dataset=dataset, checkpoint=checkpoint, device=device)
    with torch.no_grad():
        samples = model.generate_examples([example] * len(seeds), list(seeds))
    _write_grid(out, example, samples, data.label_space, gap)
    return out


def run_samples(run_dir: Path, index: int, out: Path, device: str | None = None, gap: int = 2) -> list[Path]:
    """Generate again the plan's samples of layout ``index`` of the run in ``run_dir`` (its method, weights,
    settings, data and seeds, checked against the run's identity) and write them as ``<out stem>/<key>.png``, the
    names they have in ``RUN_DIR/samples``, plus the grid ``out``; returns the written files."""
    from dataclasses import replace

    from ..runner import Plan, RunConfig, check_identity, read_run_json

    recorded = read_run_json(run_dir)
    try:
        config = RunConfig(**recorded["config"])
    except (KeyError, TypeError):
        raise UserError(f"{run_dir / 'run.json'} holds no readable run arguments; the run folder is damaged") from None
    plan = Plan(replace(config, device=device or config.device, quiet=True), prepare_metrics=False)
    check_identity(run_dir, recorded, plan.identity(), "restore the run's weights and data to reproduce its samples")
    _check_index(index, plan.n_layouts, f"the run's {plan.n_layouts} layouts")
    example = plan.dataset[index]
    seeds = plan.sample_seeds(index)
    with torch.no_grad():
        samples = plan.method.generate_examples([example] * len(seeds), seeds)
    folder = out.parent / out.stem
    files = []
    for seed, image in zip(seeds, samples.cpu()):
        files.append(folder / f"{sample_key(example.id, seed)}.png")
        atomic_write_bytes(files[-1], png_bytes(image))
    _write_grid(out, example, samples, plan.dataset.label_space, gap)
    return [*files, out]


def _check_index(index: int, count: int, what: str) -> None:
    if not 0 <= index < count:
        raise UserError(f"--index {index} is outside {what} (0..{count - 1})")


def _write_grid(out: Path, example: Example, samples: torch.Tensor, label_space, gap: int) -> None:
    tiles = [label_space.colorize(example.layout.labels), example.image, *samples.cpu()]
    height = tiles[0].shape[1]
    spacer = torch.full((3, height, gap), 255, dtype=torch.uint8)
    row = torch.cat([piece for tile in tiles for piece in (tile, spacer)][:-1], dim=2)
    atomic_write_bytes(out, png_bytes(row))
