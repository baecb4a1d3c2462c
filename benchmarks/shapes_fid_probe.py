"""What the ``shapes`` FID responds to: the true process (``shapes-oracle``) with one thing changed at a time, run
through ``bench run`` on the first N val layouts x K, and the across-layout colour variety of its samples.

Variants: ``oracle`` (unchanged), ``one-per-layout`` (one render per layout, whatever the sample's seed: no
diversity within a layout, full variety across layouts), ``one-for-all`` (the same seed for every layout: the
colours of a class no longer vary across layouts), ``sky-shift`` (sky pixels moved by (+4, +18, +13) levels, the
shipped DP-SIMS generator's sky error) and ``blur`` (a 3x3 binomial filter).

Colour variety: the texture record's ``colour_spread`` taken across images instead of within a layout. For each
class, the unbiased variance over images of a segment's mean colour (``texture_fidelity.colour_variance``), its
square root divided by the same figure for the real images of those layouts, averaged over classes (1 = the true
variety). ``--runs DIR ...`` prints it for finished runs too (their ``samples/*.png``).

Run: ``python benchmarks/shapes_fid_probe.py [--count N] [--samples K] [--runs DIR ...]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import tempfile
import zlib
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
        seed = zlib.crc32(layout.labels.numpy().tobytes())
    image = render(layout.labels, layout.instances, 0 if variant == "one-for-all" else seed).float()
    if variant == "sky-shift":
        image += torch.tensor(SKY_SHIFT).view(3, 1, 1) * (layout.labels == 0)
    if variant == "blur":
        kernel = torch.tensor([1.0, 2.0, 1.0])
        kernel = (kernel[:, None] * kernel[None]).div(16).expand(3, 1, 3, 3)
        image = F.conv2d(F.pad(image[None], (1, 1, 1, 1), mode="replicate"), kernel, groups=3)[0]
    return image.round().clamp(0, 255).to(torch.uint8)


def class_colours(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[int, np.ndarray]:
    """Per class, ``[K, 1, 3]``: its mean colour in each of the (image HxWx3, labels HxW) pairs that show it."""
    colours: dict[int, list[np.ndarray]] = collections.defaultdict(list)
    for image, labels in pairs:
        for cls in np.unique(labels):
            mask = labels == cls
            if cls < 255 and mask.sum() > MIN_PIXELS:
                colours[int(cls)].append(image[mask].astype(float).mean(0))
    return {cls: np.stack(values)[:, None] for cls, values in colours.items() if len(values) > 1}


def colour_variety(run: Path) -> float:
    """Colour variety of a finished ``shapes`` run's samples relative to the real images of the same layouts."""
    from PIL import Image

    from semsynth.datasets.shapes import Shapes
    from semsynth.evaluators.texture_fidelity import colour_variance

    data = Shapes(split="val")
    fake, real = [], []
    for file in sorted(run.glob("**/samples/*.png")):
        example = data[int(file.name.split("_s")[0].split("_")[1])]
        labels = example.layout.labels.numpy()
        fake.append((np.asarray(Image.open(file).convert("RGB")), labels))
        real.append((example.image.permute(1, 2, 0).numpy(), labels))
    fake_colours, real_colours = class_colours(fake), class_colours(real)
    return float(np.mean([np.sqrt(colour_variance(fake_colours[cls])[0] / colour_variance(real_colours[cls])[0])
                          for cls in fake_colours if cls in real_colours]))


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
        probe = type("Probe", (ShapesOracle,), {"name": name, "generate": lambda self, layout, seed, _v=variant:
                                                  perturbed(_v, layout, seed)})
        METHODS.register_module(name=name)(probe)
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
