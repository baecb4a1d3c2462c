"""The mIoU ceiling the ``shapes`` upsampler sets for the PITI cascade: the ``shapes-segnet`` mIoU (and per-class
IoU) of the first N val images as they are, after a bicubic resize of their 8-bit 32x32 version back to 64x64, and
after the upsampler fed that 32x32 version (``PITI.upsample`` with the shapes settings: DDIM eta 1 on the
fast27 chain; two seeds each), with and without the low-res projection (``up_consistency`` 1, the shapes default,
and 0).

Run: ``python benchmarks/piti_upsampler_ceiling.py [--count N] [UPSAMPLER_FILE ...]`` (default: the shipped one).
"""

from __future__ import annotations

import argparse
import itertools

import torch
import torch.nn.functional as F


def segmenter_scores(images: torch.Tensor, labels: torch.Tensor) -> str:
    """'mIoU [per-class IoU]' of uint8 ``images`` against ``labels`` under the shapes segmenter."""
    from semsynth import load_segmenter
    from semsynth.evaluators.miou import confusion_matrix, scores

    predicted = load_segmenter("shapes-segnet", dataset="shapes").predict(images)
    result = scores(confusion_matrix(predicted, labels, 10))
    return f"{result['value']:5.1f} {[round(iou) if iou is not None else None for iou in result['per_class']]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    from semsynth.datasets.shapes import Shapes
    from semsynth.methods.piti import PITI
    from semsynth.methods.piti.presets import PRESETS
    from semsynth.methods.piti.sampling import downsample, quantise
    from semsynth.methods.sdm.method import to_uint8

    examples = [Shapes(split="val")[index] for index in range(args.count)]
    labels = torch.stack([example.layout.labels for example in examples])
    images = torch.stack([example.image for example in examples]).float() / 127.5 - 1
    low_res = quantise(downsample(images, PRESETS["shapes"].base_size))
    print(f"real images        {segmenter_scores(to_uint8(images), labels)}")
    bicubic = F.interpolate(low_res, size=images.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)
    print(f"bicubic 32 -> 64   {segmenter_scores(to_uint8(bicubic), labels)}")
    for path, consistency in itertools.product(args.files or [None], (0, 1)):
        method = PITI("shapes", up_consistency=consistency, **({"upsample_weights": path} if path else {}))
        refs = method.refs([example.layout for example in examples])
        samples = torch.cat([method.upsample(low_res[i:i + 1], refs[i:i + 1],
                                             [torch.Generator().manual_seed(seed * 10_000 + i)])
                             for seed in range(2) for i in range(len(examples))])
        print(f"upsampler {path or 'shipped'}, projection {consistency}: "
              f"{segmenter_scores(to_uint8(samples), labels.repeat(2, 1, 1))}")


if __name__ == "__main__":
    main()
