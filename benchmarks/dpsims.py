"""CPU speed of DP-SIMS sampling against SDM on ``shapes``, measured in one run (images/s and CPU seconds per
image; their ratio is what the issue's ">= 50x SDM's images/s" target compares).

Both methods run end to end (layout -> uint8) through ``generate_batch`` on the same val layouts: ``dpsims`` with the
shipped checkpoint (else a random generator of the shapes configuration), SDM with its shipped checkpoint and its
``shapes`` preset settings (DPM-Solver++, 10 steps, guidance 1.5: 20 UNet evaluations per image). A ``paper`` line
times the paper-size generator (256x256, ADE20K's 151 classes) with random weights, network only, batch 1.

Run: ``OMP_NUM_THREADS=1 python benchmarks/dpsims.py [--batch B] [--no-sdm] [--paper]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from inade import timed  # noqa: E402  (the benchmarks' one timing rule)


def dpsims_method():
    from semsynth import weights
    from semsynth.methods.dpsims.generator import Generator, GeneratorConfig
    from semsynth.methods.dpsims.method import DPSIMS
    from semsynth.methods.dpsims.presets import SHAPES_GENERATOR

    if weights.find("dpsims-shapes") is not None:
        return DPSIMS(dataset="shapes"), "shipped checkpoint"
    config = GeneratorConfig.from_dict({**SHAPES_GENERATOR, "label_channels": 11, "resolution": [64, 64]})
    return DPSIMS.from_generator(Generator(config), instances=True), "random weights"


def paper_generator() -> tuple[str, object]:
    from semsynth.methods.dpsims.generator import Generator, GeneratorConfig
    from semsynth.methods.dpsims.presets import PAPER_GENERATOR

    net = Generator(GeneratorConfig.from_dict({**PAPER_GENERATOR, "label_channels": 151,
                                               "resolution": [256, 256]})).eval()
    labels = torch.zeros(1, 151, 256, 256)
    labels[:, 0] = 1
    z = torch.randn(1, 64)

    def call() -> object:
        with torch.no_grad():
            return net(labels, z)
    return "paper-size generator 256x256, 151 classes (random weights, network only)", call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-sdm", action="store_true")
    parser.add_argument("--paper", action="store_true")
    args = parser.parse_args()
    from semsynth import load_method
    from semsynth.datasets.shapes import Shapes

    layouts = [Shapes(split="val").layout(index) for index in range(args.batch)]
    seeds = list(range(args.batch))
    dpsims, label = dpsims_method()
    rows = [(f"dpsims shapes ({label})", timed(lambda: dpsims.generate_batch(layouts, seeds), args.batch))]
    if not args.no_sdm:
        sdm = load_method("sdm", dataset="shapes")
        rows.append((f"sdm shapes ({sdm.settings['sampler']}, {sdm.settings['steps']} steps, guidance "
                     f"{sdm.settings['guidance']})", timed(lambda: sdm.generate_batch(layouts, seeds), args.batch, 1)))
    if args.paper:
        name, call = paper_generator()
        rows.append((name, timed(call, 1, 1)))
    print(f"torch threads {torch.get_num_threads()}, batch {args.batch}")
    for name, (rate, cpu) in rows:
        print(f"{name}: {rate:.2f} images/s, {cpu:.4f} CPU-s/image")
    if not args.no_sdm:
        (fast, fast_cpu), (slow, slow_cpu) = rows[0][1], rows[1][1]
        print(f"dpsims / sdm: {fast / slow:.1f}x images/s, {slow_cpu / fast_cpu:.1f}x less CPU per image")


if __name__ == "__main__":
    main()
