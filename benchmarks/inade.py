"""CPU speed of INADE sampling (prints images/s and CPU seconds per image).

``shapes``: the ``inade`` method end to end (layout -> uint8), with the shipped checkpoint when present, else a
random network of the same configuration. ``ade20k`` / ``cityscapes``: the full-size official generator with random
weights on random blocky layouts (network only; no checkpoint needed).

Run: ``python benchmarks/inade.py [shapes] [ade20k] [cityscapes] [--batch B]``.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch


def timed(call: Callable[[], object], count: int, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` images/s after one warm-up call, and the process CPU seconds per image of that call
    (comparable across loaded machines)."""
    call()
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return count / best_wall, best_cpu / count


def shapes_method(batch: int) -> tuple[str, Callable[[], object]]:
    from semsynth import weights
    from semsynth.datasets.shapes import Shapes
    from semsynth.methods.inade.method import INADE
    from semsynth.methods.inade.model import INADEEncoder, INADEGenerator
    from semsynth.methods.inade.presets import SHAPES_OPTIONS

    if weights.find("inade-shapes") is not None:
        method, label = INADE(dataset="shapes"), "shipped checkpoint"
    else:
        method = INADE.from_networks(INADEGenerator.from_official_config(SHAPES_OPTIONS),
                                     INADEEncoder.from_official_config(SHAPES_OPTIONS), SHAPES_OPTIONS)
        label = "random weights"
    layouts = [Shapes(split="val").layout(index) for index in range(batch)]
    return f"shapes 64x64 method ({label})", lambda: method.generate_batch(layouts, list(range(batch)))


def full_size(dataset: str, batch: int) -> tuple[str, Callable[[], object]]:
    from semsynth.methods.inputs import instance_onehot, semantics
    from semsynth.methods.inade.model import INADEGenerator, class_channels
    from semsynth.methods.inade.presets import OFFICIAL_OPTIONS

    options = OFFICIAL_OPTIONS[dataset]
    net = INADEGenerator.from_official_config(options).eval()
    height, width = net.output_size
    generator = torch.Generator().manual_seed(0)
    coarse = torch.randint(0, class_channels(options), (batch, height // 32, width // 32), generator=generator)
    labels = coarse.repeat_interleave(32, 1).repeat_interleave(32, 2)
    segmap, onehot = semantics(labels, labels, class_channels(options)), instance_onehot(torch.unique(
        labels, return_inverse=True)[1])
    noise = torch.randn(batch, onehot.shape[1], 2, net.noise_nc, generator=generator)
    vector = torch.randn(batch, net.z_dim, generator=generator)

    def call() -> object:
        with torch.no_grad():
            return net(segmap, onehot, noise, vector)

    return f"{dataset} {height}x{width} generator (random weights)", call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=["shapes"])
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for target in args.targets:
        label, call = shapes_method(args.batch) if target == "shapes" else full_size(target, args.batch)
        rate, cpu = timed(call, args.batch)
        print(f"{label}, batch {args.batch}: {rate:.2f} images/s, {cpu:.3f} CPU s/image")


if __name__ == "__main__":
    main()
