"""INADE per-dataset settings as data: the official options of each released model, its checkpoint names in the
weights catalog, and the small ``shapes`` configuration trained by this suite."""

from __future__ import annotations

from typing import Any

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

# Official checkpoint names per dataset: (generator weights, encoder weights) in the weights catalog.
CHECKPOINTS: dict[str, tuple[str, str | None]] = {
    "ade20k": ("inade-ade20k-G", "inade-ade20k-E"),
    "cityscapes": ("inade-cityscapes-G", "inade-cityscapes-E"),
    "celebamask": ("inade-celeba-G", "inade-celeba-E"),
    "shapes": ("inade-shapes", None),
}


def options_for(dataset: str) -> dict[str, Any]:
    """The network options INADE uses on ``dataset``."""
    return dict(SHAPES_OPTIONS if dataset == "shapes" else OFFICIAL_OPTIONS[dataset])
