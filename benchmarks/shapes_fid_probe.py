"""What the ``shapes`` FID responds to: the true process (``shapes-oracle``) with one thing changed at a time, run
through ``bench run`` on the first N val layouts x K, and the across-layout colour variety of its samples.

Variants: ``oracle`` (unchanged), ``one-per-layout`` (one render per layout, whatever the sample's seed: no
diversity within a layout, full variety across layouts), ``one-for-all`` (the same seed for every layout: the
colours of a class no longer vary across layouts), ``sky-shift`` (sky pixels moved by (+4, +18, +13) levels, the
shipped DP-SIMS generator's sky error) and ``blur`` (a 3x3 binomial filter).

Colour variety: for each class, the standard deviation over images of a segment's mean colour (mean over RGB),
averaged over classes, divided by the same figure for the real images of those layouts (1 = the true variety).
``--runs DIR ...`` prints it for finished runs too (their ``samples/*.png``).

Run: ``python benchmarks/shapes_fid_probe.py [--count N] [--samples K] [--runs DIR ...]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

SKY_SHIFT = (3.6, 18.3, 13.4)
VARIANTS = ("oracle", "one-per-layout", "one-for-all", "sky-shift", "blur")
MIN_PIXELS = 30


def perturbed(variant: str, layout, seed: int) -> torch.Tensor:
    """The true process's image of ``layout`` for ``seed`` with the variant's change (uint8 ``[3, H, W]``)."""
    from semsynth.datasets.shapes import render

    if variant == "one-per-layout":
        seed = int(torch.as_tensor(layout.labels, dtype=torch.int64).flatten().dot(
            torch.arange(layout.labels.numel())) % 2**31)
    image = render(layout.labels, layout.instances, 0 if variant == "one-for-all" else seed).float()
    if variant == "sky-shift":
        image += torch.tensor(SKY_SHIFT).view(3, 1, 1) * (layout.labels == 0)
    if variant == "blur":
        kernel = torch.tensor([1.0, 2.0, 1.0])
        kernel = (kernel[:, None] * kernel[None]).div(16).expand(3, 1, 3, 3)
        image = F.conv2d(F.pad(image[None], (1, 1, 1, 1), mode="replicate"), kernel, groups=3)[0]
    return image.round().clamp(0, 255).to(torch.uint8)


def colour_std(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over classes of the across-image std of a segment's mean colour, for (image HxWx3, labels HxW) pairs."""
    means: dict[int, list[np.ndarray]] = collections.defaultdict(list)
    for image, labels in pairs:
        for cls in np.unique(labels):
            mask = labels == cls
            if cls < 255 and mask.sum() > MIN_PIXELS:
                means[int(cls)].append(image[mask].astype(float).mean(0))
    return float(np.mean([np.std(values, 0).mean() for values in means.values() if len(values) > 1]))


def colour_variety(run: Path) -> float:
    """Colour variety of a finished ``shapes`` run's samples relative to the real images of the same layouts."""
    from PIL import Image

    from semsynth.datasets.shapes import Shapes

    data = Shapes(split="val")
    fake, real = [], []
    for file in sorted(run.glob("**/samples/*.png")):
        example = data[int(file.name.split("_s")[0].split("_")[1])]
        labels = example.layout.labels.numpy()
        fake.append((np.asarray(Image.open(file).convert("RGB")), labels))
        real.append((example.image.permute(1, 2, 0).numpy(), labels))
    return colour_std(fake) / colour_std(real)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--runs", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    from semsynth import cli
    from semsynth.methods.oracle import ShapesOracle
    from semsynth.registry import METHODS

    for variant in VARIANTS:
        name = f"probe-{variant}"

        class Probe(ShapesOracle):
            def generate(self, layout, seed: int, _variant: str = variant) -> torch.Tensor:
                return perturbed(_variant, layout, seed)

        Probe.name = name
        METHODS.register_module(name=name)(Probe)
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["run", "--quiet", "--method", name, "--dataset", "shapes", "--limit", str(args.count),
                             "--samples-per-layout", str(args.samples), "--out", out])
            if code:
                raise SystemExit(code)
            metrics = json.loads(next(Path(out).glob("**/result.json")).read_text())["metrics"]
            variety = colour_variety(Path(out))
        print(f"{variant:15s} FID {metrics['fid']['value']:.2f}  mIoU {metrics['miou']['value']:.1f}  "
              f"diversity {metrics['lpips']['value']:.3f}  colour variety {variety:.2f}")
    for run in args.runs:
        print(f"{str(run):15s} colour variety {colour_variety(run):.2f}")


if __name__ == "__main__":
    main()
