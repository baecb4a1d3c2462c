"""INADE per-dataset settings as data: the official options of each released model, its files in the weights
catalog, and the small ``shapes`` configuration trained by this suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...datasets.conventions import LabelConvention
from ...weights import WeightSpec, register
from ..base import Preset, lookup_preset

# INADE's id mapping on every dataset: re-numbered instance ids (official make_instances.py), one instance per
# class where the layout has no instance map (official rule for ADE20K, CelebAMask-HQ); labels unshifted.
CONVENTION = LabelConvention(instances="dataset_or_classes", renumber=True)

# Official options of the released checkpoints (tzt101/INADE data/*_dataset.py and options/*.py).
_BASE = {"ngf": 64, "z_dim": 256, "noise_nc": 64, "norm_G": "spectralspadesyncbatch3x3", "norm_mode": "inade",
         "no_instance": False, "crop_size": 256, "aspect_ratio": 1.0, "num_upsampling_layers": "normal",
         "contain_dontcare_label": False}

OFFICIAL_OPTIONS: dict[str, dict[str, Any]] = {
    "ade20k": {**_BASE, "label_nc": 150, "contain_dontcare_label": True},
    "cityscapes": {**_BASE, "label_nc": 35, "crop_size": 512, "aspect_ratio": 2.0, "num_upsampling_layers": "more"},
    "celebamask": {**_BASE, "label_nc": 19},
}

# A ~0.7M-parameter INADE for the 64x64 `shapes` dataset (10 classes + edge channel): 4 upsamplings from 4x4.
SHAPES_OPTIONS: dict[str, Any] = {**_BASE, "label_nc": 10, "ngf": 6, "z_dim": 64, "noise_nc": 16, "crop_size": 64,
                                  "num_upsampling_layers": "normal"}


@dataclass(frozen=True)
class INADEPreset(Preset):
    """How INADE runs on one dataset: the official network ``options``; the base class holds the generator's
    weights entry, ``encoder_weights`` names the remapping encoder's (None: the generator file holds it)."""

    options: dict[str, Any]
    encoder_weights: str | None = None


PRESETS: dict[str, INADEPreset] = {
    "ade20k": INADEPreset(OFFICIAL_OPTIONS["ade20k"], weights="inade-ade20k-G", encoder_weights="inade-ade20k-E"),
    "cityscapes": INADEPreset(OFFICIAL_OPTIONS["cityscapes"], weights="inade-cityscapes-G",
                              encoder_weights="inade-cityscapes-E"),
    "celebamask": INADEPreset(OFFICIAL_OPTIONS["celebamask"], weights="inade-celeba-G",
                              encoder_weights="inade-celeba-E"),
    "shapes": INADEPreset(SHAPES_OPTIONS, weights="inade-shapes"),
}


def options_for(dataset: str) -> dict[str, Any]:
    """The network options INADE uses on ``dataset`` (a UserError names the datasets it has presets for)."""
    return dict(lookup_preset("inade", PRESETS, dataset).options)


_SOURCE = ("https://github.com/tzt101/INADE (README 'Generating Images Using Pretrained Model': OneDrive folder "
           "checkpoints/inade_<dataset>/)")
_LICENCE = "no licence file in tzt101/INADE; the code derives from NVlabs/SPADE (CC BY-NC-SA 4.0)"

for _dataset, _folder in (("ade20k", "inade_ade20k"), ("cityscapes", "inade_cityscapes"), ("celeba", "inade_celeba")):
    register(WeightSpec(name=f"inade-{_dataset}-G", file=f"{_folder}/best_net_G.pth", url=_SOURCE, licence=_LICENCE,
                        users=("inade",), note="official INADE generator"))
    register(WeightSpec(name=f"inade-{_dataset}-E", file=f"{_folder}/best_net_E.pth", url=_SOURCE, licence=_LICENCE,
                        users=("inade",), aliases=(f"{_folder}/best_net_IE.pth",),
                        note="official INADE remapping encoder (README: rename best_net_IE.pth)"))

register(WeightSpec(
    name="inade-shapes", file="inade_shapes.safetensors", url="shipped with semsynth-bench", licence="MIT",
    users=("inade",), shipped=True, sha256="ec82b2250bf91d392445c52996b398cfdb3154fb8b13e7304fef5a2260f6d83d",
    note="small INADE (generator + encoder, ngf 6) trained on shapes with semsynth/methods/inade/train.py: 2700 "
         "steps of batch 8, lr 4e-4, shapes-segnet perceptual loss, one CPU thread, 12 min (command in train.py)"))

VGG19 = register(WeightSpec(
    name="vgg19-torchvision", file="vgg19-dcbc6f2e.pth", url="https://download.pytorch.org/models/vgg19-dcbc6f2e.pth",
    licence="BSD-3-Clause (torchvision); VGG weights CC BY 4.0", users=("inade/train perceptual loss",),
    note="torchvision VGG19 IMAGENET1K_V1, the perceptual network of INADE training on real datasets"))
