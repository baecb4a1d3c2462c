"""Speed and quality of GCDP's layout -> image outpainting on ``shapes``: images/s and CPU seconds per image of the
official loop (100 steps, 5 resampling passes per step: 500 network calls per image) against faster settings and
layout guidance (``@G``: ``layout_guidance`` G, one backward pass per call), with the mIoU of the shapes segmenter
on the same images (quality at equal layouts and seeds).

Uses the shipped ``gcdp-shapes`` weights (or ``--checkpoint``). Run:
``python benchmarks/gcdp.py [--layouts N] [--runs 100x5@0,10x5@1] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from semsynth import load_segmenter
from semsynth.datasets.shapes import Shapes
from semsynth.evaluators.miou import confusion_matrix, scores
from semsynth.methods.gcdp.method import GCDP

DEFAULT_RUNS = "100x5@0,10x5@0,10x5@1,10x2@1,25x2@0"


def run(checkpoint: str | None, steps: int, resample: int, guidance: float, layouts: list, device: str,
        segmenter) -> dict:
    """Images/s, CPU s per image and mIoU of one setting over ``layouts`` (seeds 0..N-1)."""
    method = GCDP(dataset="shapes", checkpoint=checkpoint, device=device, steps=steps, resample=resample,
                  layout_guidance=guidance)
    wall, cpu = time.perf_counter(), time.process_time()
    images = method.generate_batch(layouts, list(range(len(layouts))))
    if device == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    matrix = sum(confusion_matrix(segmenter.predict(image[None].to(device))[0].cpu(), layout.labels, 10)
                 for image, layout in zip(images, layouts))
    return {"steps": steps, "resample": resample, "guidance": guidance, "calls": steps * resample,
            "images_per_s": len(layouts) / wall, "cpu_s_per_image": cpu / len(layouts),
            "miou": scores(matrix)["value"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", type=int, default=8)
    parser.add_argument("--runs", default=DEFAULT_RUNS,
                        help="STEPSxRESAMPLE@LAYOUT_GUIDANCE,... (default: %(default)s)")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    data = Shapes(split="val")
    layouts = [data.layout(i) for i in range(args.layouts)]
    segmenter = load_segmenter("shapes-segnet", dataset="shapes", device=args.device)
    print(f"threads {torch.get_num_threads()}, device {args.device}, {args.layouts} layouts")
    for item in args.runs.split(","):
        calls, _, guidance = item.partition("@")
        steps, resample = (int(part) for part in calls.split("x"))
        result = run(args.checkpoint, steps, resample, float(guidance or 0), layouts, args.device, segmenter)
        print(f"{steps:4d} steps x {resample} resample, layout guidance {result['guidance']:g} "
              f"({result['calls']:4d} calls): "
              f"{result['images_per_s']:.3f} images/s, {result['cpu_s_per_image']:.1f} CPU s/image, "
              f"mIoU {result['miou']:.1f}")


if __name__ == "__main__":
    main()
