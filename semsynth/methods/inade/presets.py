"""INADE per-dataset settings as data: the official options of each released model, its files in the weights
catalog, and the small ``shapes`` configuration trained by this suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...datasets.conventions import LabelConvention
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


