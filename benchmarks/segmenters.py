"""CPU speed of the ported segmenters with random weights at their benchmark input sizes (prints images/s).

Run: ``python benchmarks/segmenters.py [name ...]`` (names: the bench_* functions without the prefix).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch


def throughput(segmenter: Any, height: int, width: int, batch: int = 1, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` wall-clock images/s of ``segmenter.predict`` on random uint8 images (after one warm-up
    call), and the process CPU seconds per image of that call (comparable across loaded machines)."""
    images = torch.randint(0, 256, (batch, 3, height, width), dtype=torch.uint8)
    segmenter.predict(images)
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        segmenter.predict(images)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return batch / best_wall, best_cpu / batch


def report(name: str, segmenter: Any, height: int, width: int, **kwargs: Any) -> None:
    rate, cpu = throughput(segmenter, height, width, **kwargs)
    print(f"{name:<22} {height}x{width:<5} {rate:8.3f} images/s  {cpu:7.2f} CPU-s/image  "
          f"(CPU, {torch.get_num_threads()} threads)")


def bench_upernet_r101() -> None:
    """ADE20K at 256x256, the OASIS single-scale setting (input stays 256x256)."""
    from semsynth.evaluators.segmenters.upernet import UperNetR101

    report("upernet-r101", UperNetR101(pretrained=False), 256, 256)


def bench_hrnet_w48() -> None:
    """Cityscapes 256x512 at its own resolution (long_side=None)."""
    from semsynth.evaluators.segmenters.hrnet import HRNetW48

    report("hrnet-w48", HRNetW48(pretrained=False), 256, 512)


def bench_mask2former() -> None:
    """Swin-L on ADE20K 256x256 images: upsampled to the official 640x640 ('default') and at their own size."""
    from semsynth.evaluators.segmenters.mask2former import Mask2FormerSwinL

    for mode in ("default", "native"):
        report(f"mask2former-swin-l/{mode}", Mask2FormerSwinL("ade20k", pretrained=False, input_size=mode), 256, 256,
               repeats=1)


def bench_drn_d_105() -> None:
    """Cityscapes 256x512 at its own resolution, single-scale (OASIS/INADE) and segment.py's 6-scale sum."""
    from semsynth.evaluators.segmenters.drn import DRNSegmenter

    report("drn-d-105", DRNSegmenter(pretrained=False), 256, 512)
    report("drn-d-105/multi-scale", DRNSegmenter(pretrained=False, multi_scale=True), 256, 512, repeats=1)


def bench_deeplabv2_r101() -> None:
    """COCO-Stuff 256x256 at its own resolution (CC-FPSE/SPADE protocol), MSC over scales 1, 0.75, 0.5."""
    from semsynth.evaluators.segmenters.deeplabv2 import DeepLabV2Segmenter

    report("deeplabv2-r101", DeepLabV2Segmenter(pretrained=False), 256, 256)


def bench_unet_celebamask() -> None:
    """CelebAMask-HQ 256x256 images, NEAREST-resized to the official 512x512 test size."""
    from semsynth.evaluators.segmenters.unet_celebamask import UNetCelebAMaskSegmenter

    report("unet-celebamask", UNetCelebAMaskSegmenter(pretrained=False), 256, 256)


def main(names: list[str] | None = None) -> None:
    """Run every ``bench_*`` function of this module (or only the named ones)."""
    benches = {key[len("bench_"):]: value for key, value in globals().items() if key.startswith("bench_")}
    for name in names or sorted(benches):
        benches[name]()


if __name__ == "__main__":
    main(sys.argv[1:] or None)
