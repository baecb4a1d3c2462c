"""SDM per-dataset settings as data: network config (official constructor arguments), label mapping and input
channels, sampler and training defaults, and the weights-catalog entries. Paper/code facts:
shared/research/sdm_piti_gcdp.md section 1."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...datasets.conventions import LabelConvention, apply_convention
from ...types import Layout
from ..base import Preset, lookup_preset
from ..inputs import semantics
from ..settings import Setting


# The released 256x256 configuration (scripts/ade20k.sh, scripts/celeba.sh): create_model turns
# attention_resolutions "32,16,8" into the downsample factors 8, 16, 32.
OFFICIAL_256 = dict(in_channels=3, model_channels=256, out_channels=6, num_res_blocks=2,
                    attention_resolutions=(8, 16, 32), dropout=0.0, channel_mult=(1, 1, 2, 2, 4, 4),
                    num_heads=1, num_head_channels=64, num_heads_upsample=-1, use_scale_shift_norm=True,
                    resblock_updown=True, use_new_attention_order=False)

# Small CPU configuration for the 64x64 `shapes` dataset (10 classes + edge channel): 1.37M parameters,
# ~2.4 GFLOP per forward, 2.7 MB in fp16. 8 GroupNorm groups instead of the official 32: with 32 channels, 32 groups
# normalise every channel alone, which erases each image's mean colour at every block; the samples then drift in
# colour (full protocol with the 32-group weights: FID 4.26, mIoU 78.9).
SHAPES_64 = dict(OFFICIAL_256, model_channels=32, num_res_blocks=1, attention_resolutions=(4,), channel_mult=(1, 1, 2),
                 num_head_channels=32, spade_hidden=16, norm_groups=8)


# Stage 1 of the paper recipe (scripts/ade20k.sh: lr 1e-4, batch 4 per GPU x 8); steps are the user's choice.
PAPER_TRAINING = dict(steps=100_000, batch_size=4, lr=1e-4, drop_rate=0.0, ema_decay=0.9999, crop=None)

# What the training options accept (network arguments are checked against the preset config's types).
TRAINING_TYPES = {"steps": Setting(int, low=1, high=10**9), "batch_size": Setting(int, low=1, high=65536),
                  "lr": Setting(float, low=0.0, high=1.0), "drop_rate": Setting(float, low=0.0, high=1.0),
                  "ema_decay": Setting(float, low=0.0, high=1.0), "crop": Setting(int, low=1, high=65536)}

# `shapes` on a 2-core CPU: classifier-free dropout from the start, a short EMA, 32x32 crops for cheap steps
# (about 0.1 s a step at batch 8). The shipped weights are two runs: SHAPES_RECIPE in semsynth/catalog/sdm.py.
SHAPES_TRAINING = dict(steps=14_000, batch_size=8, lr=2e-4, drop_rate=0.2, ema_decay=0.999, crop=32)


# Edge source of a preset -> the instance map of its label convention.
EDGE_SOURCES = {None: "none", "instances": "dataset", "labels": "classes", "instances_clipped": "dataset"}


@dataclass(frozen=True)
class SDMPreset(Preset):
    """How SDM runs on one dataset: ``label_channels`` one-hot channels (+1 with an ``edge`` source), id mapping
    (``label_shift``, ``ignore_to``), network ``config``, ``training`` defaults; the base class holds the weights
    entry and the paper's sampler ``settings``.

    ``edge``: None (ADE20K), 'instances' (instance map), 'labels' (CelebAMask-HQ uses the label map as instance
    map) or 'instances_clipped' (Cityscapes, COCO-Stuff: ids read through an 8-bit conversion, so ids above 255
    become 255 and touching thing instances merge). ``label_shift`` -1 is ADE20K's shift (raw 0 "other" -> 150),
    ``ignore_to`` the class of ignored pixels (COCO-Stuff 255 -> 182; None leaves them out of the one-hot)."""

    label_channels: int
    edge: str | None
    config: dict[str, Any]
    label_shift: int = 0
    ignore_to: int | None = None
    training: dict[str, Any] = field(default_factory=lambda: dict(PAPER_TRAINING))

    def __post_init__(self) -> None:
        if self.edge not in EDGE_SOURCES:
            raise ValueError(f"unknown edge source '{self.edge}'; known: {tuple(EDGE_SOURCES)}")
        if self.label_shift not in (0, -1):
            raise ValueError(f"label_shift must be 0 or -1 (ADE20K's shift), got {self.label_shift}")

    @property
    def cond_channels(self) -> int:
        return self.label_channels + (self.edge is not None)

    def net_config(self) -> dict[str, Any]:
        return dict(self.config, num_classes=self.cond_channels)

    @property
    def convention(self) -> LabelConvention:
        """The official loader's id mapping for this dataset."""
        return LabelConvention(ade_shift=self.label_shift == -1, unknown_index=self.ignore_to,
                               instances=EDGE_SOURCES[self.edge], clip_uint8=self.edge == "instances_clipped")

    def channels(self, layout: Layout) -> torch.Tensor:
        """SDM's network input for ``layout``, as the official loader builds it: float32 ``[cond_channels, H, W]``,
        the one-hot of the mapped labels, then the edge channel (all zero when the layout has no instance map)."""
        labels, instances = apply_convention(layout, self.convention)
        if self.edge is not None and instances is None:
            instances = torch.zeros_like(labels)   # no instance map: an all-zero edge channel
        return semantics(labels, instances if self.edge is not None else None, self.label_channels,
                         layout.label_space.ignore_index)


SAMPLERS = ("ddpm", "ddim", "dpm-solver++")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BASE_STEPS = 1000   # the trained diffusion chain; samplers visit at most this many steps

# What each sampler setting accepts: guidance is the classifier-free scale s (0: unconditional, 1: conditional
# only; the papers use 1.5-2), eta DDIM's noise scale (0: deterministic, 1: DDPM-like).
SETTING_TYPES = {
    "sampler": Setting(str, choices=SAMPLERS),
    "steps": Setting(int, low=1, high=BASE_STEPS),
    "guidance": Setting(float, low=0.0, high=100.0),
    "eta": Setting(float, low=0.0, high=1.0),
    "dtype": Setting(str, choices=tuple(DTYPES)),
}


# Official sampling: full 1000-step ancestral chain (no respacing), clip_denoised, guidance s from the scripts.
def _official(guidance: float) -> dict[str, Any]:
    return {"sampler": "ddpm", "steps": 1000, "guidance": guidance, "eta": 0.0, "dtype": "float32"}


PRESETS: dict[str, SDMPreset] = {
    # ADE20K: raw 0 "other" -> class 150 (label - 1 on uint8), no instance channel: 151 channels.
    "ade20k": SDMPreset(151, None, OFFICIAL_256, weights="sdm-ade20k", label_shift=-1, settings=_official(1.5)),
    # CelebAMask-HQ: 19 classes + edges of the label map itself: 20 channels.
    "celebamask": SDMPreset(19, "labels", OFFICIAL_256, weights="sdm-celebamask", settings=_official(1.5)),
    # Cityscapes (no official script or checkpoint): 35 labelIds + edges of 8-bit-clipped instance ids, at 256x512.
    "cityscapes": SDMPreset(35, "instances_clipped", OFFICIAL_256, weights="sdm-cityscapes", settings=_official(2.0)),
    # COCO-Stuff: 182 ids + unlabelled 255 -> 182, + edges of 8-bit-clipped instance ids: 184 channels.
    "cocostuff": SDMPreset(183, "instances_clipped", OFFICIAL_256, weights="sdm-cocostuff", ignore_to=182,
                           settings=_official(1.5)),
    # Guidance 1.5 was chosen on the first 100 val layouts x 2 samples (FID / diversity / mIoU: 0.77 / 0.76 / 97.5
    # at s = 1, 0.60 / 0.55 / 99.7 at s = 1.5, 0.62 / 0.47 / 99.9 at s = 2; the oracle: 0.43 / 0.75 / 99.7).
    "shapes": SDMPreset(10, "instances", SHAPES_64, weights="sdm-shapes",
                        settings={"sampler": "dpm-solver++", "steps": 10, "guidance": 1.5, "eta": 0.0,
                                  "dtype": "float32"},
                        training=SHAPES_TRAINING),
}


def preset_for(dataset: str) -> SDMPreset:
    """The SDM preset of ``dataset`` or a UserError naming the known ones."""
    return lookup_preset("sdm", PRESETS, dataset)


