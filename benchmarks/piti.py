"""Speed of PITI sampling on ``shapes`` (prints images/s, CPU seconds per image, peak memory and the batch's mIoU
under ``shapes-segnet`` as a quality check): the official schedule (ancestral 250 respaced base steps + the
fast27 upsampler) against fewer ancestral steps and our deterministic samplers, at the shapes preset's guidance,
with the shipped checkpoints when present, else random weights of the same configuration.

Run: ``python benchmarks/piti.py [--batch B]`` (with ``OMP_NUM_THREADS`` set to the threads you mean to measure).
"""

from __future__ import annotations

import argparse

import torch
from sdm import peak_memory, timed

# Settings of each run; 27 ancestral (ddpm) upsampler steps are the official fast27, and DDIM with eta 1 on the same
# chain takes ancestral steps with the fixed posterior variance. The official schedule, the shapes default (ancestral
# 50 + DDIM eta 1 fast27) and the earlier ones, then deterministic samplers, which leave visible noise with the
# shapes networks (methods/piti/presets.py: SHAPES_SETTINGS).
RUNS = (dict(sampler="ddpm", steps=250, up_sampler="ddpm", up_steps=27),
        dict(sampler="ddpm", steps=50, up_sampler="ddim", up_steps=27, eta=1.0),
        dict(sampler="ddpm", steps=25, up_sampler="ddim", up_steps=27, eta=1.0),
        dict(sampler="ddpm", steps=25, up_sampler="ddpm", up_steps=27),
        dict(sampler="ddim", steps=25, up_sampler="ddim", up_steps=10, eta=0.0),
        dict(sampler="dpm-solver++", steps=10, up_sampler="dpm-solver++", up_steps=5))


def miou(images: torch.Tensor, layouts: list) -> float:
    import semsynth

    segmenter = semsynth.load_segmenter("shapes-segnet", dataset="shapes")
    predicted = segmenter.predict(images)
    scores = []
    for labels, layout in zip(predicted, layouts):
        for cls in layout.labels.unique():
            truth, guess = layout.labels == cls, labels == cls
            scores.append((truth & guess).sum() / (truth | guess).sum())
    return 100 * float(torch.stack(scores).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    from semsynth import weights
    from semsynth.datasets.shapes import Shapes
    from semsynth.methods.piti import PITI
    from semsynth.methods.piti.model import PITIModel
    from semsynth.methods.piti.presets import SHAPES_CONFIGS

    layouts = [Shapes(split="val").layout(index) for index in range(args.batch)]
    shipped = weights.find("piti-shapes-base") is not None and weights.find("piti-shapes-upsample") is not None
    for settings in RUNS:
        method = PITI(dataset="shapes", **settings) if shipped else \
            PITI.from_nets(PITIModel(**SHAPES_CONFIGS["base"]), PITIModel(**SHAPES_CONFIGS["upsample"]), **settings)
        images = []
        rate, cpu = timed(lambda: images.append(method.generate_batch(layouts, list(range(args.batch)))),
                          args.batch)
        s = method.settings
        eta = f" (DDIM eta {s['eta']:g})" if "ddim" in (s["sampler"], s["up_sampler"]) else ""
        print(f"shapes cpu base {s['sampler']:>12} {s['steps']:3d} + up {s['up_sampler']:>12} {s['up_steps']:3d}{eta}: "
              f"{rate:6.3f} images/s, {cpu:6.2f} CPU s/image, "
              f"mIoU {miou(images[-1], layouts):5.1f}, {peak_memory('cpu')} "
              f"({'shipped' if shipped else 'random'} weights)")


if __name__ == "__main__":
    main()
