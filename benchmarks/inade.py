"""CPU speed of INADE sampling (prints images/s and CPU seconds per image).

``shapes``: the ``inade`` method end to end (layout -> uint8), with the shipped checkpoint when present, else a
random network of the same configuration. ``ade20k`` / ``cityscapes``: the full-size official generator with random
weights on random blocky layouts (network only; no checkpoint needed), once as one call for the batch and once as
one call per image (what the method does on the CPU, where it keeps batches bit-exact with one-by-one generation).
``ilade``: one ILADE layer at 256x256 with 64 channels and ADE20K's 151 classes at batch 1, 8 and 16: ours (segments
found once per generator pass, timed on their own line) against the official per-pixel one-hot formulation, with the
layer's batch norm alone as a reference for what memory traffic alone costs per image at each batch size.

Run: ``python benchmarks/inade.py [shapes] [ade20k] [cityscapes] [ilade] [--batch B]``.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable, Iterator

import torch
import torch.nn.functional as F


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


def shapes_method(batch: int) -> Iterator[tuple[str, Callable[[], object]]]:
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
    yield f"shapes 64x64 method ({label})", lambda: method.generate_batch(layouts, list(range(batch)))


def blocky_inputs(classes: int, batch: int, height: int, width: int, generator: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random layouts of 32x32 blocks: INADE's semantics (one-hot + edges) and instance one-hot (each present class
    one instance, numbered per image as the method does)."""
    from semsynth.methods.inputs import instance_onehot, semantics

    coarse = torch.randint(0, classes, (batch, height // 32, width // 32), generator=generator)
    labels = coarse.repeat_interleave(32, 1).repeat_interleave(32, 2)
    instances = torch.stack([torch.unique(image, return_inverse=True)[1] for image in labels])
    return semantics(labels, labels, classes), instance_onehot(instances)


def full_size(dataset: str, batch: int) -> Iterator[tuple[str, Callable[[], object]]]:
    from semsynth.methods.inade.model import INADEGenerator, class_channels
    from semsynth.methods.inade.presets import OFFICIAL_OPTIONS

    options = OFFICIAL_OPTIONS[dataset]
    net = INADEGenerator.from_official_config(options).eval()
    height, width = net.output_size
    generator = torch.Generator().manual_seed(0)
    segmap, onehot = blocky_inputs(class_channels(options), batch, height, width, generator)
    noise = torch.randn(batch, onehot.shape[1], 2, net.noise_nc, generator=generator)
    vector = torch.randn(batch, net.z_dim, generator=generator)

    def call(rows: slice) -> object:
        with torch.no_grad():
            return net(segmap[rows], onehot[rows], noise[rows], vector[rows])

    label = f"{dataset} {height}x{width} generator (random weights)"
    yield f"{label}, one call", lambda: call(slice(None))
    yield f"{label}, one call per image", lambda: [call(slice(row, row + 1)) for row in range(batch)]


def official_ilade(layer: torch.nn.Module, x: torch.Tensor, segmap: torch.Tensor, instances: torch.Tensor,
                   noise: torch.Tensor) -> torch.Tensor:
    """The official formulation of an ILADE layer, for comparison: both maps nearest-resized to the layer, then
    gamma and beta of every pixel as one-hot sums over the classes and over the instances."""
    size = x.shape[-2:]
    classes = F.interpolate(segmap, size=size, mode="nearest")[:, :-1]      # the edge channel is dropped
    members = F.interpolate(instances, size=size, mode="nearest")
    projected = layer.fc_noise(noise)                                        # [B, K, 2, C]
    gamma_beta = []
    for index in (0, 1):
        class_weight = torch.einsum("blhw,lc->bchw", classes, layer.weight[..., index])
        class_bias = torch.einsum("blhw,lc->bchw", classes, layer.bias[..., index])
        instance_noise = torch.einsum("bkhw,bkc->bchw", members, projected[:, :, index])
        gamma_beta.append(class_weight * instance_noise + class_bias)
    return gamma_beta[0] * layer.param_free_norm(x) + gamma_beta[1]


def ilade_layer(batch: int) -> Iterator[tuple[str, Callable[[], object]]]:
    from semsynth.methods.inade.model import class_channels
    from semsynth.methods.inade.presets import OFFICIAL_OPTIONS
    from semsynth.nn.ilade import ILADE, Segments

    classes, channels, size = class_channels(OFFICIAL_OPTIONS["ade20k"]), 64, 256
    generator = torch.Generator().manual_seed(0)
    segmap, onehot = blocky_inputs(classes, batch, size, size, generator)
    layer = ILADE(channels, classes, 64).eval()
    x = torch.randn(batch, channels, size, size, generator=generator)
    noise = torch.randn(batch, onehot.shape[1], 2, 64, generator=generator)
    segments = Segments(segmap, onehot, classes)

    def ours() -> torch.Tensor:
        with torch.no_grad():
            return layer(x, segments, noise)

    def official() -> torch.Tensor:
        with torch.no_grad():
            return official_ilade(layer, x, segmap, onehot, noise)

    difference = (ours() - official()).abs().max().item()
    yield f"ours (max |ours - official| {difference:.1e})", ours
    yield "official formulation", official
    yield "ours: finding the segments (once per generator pass)", lambda: Segments(segmap, onehot, classes).pixels(
        (size, size))
    yield "its batch norm alone (memory-traffic reference)", lambda: layer.param_free_norm(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=["shapes"])
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for target in args.targets:
        if target == "ilade":
            print("one ILADE layer, 256x256, 64 channels, 151 classes (ADE20K), random blocky layouts")
            for batch in (1, 8, 16):
                for label, call in ilade_layer(batch):
                    rate, cpu = timed(call, batch, repeats=2)
                    print(f"  batch {batch:2d}, {label}: {batch / rate:.3f} s per call, {cpu:.4f} CPU s/image")
            continue
        cases = shapes_method(args.batch) if target == "shapes" else full_size(target, args.batch)
        for label, call in cases:
            rate, cpu = timed(call, args.batch)
            print(f"{label}, batch {args.batch}: {rate:.2f} images/s, {cpu:.3f} CPU s/image")


if __name__ == "__main__":
    main()
