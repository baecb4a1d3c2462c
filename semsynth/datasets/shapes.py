"""``shapes``: a procedural dataset that runs anywhere, with a known ground truth for every metric.

Each example is a function of (split, index): a layout of wavy "stuff" bands (sky, hills, grass, water, sand) with
2-6 "thing" instances (disc, square, triangle, ring, cross) on top, and an image rendered from that layout by a
stochastic texture process: every segment (a stuff class or a thing instance) draws its own colour within its
class's colour family and its own stripe frequency, orientation and phase around its class's values, plus pixel
noise. So a layout has many plausible images (``render`` with other seeds gives them), the diversity of real
samples is known, and a generator that ignores the layout or the seed is easy to tell apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..registry import DATASETS
from ..types import Example, LabelSpace, Layout
from .base import Dataset

STUFF = ("sky", "hills", "grass", "water", "sand")
THINGS = ("disc", "square", "triangle", "ring", "cross")


@dataclass(frozen=True)
class Texture:
    """A class's texture family: base colour, stripe colour scale, stripe frequency (cycles per image) and angle."""

    colour: tuple[int, int, int]
    stripe_gain: float
    frequency: float
    angle: float


TEXTURES: tuple[Texture, ...] = (
    Texture((120, 180, 240), 0.85, 1.5, 1.57),   # sky: soft horizontal bands
    Texture((110, 80, 50), 0.60, 4.0, 0.80),     # hills: coarse diagonal stripes
    Texture((60, 160, 50), 0.55, 12.0, 0.00),    # grass: fine vertical stripes
    Texture((30, 70, 170), 0.60, 7.0, 1.57),     # water: horizontal waves
    Texture((220, 200, 130), 0.80, 20.0, 2.30),  # sand: very fine stripes
    Texture((220, 40, 40), 0.45, 9.0, 0.00),     # disc: red, vertical stripes
    Texture((150, 50, 180), 0.45, 6.0, 0.78),    # square: purple, diagonal
    Texture((250, 140, 20), 0.50, 10.0, 2.35),   # triangle: orange, anti-diagonal
    Texture((20, 190, 190), 0.50, 5.0, 1.57),    # ring: teal, horizontal
    Texture((235, 235, 235), 0.55, 14.0, 0.40),  # cross: white, fine oblique
)

SHAPES_LABELS = LabelSpace(
    name="shapes",
    class_names=STUFF + THINGS,
    palette=tuple(texture.colour for texture in TEXTURES),
    things=tuple(range(len(STUFF), len(STUFF) + len(THINGS))),
    raw_note="procedural; stuff pixels have instance id = class id, thing instances 1000 * class + k",
)

_SPLIT_CODES = {"train": 1, "val": 2}
_SPLIT_SIZES = {"train": 1_000_000, "val": 500}
INSTANCE_STRIDE = 1000


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.meshgrid(coords, coords, indexing="xy")  # x [H, W], y [H, W] in (0, 1)


def _thing_mask(kind: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    if kind == "disc":
        return dx**2 + dy**2 <= radius**2
    if kind == "square":
        return (np.abs(dx) <= radius * 0.85) & (np.abs(dy) <= radius * 0.85)
    if kind == "triangle":
        return (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.55)
    if kind == "ring":
        distance = np.sqrt(dx**2 + dy**2)
        return (distance <= radius) & (distance >= radius * 0.55)
    if kind == "cross":
        arm = radius * 0.35
        return ((np.abs(dx) <= radius) & (np.abs(dy) <= arm)) | ((np.abs(dy) <= radius) & (np.abs(dx) <= arm))
    raise ValueError(kind)


def make_layout(split: str, index: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Labels and instance ids (int64 ``[size, size]``) of example ``index`` of ``split``."""
    rng = np.random.default_rng([_SPLIT_CODES[split], index, 0])
    x, y = _grid(size)
    labels = np.zeros((size, size), dtype=np.int64)
    ground = rng.choice(np.arange(1, len(STUFF)), size=rng.integers(1, 4), replace=False)
    boundaries = np.sort(rng.uniform(0.25, 0.85, size=len(ground)))
    for band, (stuff, level) in enumerate(zip(ground, boundaries)):
        wave = rng.uniform(0.01, 0.06) * np.sin(2 * np.pi * rng.uniform(0.5, 2.5) * x + rng.uniform(0, 2 * np.pi))
        labels[y >= level + wave] = stuff
    instances = labels.copy()
    for k in range(int(rng.integers(2, 7))):
        thing = int(rng.integers(len(THINGS)))
        radius = rng.uniform(0.07, 0.17)
        cx, cy = rng.uniform(0.1, 0.9, size=2)
        mask = _thing_mask(THINGS[thing], x - cx, y - cy, radius)
        labels[mask] = len(STUFF) + thing
        instances[mask] = INSTANCE_STRIDE * (len(STUFF) + thing) + k
    return labels, instances


def render(labels: torch.Tensor, instances: torch.Tensor, seed: int, pixel_noise: float = 5.0) -> torch.Tensor:
    """A random image of a layout (uint8 ``[3, H, W]``): each segment draws its own texture from ``seed``, then every
    pixel and channel gets independent Gaussian noise of standard deviation ``pixel_noise`` levels.

    Segments are visited in ascending instance id, so the image depends only on (layout, seed).
    """
    labels_np, instances_np = labels.numpy(), instances.numpy()
    height, width = labels_np.shape
    rng = np.random.default_rng([seed, 7])
    x, y = _grid(max(height, width))
    x, y = x[:height, :width], y[:height, :width]
    image = np.zeros((3, height, width), dtype=np.float64)
    for segment in np.unique(instances_np):
        mask = instances_np == segment
        texture = TEXTURES[int(labels_np[mask][0])]
        colour = np.clip(np.array(texture.colour) + rng.normal(0, 14, size=3), 0, 255)
        frequency = texture.frequency * rng.uniform(0.85, 1.15)
        angle = texture.angle + rng.normal(0, 0.15)
        phase = rng.uniform(0, 2 * np.pi)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle)) + phase)
        shade = 1 - (1 - texture.stripe_gain) * wave[mask]
        image[:, mask] = colour[:, None] * shade[None]
    image += rng.normal(0, pixel_noise, size=image.shape)
    return torch.from_numpy(np.clip(np.rint(image), 0, 255).astype(np.uint8))


@DATASETS.register_module(name="shapes")
class Shapes(Dataset):
    """Procedural layouts and textures; ``train`` is virtual (1M examples), ``val`` has 500. No files needed."""

    name: ClassVar[str] = "shapes"
    label_space: ClassVar[LabelSpace] = SHAPES_LABELS
    resolution: ClassVar[tuple[int, int]] = (64, 64)
    has_instances: ClassVar[bool] = True

    def __init__(self, root=None, split: str = "val", size: int = 64, length: int | None = None) -> None:
        super().__init__(root, split)
        self.size = size
        self.length = _SPLIT_SIZES[split] if length is None else length

    def __len__(self) -> int:
        return self.length

    def example_id(self, index: int) -> str:
        return f"{self.split}_{index:06d}"

    def layout(self, index: int) -> Layout:
        labels, instances = make_layout(self.split, index, self.size)
        return Layout(torch.from_numpy(labels), SHAPES_LABELS, torch.from_numpy(instances))

    def __getitem__(self, index: int) -> Example:
        if not 0 <= index < self.length:
            raise IndexError(f"shapes/{self.split} has {self.length} examples, asked for {index}")
        layout = self.layout(index)
        seed = _SPLIT_CODES[self.split] * 10_000_019 + index
        return Example(self.example_id(index), render(layout.labels, layout.instances, seed), layout)
