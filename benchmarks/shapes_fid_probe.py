"""What the ``shapes`` FID responds to: the true process (``shapes-oracle``) with one thing changed at a time, run
through ``bench run`` on the first N val layouts x K, and the across-layout colour variety of its samples.

Variants: ``oracle`` (unchanged), ``one-per-layout`` (one render per layout, whatever the sample's seed: no
diversity within a layout, full variety across layouts), ``one-for-all`` (the same seed for every layout: the
colours of a class no longer vary across layouts), ``sky-shift`` (sky pixels moved by (+4, +18, +13) levels, the
shipped DP-SIMS generator's sky error), ``blur`` (a 3x3 binomial filter) and ``no-pixel-noise``. With ``--dpsims
FILE`` also that DP-SIMS generator (``dpsims``) and two swaps of each segment's mean colour between its sample and the
true one of the same seed: ``dpsims-true-colours`` (the generator's texture, the true colours) and
``true-dpsims-colours`` (the true texture, the generator's colours): which of the two carries its FID gap.

Colour variety: the texture record's ``colour_spread`` taken across images instead of within a layout. For each
class, the unbiased variance over images of a segment's mean colour (``texture_fidelity.colour_variance``), its
square root divided by the same figure for the real images of those layouts, averaged over classes (1 = the true
variety). Colour structure: the mean absolute correlation between the R, G and B of a class's segment colours
(the true process draws them independently: near 0), and the correlation of the brightness deviations of two
segments of one image (independent in the true process: near 0). ``--runs DIR ...`` prints these for finished runs
too (their ``samples/*.png``).

Run: ``python benchmarks/shapes_fid_probe.py [--count N] [--samples K] [--dpsims FILE] [--runs DIR ...]``.
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
VARIANTS = ("oracle", "one-per-layout", "one-for-all", "sky-shift", "blur", "no-pixel-noise")
DPSIMS_VARIANTS = ("dpsims", "dpsims-true-colours", "true-dpsims-colours")
MIN_PIXELS = 30


def segment_means(image: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
    """``image`` ``[3, H, W]`` with every segment of ``instances`` filled with its mean colour."""
    means = torch.zeros_like(image)
    for segment in instances.unique():
        mask = instances == segment
        means[:, mask] = image[:, mask].mean(1, keepdim=True)
    return means


def swapped_colours(texture: torch.Tensor, colours: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
    """``texture``'s image with each segment's mean colour replaced by ``colours``'s (float ``[3, H, W]``)."""
    texture, colours = texture.float(), colours.float()
    return texture - segment_means(texture, instances) + segment_means(colours, instances)


def perturbed(variant: str, layout, seed: int, dpsims=None) -> torch.Tensor:
    """The true process's image of ``layout`` for ``seed`` with the variant's change (uint8 ``[3, H, W]``);
    ``dpsims`` (a loaded method) makes the ``dpsims*`` variants."""
    from semsynth.datasets.shapes import render

    if variant in DPSIMS_VARIANTS:
        fake, true = dpsims.generate(layout, seed), render(layout.labels, layout.instances, seed)
        if variant == "dpsims":
            return fake
        pair = (fake, true) if variant == "dpsims-true-colours" else (true, fake)
        return swapped_colours(*pair, layout.instances).round().clamp(0, 255).to(torch.uint8)
    if variant == "one-per-layout":
        seed = zlib.crc32(layout.labels.numpy().tobytes())
    image = render(layout.labels, layout.instances, 0 if variant == "one-for-all" else seed,
                   0.0 if variant == "no-pixel-noise" else 5.0).float()
    if variant == "sky-shift":
        image += torch.tensor(SKY_SHIFT).view(3, 1, 1) * (layout.labels == 0)
    if variant == "blur":
        kernel = torch.tensor([1.0, 2.0, 1.0])
        kernel = (kernel[:, None] * kernel[None]).div(16).expand(3, 1, 3, 3)
        image = F.conv2d(F.pad(image[None], (1, 1, 1, 1), mode="replicate"), kernel, groups=3)[0]
    return image.round().clamp(0, 255).to(torch.uint8)


def region_colours(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> list[list[tuple[int, np.ndarray]]]:
    """Per (image HxWx3, labels HxW) pair: (class, mean colour) of each class region over ``MIN_PIXELS``."""
    return [[(int(cls), image[labels == cls].astype(float).mean(0)) for cls in np.unique(labels)
             if cls < 255 and (labels == cls).sum() > MIN_PIXELS] for image, labels in pairs]


def class_colours(per_image: list[list[tuple[int, np.ndarray]]]) -> dict[int, np.ndarray]:
    """Per class shown in more than one image, ``[K, 1, 3]``: its mean colour in each image that shows it."""
    colours: dict[int, list[np.ndarray]] = collections.defaultdict(list)
    for regions in per_image:
        for cls, colour in regions:
            colours[cls].append(colour)
    return {cls: np.stack(values)[:, None] for cls, values in colours.items() if len(values) > 1}


def colour_structure(per_image: list[list[tuple[int, np.ndarray]]]) -> tuple[float, float]:
    """(mean |correlation| between the channels of a class's colours, correlation of the brightness deviations of
    two regions of one image)."""
    by_class = {cls: colours[:, 0] for cls, colours in class_colours(per_image).items()}
    channels = [np.abs(np.corrcoef(colours, rowvar=False)[np.triu_indices(3, 1)]).mean()
                for colours in by_class.values() if len(colours) > 2]
    centre = {cls: colours.mean(0) for cls, colours in by_class.items()}
    first, second = [], []
    for regions in per_image:
        deviations = [float((colour - centre[cls]).mean()) for cls, colour in regions if cls in centre]
        for i in range(len(deviations)):
            for j in range(i + 1, len(deviations)):
                first.append(deviations[i])
                second.append(deviations[j])
    return float(np.nanmean(channels)), float(np.corrcoef(first, second)[0, 1])


def colour_report(run: Path) -> str:
    """Colour variety and structure of a finished ``shapes`` run's samples, the variety relative to the real
    images of the same layouts."""
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
    fake_regions = region_colours(fake)
    fake_colours, real_colours = class_colours(fake_regions), class_colours(region_colours(real))
    variety = np.mean([np.sqrt(colour_variance(fake_colours[cls])[0] / colour_variance(real_colours[cls])[0])
                       for cls in fake_colours if cls in real_colours])
    channels, regions = colour_structure(fake_regions)
    return f"colour variety {variety:.2f}  channel corr {channels:.2f}  region corr {regions:+.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100, help="val layouts per variant (0: only --runs)")
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--dpsims", type=Path, default=None, help="a DP-SIMS weights file: adds the swap variants")
    parser.add_argument("--runs", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    from semsynth import cli
    from semsynth.methods.dpsims import DPSIMS
    from semsynth.methods.oracle import ShapesOracle
    from semsynth.registry import METHODS

    dpsims = DPSIMS(dataset="shapes", checkpoint=args.dpsims) if args.dpsims else None
    for variant in (VARIANTS + (DPSIMS_VARIANTS if dpsims else ())) if args.count else ():
        name = f"probe-{variant}"
        probe = type("Probe", (ShapesOracle,), {"name": name, "generate": lambda self, layout, seed, _v=variant:
                                                  perturbed(_v, layout, seed, dpsims)})
        METHODS.register_module(name=name)(probe)
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["run", "--quiet", "--method", name, "--dataset", "shapes", "--limit", str(args.count),
                             "--samples-per-layout", str(args.samples), "--out", out])
            if code:
                raise SystemExit(code)
            metrics = json.loads(next(Path(out).glob("**/result.json")).read_text())["metrics"]
            colours = colour_report(Path(out))
        print(f"{variant:20s} FID {metrics['fid']['value']:.2f}  mIoU {metrics['miou']['value']:.1f}  "
              f"diversity {metrics['lpips']['value']:.3f}  {colours}")
    for run in args.runs:
        print(f"{str(run):20s} {colour_report(run)}")


if __name__ == "__main__":
    main()
