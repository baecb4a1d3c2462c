"""``bench sample``: one layout, colourised, beside its real image and the method's samples for several seeds, as one
labelled PNG (small images enlarged with nearest neighbour, so pixels stay pixels); or, with ``--run``, the exact
samples of one layout of a recorded run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .. import load_dataset, load_method
from ..errors import UserError
from ..progress import step_progress
from ..store import atomic_write_bytes, png_bytes, sample_key
from ..types import Example


def sample_grid(method: str, dataset: str, index: int, seeds: Sequence[int], out: Path, data_root: str | None = None,
                split: str = "val", checkpoint: str | None = None, device: str = "cpu", gap: int = 2) -> Path:
    """Write ``out``: [colourised layout | real image | sample(seed) for each seed], labelled, separated by white
    gaps."""
    data = load_dataset(dataset, root=data_root, split=split)
    _check_index(index, len(data), f"{dataset}/{split}")
    example = data[index]
    model = load_method(method, dataset=dataset, checkpoint=checkpoint, device=device)
    with torch.no_grad(), step_progress(f"sampling {method}"):
        samples = model.generate_examples([example] * len(seeds), list(seeds))
    _write_grid(out, example, samples, seeds, data.label_space, gap)
    return out


def run_samples(run_dir: Path, index: int, out: Path, device: str | None = None, gap: int = 2) -> list[Path]:
    """Generate again the plan's samples of layout ``index`` of the run in ``run_dir`` (its method, weights,
    settings, data and seeds, checked against the run's identity) and write them as ``<out stem>/<key>.png``, the
    names they have in ``RUN_DIR/samples``, plus the grid ``out``; returns the written files."""
    from dataclasses import replace

    from ..runner import Plan, RunConfig, check_identity, read_run_json
    from ..tasks import LAYOUT_TO_IMAGE

    recorded = read_run_json(run_dir)
    try:
        config = RunConfig(**recorded["config"])
    except (KeyError, TypeError):
        raise UserError(f"{run_dir / 'run.json'} holds no readable run arguments; the run folder is damaged") from None
    if config.task != LAYOUT_TO_IMAGE:
        raise UserError(f"{run_dir} ran --task {config.task}; bench sample --run repeats layout -> image runs only "
                        f"(the run's pairs are in {run_dir / 'samples'})")
    plan = Plan(replace(config, device=device or config.device, quiet=True), prepare_metrics=False)
    check_identity(run_dir, recorded, plan.identity(), "restore the run's weights and data to reproduce its samples")
    _check_index(index, plan.n_layouts, f"the run's {plan.n_layouts} layouts")
    example = plan.dataset[index]
    seeds = plan.sample_seeds(index)
    with torch.no_grad(), step_progress(f"sampling {plan.name}"):
        samples = plan.method.generate_examples([example] * len(seeds), seeds)
    folder = out.parent / out.stem
    files = []
    for seed, image in zip(seeds, samples.cpu()):
        files.append(folder / f"{sample_key(example.id, seed)}.png")
        atomic_write_bytes(files[-1], png_bytes(image))
    _write_grid(out, example, samples, seeds, plan.dataset.label_space, gap)
    return [*files, out]


def _check_index(index: int, count: int, what: str) -> None:
    if not 0 <= index < count:
        raise UserError(f"--index {index} is outside {what} (0..{count - 1})")


MIN_TILE = 256          # pixels: smaller images are enlarged by a whole factor with nearest neighbour
LABEL_HEIGHT = 22       # pixels of the label band above the tiles


def enlarge(image: torch.Tensor, factor: int) -> torch.Tensor:
    """uint8 ``[3, h, w]`` enlarged ``factor`` times with nearest neighbour (each pixel becomes a square)."""
    return image.repeat_interleave(factor, 1).repeat_interleave(factor, 2)


def grid_image(tiles: list[tuple[str, torch.Tensor]], gap: int = 2) -> torch.Tensor:
    """uint8 ``[3, H, W]``: the tiles side by side, each under its label, enlarged to at least ``MIN_TILE`` pixels
    on the short side, white between them."""
    height, width = tiles[0][1].shape[-2:]
    factor = max(1, math.ceil(MIN_TILE / min(height, width)))
    tile_w, tile_h = width * factor, height * factor
    canvas = Image.new("RGB", (len(tiles) * (tile_w + gap) - gap, LABEL_HEIGHT + tile_h), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    for number, (label, image) in enumerate(tiles):
        left = number * (tile_w + gap)
        canvas.paste(Image.fromarray(enlarge(image.cpu(), factor).permute(1, 2, 0).numpy()), (left, LABEL_HEIGHT))
        text_w = draw.textlength(label, font=font)
        draw.text((left + max(0, (tile_w - text_w) / 2), 3), label, fill="black", font=font)
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1)


def _write_grid(out: Path, example: Example, samples: torch.Tensor, seeds: Sequence[int], label_space,
                gap: int) -> None:
    tiles = [("layout", label_space.colorize(example.layout.labels)), ("real", example.image),
             *((f"seed {seed}", sample) for seed, sample in zip(seeds, samples.cpu()))]
    atomic_write_bytes(out, png_bytes(grid_image(tiles, gap)))
