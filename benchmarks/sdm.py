"""Speed and memory of SDM sampling (prints images/s, CPU seconds per image and peak memory).

``shapes``: the ``sdm`` method end to end (layout -> uint8) per sampler and step count, with the shipped
checkpoint when present, else random weights of the same configuration. ``ade20k``: UNet forward/s of the full
released 256x256 configuration (random weights, batch 1) on the CPU, and on a GPU when one is present: the
official 1000-step fp32 pipeline against the fast settings (bf16, channels_last, optional torch.compile).

Run: ``python benchmarks/sdm.py [shapes] [ade20k] [--batch B] [--compile]``.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Callable

import torch

SHAPES_RUNS = (("ddim", 10), ("ddim", 20), ("dpm-solver++", 10), ("dpm-solver++", 20), ("ddpm", 50))


def timed(call: Callable[[], object], count: int, repeats: int = 1) -> tuple[float, float]:
    """Best-of-``repeats`` images/s after one warm-up call, and process CPU seconds per image."""
    call()
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return count / best_wall, best_cpu / count


def peak_memory(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU peak"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB process peak RSS"


def shapes(batch: int) -> None:
    from semsynth import weights
    from semsynth.datasets.shapes import Shapes
    from semsynth.methods.sdm.method import SDM
    from semsynth.methods.sdm.model import SDMUNet
    from semsynth.methods.sdm.presets import PRESETS

    layouts = [Shapes(split="val").layout(index) for index in range(batch)]
    shipped = weights.find("sdm-shapes") is not None
    for sampler, steps in SHAPES_RUNS:
        for guidance in (1.0, 1.5):
            settings = dict(sampler=sampler, steps=steps, guidance=guidance)
            method = SDM(dataset="shapes", **settings) if shipped else \
                SDM.from_net(SDMUNet(**PRESETS["shapes"].net_config()), "shapes", **settings)
            rate, cpu = timed(lambda: method.generate_batch(layouts, list(range(batch))), batch)
            print(f"shapes 64x64 cpu {sampler:>12} {steps:4d} steps s={guidance}: {rate:7.2f} images/s, "
                  f"{cpu:6.2f} CPU s/image, {peak_memory('cpu')} ({'shipped' if shipped else 'random'} weights)")


def ade20k(compile_net: bool) -> None:
    from semsynth.methods.sdm.model import SDMUNet
    from semsynth.methods.sdm.presets import PRESETS

    net = SDMUNet(**PRESETS["ade20k"].net_config()).eval().requires_grad_(False)
    x, t = torch.randn(1, 3, 256, 256), torch.tensor([500])
    y = torch.zeros(1, 151, 256, 256)
    y[:, 0] = 1
    rate, cpu = timed(lambda: net(x, t, y), 1)
    print(f"ade20k 256x256 cpu fp32 UNet forward batch 1: {rate:.3f} forwards/s, {cpu:.1f} CPU s, {peak_memory('cpu')}")
    if not torch.cuda.is_available():
        print("no GPU: GPU figures skipped")
        return
    gpu_pipeline(net, compile_net)


def gpu_pipeline(net, compile_net: bool, batch: int = 8, device: str = "cuda", size: int = 256) -> None:
    """Images/s of the official pipeline (fp32, ddpm 1000 steps, s=1.5) and of the fast settings on the GPU
    (``device``/``size`` let a small network run the same code on the CPU as a smoke check)."""
    from semsynth.diffusion.gaussian import GaussianProcess
    from semsynth.diffusion.guidance import classifier_free
    from semsynth.diffusion.samplers import dpm_solver_pp
    from semsynth.diffusion.schedules import linear_betas

    y = torch.zeros(batch, net.num_classes, size, size, device=device)
    y[:, 0] = 1
    base = GaussianProcess(linear_betas(1000))

    def forward_rate(dtype: torch.dtype, channels_last: bool):
        model = net.to(device, dtype)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if compile_net:
            model = torch.compile(model)
        call = classifier_free(lambda x, t, c: model(x, t, c).float(), base, 1.5)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            rate, _ = timed(lambda: call(torch.randn(batch, 3, size, size, device=device),
                                         torch.full((batch,), 500, device=device), y), batch, repeats=3)
        print(f"{size}x{size} {device} {dtype} channels_last={channels_last} compile={compile_net}: "
              f"{rate:.2f} guided evaluations/s per image, {peak_memory(device)}")
        return rate, call

    fp32_rate, _ = forward_rate(torch.float32, False)
    fast_rate, fast_call = forward_rate(torch.bfloat16, True)
    print(f"official pipeline (fp32, 1000 ddpm steps): {fp32_rate / 1000:.4f} images/s (from the per-step rate)")
    for steps in (25, 50, 100):
        with torch.inference_mode():
            rate, _ = timed(lambda: dpm_solver_pp(base, fast_call, torch.randn(batch, 3, size, size, device=device),
                                                  y, steps), batch)
        print(f"bf16 dpm-solver++ {steps} steps: {rate:.3f} images/s = {rate / (fp32_rate / 1000):.0f}x official")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", default=["shapes", "ade20k"], choices=["shapes", "ade20k"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet on the GPU")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if "shapes" in args.what:
        shapes(args.batch)
    if "ade20k" in args.what:
        ade20k(args.compile)


if __name__ == "__main__":
    main()
