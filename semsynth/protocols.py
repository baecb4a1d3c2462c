"""Evaluation protocols as data: everything that moves a number, pinned per dataset.

A protocol names, for each dataset, which metrics are recorded under which keys and with which options (backbone,
FID mode and reference split, segmenter and its input size, diversity pairing), how many layouts and samples per
layout are generated, and how images are resized. ``semsynth-v1`` is the suite's unified protocol; per-paper
presets reproduce what each paper did. Every recorded number names its protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import UserError


@dataclass(frozen=True)
class MetricSpec:
    """One recorded metric: the registry name of the metric and its constructor options."""

    metric: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetProtocol:
    """What a protocol pins for one dataset."""

    metrics: dict[str, MetricSpec]
    samples_per_layout: int = 1
    n_layouts: int | None = None          # None: the whole split
    split: str = "val"
    notes: str = ""


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    datasets: dict[str, DatasetProtocol]

    def for_dataset(self, dataset: str) -> DatasetProtocol:
        if dataset not in self.datasets:
            raise UserError(f"protocol '{self.name}' does not cover dataset '{dataset}'; it covers "
                            f"{', '.join(sorted(self.datasets))} (see `bench list protocols`)")
        return self.datasets[dataset]


PROTOCOLS: dict[str, Protocol] = {}


def register(protocol: Protocol) -> Protocol:
    PROTOCOLS[protocol.name] = protocol
    return protocol


def get(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UserError(f"unknown protocol '{name}'; known: {', '.join(sorted(PROTOCOLS))}")
    return PROTOCOLS[name]


SHAPES_V1 = DatasetProtocol(
    metrics={
        "fid": MetricSpec("fid", {"backbone": "shapes-segnet", "mode": "shapes-segnet-pool",
                                  "reference_split": "train", "reference_limit": 2000}),
        "lpips": MetricSpec("lpips", {"backbone": "shapes-segnet"}),
        "miou": MetricSpec("miou", {"segmenter": "shapes-segnet"}),
        # per-segment texture against the true process (real train images through the same estimator)
        "texture": MetricSpec("texture", {"reference_split": "train", "reference_limit": 500}),
        # class / instance diversity: they require the control API (resample); runs of other methods leave them out
        "mcsd": MetricSpec("mcsd", {"backbone": "shapes-segnet", "samples": 3, "max_layouts": 20}),
        "misd": MetricSpec("misd", {"backbone": "shapes-segnet", "samples": 3, "max_layouts": 20}),
    },
    samples_per_layout=4,
    n_layouts=None,
    notes="shapes track: the shipped shapes network defines FID features, the diversity distance and mIoU; "
          "numbers are comparable only within the shapes track",
)


LEGACY_SEGMENTERS = {"ade20k": "upernet-r101", "cityscapes": "drn-d-105", "cocostuff": "deeplabv2-r101",
                     "celebamask": "unet-celebamask"}
MASK2FORMER_DATASETS = ("ade20k", "cityscapes")
INCEPTION = {"clean": {"backbone": "inception-clean", "mode": "clean"},
             "legacy_pytorch": {"backbone": "inception-legacy-pytorch", "mode": "legacy_pytorch"}}


def _preset(dataset: str, fid: dict[str, Any] | None, extra: dict[str, MetricSpec], samples_per_layout: int,
            n_layouts: int | None = None, mask2former: bool = False, notes: str = "") -> DatasetProtocol:
    """One dataset's entry: FID (if any), the paper's legacy segmenter, optional Mask2Former mIoU, extras."""
    metrics = {"fid": MetricSpec("fid", fid)} if fid is not None else {}
    metrics.update(extra)
    metrics["miou"] = MetricSpec("miou", {"segmenter": LEGACY_SEGMENTERS[dataset]})
    if mask2former and dataset in MASK2FORMER_DATASETS:
        metrics["miou_mf"] = MetricSpec("miou", {"segmenter": "mask2former-swin-l"})
    return DatasetProtocol(metrics=metrics, samples_per_layout=samples_per_layout, n_layouts=n_layouts, notes=notes)


def _v1(dataset: str) -> DatasetProtocol:
    inception = {**INCEPTION["clean"], "reference_split": "val"}
    return _preset(dataset, inception, {
        "kid": MetricSpec("kid", {**inception, "seed": 0}),
        "swav_fid": MetricSpec("swav_fid", {"reference_split": "val"}),
        "lpips": MetricSpec("lpips", {"backbone": "lpips-alex", "pairing": "all-pairs"}),
    }, samples_per_layout=10, mask2former=True)


register(Protocol(
    name="semsynth-v1",
    description="unified protocol: benchmark resolution per dataset, clean-fid 'clean' FID (and seeded KID, "
                "SwAV-FID) against the val split at that resolution, LPIPS all-pairs over K=10 samples per layout, "
                "Mask2Former and the paper's legacy segmenter, dataset-wide confusion matrix",
    datasets={"shapes": SHAPES_V1, **{name: _v1(name) for name in LEGACY_SEGMENTERS}},
))


def _sdm(dataset: str) -> DatasetProtocol:
    return _preset(dataset, {**INCEPTION["legacy_pytorch"], "reference_split": "val", "pre_resize": [256, 256],
                             "pre_resize_method": "skimage"},
                   {"lpips": MetricSpec("lpips", {"backbone": "lpips-alex", "pairing": "all-pairs"})},
                   samples_per_layout=10, n_layouts=2000 if dataset in ("ade20k", "celebamask") else None,
                   notes="step by step as SDM's evaluations/: real and generated images resized to 256x256 "
                         "with scikit-image's resize as SDM did (squashing Cityscapes; float, not re-quantised; "
                         "the extra `paper`), pytorch-fid Inception (clean-fid legacy_pytorch) against the val split; "
                         "--num_samples 2000; LPIPS AlexNet over all 45 pairs of 10 samples per layout at [-1, 1] "
                         "(SDM's StarGAN-v2 script resized to 299 with ImageNet normalisation first: not copied)")


register(Protocol(
    name="sdm-paper",
    description="SDM (Wang et al. 2022) as released: skimage-style resize to 256x256 for every dataset, "
                "pytorch-fid Inception vs val, 2000 samples, LPIPS all-pairs of 10 samples",
    datasets={name: _sdm(name) for name in LEGACY_SEGMENTERS},
))


def _inade(dataset: str) -> DatasetProtocol:
    return _preset(dataset, {**INCEPTION["legacy_pytorch"], "reference_split": "train"},
                   {"lpips": MetricSpec("lpips", {"backbone": "lpips-alex", "pairing": "random-groups",
                                                  "pairs": 10, "seed": 0})},
                   samples_per_layout=10,
                   notes="INADE: FID against statistics of the TRAIN split (its shipped train_mu_si) at the "
                         "benchmark resolution with pytorch-fid's Inception; LPIPS over 10 groups of samples, "
                         "10 random pairs of groups (seeded), averaged")


register(Protocol(
    name="inade-paper",
    description="INADE (Tan et al. 2021): pytorch-fid Inception against train-split statistics, LPIPS over 10 "
                "random pairs of 10 sample groups",
    datasets={name: _inade(name) for name in LEGACY_SEGMENTERS},
))


def _oasis(dataset: str) -> DatasetProtocol:
    return _preset(dataset, {**INCEPTION["legacy_pytorch"], "reference_split": "val"}, {}, samples_per_layout=1,
                   notes="OASIS utils/fid_scores.py: pytorch-fid Inception (bilinear to 299) on val images at the "
                         "training resolution; segmenters on generated images at that resolution with labels "
                         "resized by nearest neighbour. OASIS's LPIPS/MS-SSIM setting is unverified: not pinned")


register(Protocol(
    name="oasis",
    description="OASIS (Sushko et al. 2021): pytorch-fid Inception vs val at the training resolution, "
                "legacy segmenters; one sample per layout",
    datasets={name: _oasis(name) for name in ("ade20k", "cityscapes", "cocostuff")},
))


def _dpsims(dataset: str) -> DatasetProtocol:
    return _preset(dataset, {**INCEPTION["legacy_pytorch"], "reference_split": "val"}, {
        "swav_fid": MetricSpec("swav_fid", {"reference_split": "val"}),
        "lpips": MetricSpec("lpips", {"backbone": "lpips-alex", "pairing": "all-pairs"}),
    }, samples_per_layout=2, mask2former=True,
        notes="DP-SIMS (Berrada et al. 2024, supplement A.2-A.3): FID, mIoU_MF (Mask2Former Swin-L) next to the "
              "OASIS legacy segmenters at 256x256 / 256x512, SwAV-FID after Morozov et al. (Tab. S7/S8). Differences "
              "we cannot remove: the paper's FID references are its face-blurred copies of ADE20K and COCO-Stuff "
              "(unpublished; blurring costs OASIS 0.8 and 1.8 FID, Tab. S5), and it names no COCO-Stuff Mask2Former "
              "checkpoint (none is in the catalog, so COCO-Stuff has legacy mIoU only). Its FID implementation and "
              "LPIPS pairing are unstated (pytorch-fid Inception and two samples per layout assumed)")


register(Protocol(
    name="dpsims-paper",
    description="DP-SIMS (Berrada et al. 2024): FID, SwAV-FID (Morozov protocol), mIoU_MF and legacy mIoU, LPIPS",
    datasets={name: _dpsims(name) for name in ("ade20k", "cityscapes", "cocostuff")},
))


def _piti(dataset: str) -> DatasetProtocol:
    return _preset(dataset, None, {"clip_fid": MetricSpec("clip_fid", {"reference_split": "val"})},
                   samples_per_layout=1,
                   notes="PITI (Wang et al. 2022): FID-C, the Fréchet distance on CLIP ViT-B/32 embeddings "
                         "(clean-fid's CLIP option) against the val split at 256x256; PITI ships no evaluation code")


register(Protocol(
    name="piti-paper",
    description="PITI (Wang et al. 2022): FID-C with CLIP ViT-B/32 (clean-fid's CLIP option) vs val",
    datasets={name: _piti(name) for name in ("ade20k", "cocostuff")},
))


def _gcdp(segmenter: str, fid: dict[str, Any], notes: str) -> DatasetProtocol:
    """GCDP Table 1: FID, mIoU and FSD with one segmenter, for layout -> image runs and for joint generation
    (``bench run --task joint``, where mIoU and FSD take the generated layouts). FSD's reference is capped as FID's
    (the ``real`` row compares against the train split, a million images on shapes)."""
    limit = {"reference_limit": fid["reference_limit"]} if "reference_limit" in fid else {}
    return DatasetProtocol(metrics={
        "fid": MetricSpec("fid", fid),
        "miou": MetricSpec("miou", {"segmenter": segmenter}),
        "fsd": MetricSpec("fsd", {"segmenter": segmenter, "unit": "percent", "reference_split": "val", **limit}),
    }, samples_per_layout=1, notes=notes)


register(Protocol(
    name="gcdp-paper",
    description="GCDP (Park et al., ICCV 2023) Table 1: FID, mIoU and the Fréchet Segmentation Distance with "
                "HRNet-W48 on Cityscapes (shapes: the shapes segmenter)",
    datasets={
        "cityscapes": _gcdp("hrnet-w48", {**INCEPTION["clean"], "reference_split": "val"},
                            "GCDP ships no evaluation code: HRNet-W48 (paper sec. 4.5, Fig. 6) for mIoU and FSD; "
                            "FSD on per-image class pixel shares in percent (the paper's unit is unverified); "
                            "FID implementation not stated (clean-fid 'clean' assumed), 256x512 samples"),
        "shapes": _gcdp("shapes-segnet", dict(SHAPES_V1.metrics["fid"].options),
                        "shapes track of gcdp-paper: the shapes network for FID features, mIoU and FSD"),
    },
))


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in options.items())


def describe(name: str | None = None) -> str:
    """What each protocol (or only ``name``) pins, per dataset: metrics with options, samples, layouts, notes."""
    lines = []
    for protocol in ([get(name)] if name is not None else [PROTOCOLS[key] for key in sorted(PROTOCOLS)]):
        lines.append(f"{protocol.name}: {protocol.description}")
        for dataset, entry in protocol.datasets.items():
            layouts = "whole split" if entry.n_layouts is None else f"{entry.n_layouts} layouts"
            lines.append(f"  {dataset}: split {entry.split}, {layouts}, {entry.samples_per_layout} sample(s) per "
                         f"layout")
            for key, metric in entry.metrics.items():
                lines.append(f"    {key}: {metric.metric}({_options(metric.options)})")
            if entry.notes:
                lines.append(f"    notes: {entry.notes}")
    return "\n".join(lines)
