"""``bench sample``: one layout, colourised, beside the method's samples for several seeds, as one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .. import load_dataset, load_method
from ..store import atomic_write_bytes, png_bytes


def sample_grid(method: str, dataset: str, index: int, seeds: Sequence[int], out: Path, data_root: str | None = None,
                split: str = "val", checkpoint: str | None = None, device: str = "cpu", gap: int = 2) -> Path:
    """Write ``out``: [colourised layout | real image | sample(seed) for each seed], separated by white gaps."""
    data = load_dataset(dataset, root=data_root, split=split)
    from ..errors import UserError

    if not 0 <= index < len(data):
        raise UserError(f"--index {index} is outside {dataset}/{split} (0..{len(data) - 1})")
    example = data[index]
    model = load_method(method, dataset=dataset, checkpoint=checkpoint, device=device)
    with torch.no_grad():
        samples = model.generate_examples([example] * len(seeds), list(seeds))
    tiles = [data.label_space.colorize(example.layout.labels), example.image, *samples.cpu()]
    height = tiles[0].shape[1]
    spacer = torch.full((3, height, gap), 255, dtype=torch.uint8)
    row = torch.cat([piece for tile in tiles for piece in (tile, spacer)][:-1], dim=2)
    atomic_write_bytes(out, png_bytes(row))
    return out
