"""Texture fidelity on ``shapes``: is each generated segment's texture one the true process could have drawn?

``shapes`` renders every segment (a stuff band or a thing instance) from its class's texture family: a colour, one
sinusoidal stripe of some frequency and orientation, and small pixel noise (``datasets/shapes.py``). For each
segment of each generated image (mask eroded by one pixel so that boundaries do not count) the estimator measures
its mean colour, its dominant stripe (the peak of the zero-padded 2-D spectrum of its mean-removed luminance,
refined by parabolic interpolation) and its speckle: the residual after a least-squares fit of that stripe per
channel, projected off the segment's colour axis (the process's shading scales all channels together, so what is
left there is pixel noise, not a stripe of the wrong shape), as a per-channel RMS (the process's sigma, 5).
Real images of the reference split go through the same estimator: per class, a statistic's centre is the median
(angles: the axial mean) of the real segments and its scale the ``quantile`` of their deviations, so a normalised
distance above 1 is outside what the true process gives ``quantile`` of the time. Noise is one-sided (cleaner than
real is not a defect). ``value`` is the fraction of segments with every statistic in range; the
``noise`` parts flag speckle (e.g. over flat sky and sand) that FID on a small evaluator misses.

Range checks reward a generator that draws every segment at its class's median colour. ``colour_spread`` measures
the other side: for each segment of a layout with several samples, the spread of its mean colour across the samples
(RMS over channels of the unbiased standard deviation), per class relative to the spread of real segments' colours
(the process draws each segment's colour independently, so that is the spread a layout's samples should show). 1
is as varied as the true process; 0 is a generator whose noise never changes a colour.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..registry import METRICS
from .base import EvalBatch, EvalContext, Metric, State

STATISTICS = ("colour", "frequency", "angle", "noise")
PAD = 256   # FFT size: a bin is 64/256 = 0.25 cycles per image on 64-pixel shapes images


def _eroded(mask: np.ndarray) -> np.ndarray:
    """The mask without its boundary pixels (3x3 erosion; pixels outside the image count as outside)."""
    padded = np.pad(mask, 1, constant_values=False)
    height, width = mask.shape
    out = mask.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out &= padded[dy:dy + height, dx:dx + width]
    return out


def _parabolic(left: float, centre: float, right: float) -> float:
    """Offset (in bins, within +-0.5) of the vertex of the parabola through three spectrum values."""
    curvature = left - 2 * centre + right
    return 0.0 if curvature >= 0 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def segment_statistics(image: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """Mean colour (RGB), stripe frequency (cycles per image side), angle (radians in [0, pi)) and speckle
    (per-channel RMS of the stripe-fit residual off the colour axis) of the pixels ``mask`` (bool ``[H, W]``) of
    ``image`` (float ``[3, H, W]``, 0..255)."""
    size = max(mask.shape)
    pixels = image[:, mask]                                        # [3, N]
    colour = pixels.mean(1)
    grey = np.zeros(mask.shape)
    grey[mask] = pixels.mean(0) - pixels.mean()
    spectrum = np.abs(np.fft.rfft2(grey, s=(PAD, PAD)))            # rows: ky (both signs), columns: kx >= 0
    ky = np.fft.fftfreq(PAD)[:, None] * PAD
    kx = np.fft.rfftfreq(PAD)[None, :] * PAD
    radius = np.hypot(kx, ky) * size / PAD                         # cycles per image
    spectrum = np.where((radius >= 0.75) & (radius <= size / 2), spectrum, 0)
    row, column = np.unravel_index(int(np.argmax(spectrum)), spectrum.shape)
    dy = _parabolic(spectrum[row - 1, column], spectrum[row, column], spectrum[(row + 1) % PAD, column])
    dx = _parabolic(spectrum[row, column - 1], spectrum[row, column], spectrum[row, column + 1]) \
        if 0 < column < spectrum.shape[1] - 1 else 0.0
    fy, fx = (ky[row, 0] + dy) * size / PAD, (kx[0, column] + dx) * size / PAD
    frequency, angle = float(np.hypot(fx, fy)), float(np.arctan2(fy, fx) % np.pi)
    y, x = np.nonzero(mask)
    phase = 2 * np.pi * (fx * (x + 0.5) + fy * (y + 0.5)) / size
    design = np.stack([np.ones_like(phase), np.cos(phase), np.sin(phase)], 1)   # [N, 3]
    fit, *_ = np.linalg.lstsq(design, pixels.T, rcond=None)
    residual = pixels.T - design @ fit                             # [N, 3]
    direction = colour / max(float(np.linalg.norm(colour)), 1e-6)
    chroma = residual - np.outer(residual @ direction, direction)  # off the segment's colour axis: speckle
    return {"colour": colour, "frequency": frequency, "angle": angle,
            "noise": float(np.sqrt((chroma ** 2).sum(1).mean() / 2))}


def image_segments(image: torch.Tensor, labels: torch.Tensor, instances: torch.Tensor,
                   min_pixels: int) -> list[tuple[int, dict[str, Any]]]:
    """``(class, statistics)`` of every segment of one image (uint8 ``[3, H, W]``) with at least ``min_pixels``
    pixels after erosion, in ascending instance id."""
    if image.shape[-2:] != labels.shape[-2:]:
        raise UserError(f"texture: images {list(image.shape[-2:])} and layouts {list(labels.shape[-2:])} differ in "
                        f"size; generate at the dataset's resolution")
    pixels, labels_np, instances_np = image.numpy().astype(np.float64), labels.numpy(), instances.numpy()
    found = []
    for segment in np.unique(instances_np):
        mask = _eroded(instances_np == segment)
        if int(mask.sum()) >= min_pixels:
            found.append((int(labels_np[mask][0]), segment_statistics(pixels, mask)))
    return found


def colour_variance(colours: np.ndarray) -> np.ndarray:
    """``[S]``: each segment's unbiased variance of ``colours`` ``[K, S, 3]`` across K, averaged over channels."""
    return colours.var(axis=0, ddof=1).mean(-1)


def _axial_mean(angles: list[float]) -> float:
    """The mean of orientations modulo pi (doubled-angle circular mean), so that 0.05 and 3.1 average near 0."""
    doubled = 2 * np.asarray(angles)
    return float(np.arctan2(np.sin(doubled).mean(), np.cos(doubled).mean()) / 2 % np.pi)


def deviations(statistics: dict[str, Any], centre: dict[str, Any]) -> np.ndarray:
    """Per-statistic deviation from a class centre: RGB distance, |log frequency ratio|, angle distance modulo pi,
    and noise above the centre (one-sided)."""
    turn = abs(statistics["angle"] - centre["angle"]) % np.pi
    return np.array([float(np.linalg.norm(statistics["colour"] - centre["colour"])),
                     abs(np.log(max(statistics["frequency"], 1e-6) / centre["frequency"])),
                     min(turn, np.pi - turn),
                     max(statistics["noise"] - centre["noise"], 0.0)])


@METRICS.register_module(name="texture")
class TextureFidelity(Metric):
    """Per-segment texture fidelity against the true ``shapes`` process (see the module docstring).

    ``reference_split`` / ``reference_limit``: the real images that define each class's range; ``quantile``: the
    share of real segments inside the range; ``min_pixels``: smaller segments (after erosion) are not scored;
    ``samples``: "all" samples of each layout or only the "first"; ``speckle_margin``: an image is speckled when a
    segment's noise distance exceeds it (real images: none at 3).
    """

    name = "texture"

    def __init__(self, reference_split: str = "train", reference_limit: int = 500, quantile: float = 0.99,
                 min_pixels: int = 80, samples: str = "all", speckle_margin: float = 3.0) -> None:
        if samples not in ("all", "first"):
            raise UserError(f"texture: samples must be 'all' or 'first', not '{samples}'")
        if not 0 < quantile < 1:
            raise UserError(f"texture: quantile must lie in (0, 1), got {quantile}")
        self.reference_split, self.reference_limit = reference_split, reference_limit
        self.quantile, self.min_pixels, self.samples = quantile, min_pixels, samples
        self.speckle_margin = speckle_margin
        self.centres: dict[int, dict[str, Any]] = {}
        self.scales: dict[int, np.ndarray] = {}
        self.real_spread: dict[int, float] = {}
        # one row per scored segment: class, then the normalised distance of each statistic (plan order)
        self.add_state("segments", torch.zeros(0, 1 + len(STATISTICS), dtype=torch.float64), reduce="cat")
        # one row per image: its largest normalised noise distance (0 when no segment was scored)
        self.add_state("images", torch.zeros(0, dtype=torch.float64), reduce="cat")
        # one row per segment of a layout with several samples: class, variance of its colour across the samples
        self.add_state("spread", torch.zeros(0, 2, dtype=torch.float64), reduce="cat")

    def prepare(self, context: EvalContext) -> None:
        """Per-class centres and scales of the statistics of real segments (the true process, same estimator)."""
        if context.dataset != "shapes":
            raise UserError(f"metric 'texture' knows only the shapes texture process, not '{context.dataset}'; "
                            f"leave it out of --metrics")
        from ..datasets.shapes import Shapes

        dataset = Shapes(split=self.reference_split)
        real: dict[int, list[dict[str, Any]]] = {}
        for index in range(min(self.reference_limit, len(dataset))):
            example = dataset[index]
            for label, statistics in image_segments(example.image, example.layout.labels, example.layout.instances,
                                                    self.min_pixels):
                real.setdefault(label, []).append(statistics)
        for label, segments in real.items():
            centre = {"colour": np.median([s["colour"] for s in segments], 0),
                      "frequency": float(np.median([s["frequency"] for s in segments])),
                      "angle": _axial_mean([s["angle"] for s in segments]),
                      "noise": float(np.median([s["noise"] for s in segments]))}
            spread = np.quantile(np.stack([deviations(s, centre) for s in segments]), self.quantile, axis=0)
            self.centres[label], self.scales[label] = centre, np.maximum(spread, 1e-6)
            colours = np.stack([s["colour"] for s in segments])[:, None]   # the class's segments as one's samples
            self.real_spread[label] = float(np.sqrt(colour_variance(colours)[0]))

    def distances(self, segments: list[tuple[int, dict[str, Any]]]) -> torch.Tensor:
        """float64 ``[S, 1 + 4]``: class and normalised distances of the scored ``image_segments`` of one image."""
        rows = [[label, *(deviations(statistics, self.centres[label]) / self.scales[label])]
                for label, statistics in segments if label in self.centres]
        return torch.tensor(rows, dtype=torch.float64).reshape(-1, 1 + len(STATISTICS))

    def update(self, state: State, batch: EvalBatch) -> None:
        if batch.instances is None:
            raise UserError("metric 'texture' needs the layouts' instance maps (shapes provides them)")
        images = batch.images[:, :1] if self.samples == "first" else batch.images
        for layout_images, labels, instances in zip(images, batch.labels, batch.instances):
            per_image = [image_segments(image.cpu(), labels.cpu(), instances.cpu(), self.min_pixels)
                         for image in layout_images]
            for segments in per_image:
                rows = self.distances(segments)
                state["segments"] = torch.cat([state["segments"], rows])
                noise = rows[:, 1 + STATISTICS.index("noise")]
                worst = noise.max() if len(noise) else torch.zeros((), dtype=torch.float64)
                state["images"] = torch.cat([state["images"], worst.reshape(1)])
            if len(per_image) > 1:   # every sample has the same segments: they come from the layout's masks
                colours = np.stack([[statistics["colour"] for _, statistics in segments] for segments in per_image])
                labels_of = np.array([label for label, _ in per_image[0]], dtype=np.float64)
                rows = torch.from_numpy(np.stack([labels_of, colour_variance(colours)], 1)).reshape(-1, 2)
                state["spread"] = torch.cat([state["spread"], rows])

    def compute(self, state: State) -> dict[str, Any]:
        rows, images = state["segments"].tolist(), state["images"].tolist()
        n = len(rows)

        def share(values: list[bool]) -> float | None:
            return sum(values) / len(values) if values else None

        def mean(values: list[float]) -> float | None:
            total = 0.0
            for value in values:   # summed in plan order, whatever the batches and ranks
                total += value
            return total / len(values) if values else None

        columns = {stat: [row[1 + i] for row in rows] for i, stat in enumerate(STATISTICS)}
        variances: dict[int, list[float]] = {}
        for label, variance in state["spread"].tolist():
            variances.setdefault(int(label), []).append(variance)
        spread = {label: float(np.sqrt(mean(values))) / self.real_spread[label]
                  for label, values in sorted(variances.items()) if self.real_spread.get(label)}
        return {
            "colour_spread": mean(list(spread.values())), "colour_spread_per_class": spread,
            "value": share([all(d <= 1 for d in row[1:]) for row in rows]),
            "in_range": {stat: share([d <= 1 for d in values]) for stat, values in columns.items()},
            "distance": {stat: mean(values) for stat, values in columns.items()},
            "noisy_images": share([worst > 1 for worst in images]),
            "speckled_images": share([worst > self.speckle_margin for worst in images]),
            "n_segments": n, "n_images": len(images),
            "reference_split": self.reference_split, "reference_limit": self.reference_limit,
            "quantile": self.quantile, "min_pixels": self.min_pixels, "samples": self.samples,
            "speckle_margin": self.speckle_margin,
        }
