"""GCDP per-dataset settings as data: network configs (official constructor arguments), label mapping, schedules,
sampler and training defaults. Facts: shared/research/sdm_piti_gcdp.md section 3."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...catalog import gcdp as _catalog  # noqa: F401  (registers the weights entries)
from ..base import Preset, lookup_preset
from ..settings import Setting
from .model import BASE_JOINT_UNET, SR_JOINT_UNET

OFFICIAL_STEPS, OFFICIAL_RESAMPLE = 100, 5

# What the sampler settings accept. ``steps``: sampling steps of the image clock (the label chain gets a schedule
# of as many steps, built as the official sample schedulers are); ``resample``: passes per step of the
# outpainting (the official default 5); ``guidance``: classifier-free scale on eps and label logits (used only
# with a prompt: without one the conditional and null passes coincide); ``known_level``: the known modality is
# pasted noised to this fraction of the current time (1: the official sampler; 0: clean at every step);
# ``layout_guidance``: reconstruction guidance toward the known layout through the model's own label head (0: the
# official sampler; see ``sampling.layout_guided``).
SETTING_TYPES = {
    "steps": Setting(int, low=2, high=1000),
    "resample": Setting(int, low=1, high=20),
    "guidance": Setting(float, low=0.0, high=100.0),
    "caption": Setting(bool),
    "known_level": Setting(float, low=0.0, high=1.0),
    "layout_guidance": Setting(float, low=0.0, high=1000.0),
}

# Cityscapes labelIds -> GCDP's 20 classes (the 19 trainIds, everything else "unlabeled" = 19).
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                        25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}

# Small CPU configuration for 64x64 `shapes` (10 classes): every level downsamples first (memory-efficient UNet),
# so the ResNet blocks run at 32, 16 and 8 pixels; self-attention at 16 and 8, cross-attention on the caption
# tokens at 16 and 8.
SHAPES_64 = dict(dim=32, dim_mults=(1, 1, 2), num_resnet_blocks=(1, 1, 1), layer_attns=(False, False, True),
                 layer_cross_attns=(False, False, True), attn_heads=2, attn_dim_head=16, cond_dim=32,
                 text_embed_dim=32, max_text_len=16, attn_pool_num_latents=4)

# The official recipe (train.py + scripts): Adam lr 1.2e-4 betas (0.9, 0.99), text dropout 0.1, EMA 0.9999.
PAPER_TRAINING = dict(steps=300_000, batch_size=8, lr=1.2e-4, cond_drop=0.1, ema_decay=0.9999, p2_gamma=0.5,
                      crop=None)
SHAPES_TRAINING = dict(PAPER_TRAINING, steps=3500, batch_size=8, lr=5e-4, ema_decay=0.995, crop=32)
TRAINING_TYPES = {"steps": Setting(int, low=1, high=10**9), "batch_size": Setting(int, low=1, high=65536),
                  "lr": Setting(float, low=0.0, high=1.0), "cond_drop": Setting(float, low=0.0, high=1.0),
                  "ema_decay": Setting(float, low=0.0, high=1.0), "p2_gamma": Setting(float, low=0.0, high=2.0),
                  "crop": Setting(int, low=8, high=65536)}


@dataclass(frozen=True)
class GCDPPreset(Preset):
    """How GCDP runs on one dataset: the base network ``config`` at ``base_size``; ``label_map`` maps dataset ids
    to the model's ``num_classes`` (None: identity; unmapped ids go to ``num_classes - 1``); ``schedule`` and
    ``label_schedule`` name the log-SNR schedules; ``text`` is 'words' (the shipped caption encoder) or 't5';
    ``sr_weights``/``sr_config`` the optional super-resolution stage to the dataset resolution."""

    num_classes: int
    config: dict[str, Any]
    base_size: tuple[int, int]
    schedule: str = "cosine"
    label_schedule: str = "cosine"
    label_map: dict[int, int] | None = None
    text: str = "words"
    sr_weights: str | None = None
    sr_config: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=lambda: dict(PAPER_TRAINING))

    def net_config(self) -> dict[str, Any]:
        return dict(self.config, num_classes=self.num_classes)

    def model_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Dataset class ids ``[..., H, W]`` -> model classes (ignored pixels -> the last class when mapped)."""
        if self.label_map is None:
            return labels.clamp(0, self.num_classes - 1)
        table = torch.full((max(256, int(labels.max()) + 1),), self.num_classes - 1, dtype=torch.long)
        for source, target in self.label_map.items():
            table[source] = target
        return table[labels.clamp(min=0)]

    def dataset_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Model classes -> dataset ids: the mapped id of each class, the first unmapped id for the last class."""
        if self.label_map is None:
            return labels
        inverse = {target: source for source, target in sorted(self.label_map.items(), reverse=True)}
        spare = next(i for i in range(256) if i not in self.label_map)
        table = torch.tensor([inverse.get(c, spare) for c in range(self.num_classes)])
        return table[labels]


def _official(guidance: float) -> dict[str, Any]:
    return {"steps": OFFICIAL_STEPS, "resample": OFFICIAL_RESAMPLE, "guidance": guidance, "caption": False,
            "known_level": 1.0, "layout_guidance": 0.0}


PRESETS: dict[str, GCDPPreset] = {
    # Cityscapes: trained with linear/linear (test_base.sh omits the flags; the linear image schedule is right).
    "cityscapes": GCDPPreset(weights="gcdp-cityscapes-base", num_classes=20,
                             config=dict(BASE_JOINT_UNET, text_embed_dim=1024), base_size=(128, 256),
                             schedule="linear", label_schedule="linear", label_map=CITYSCAPES_TRAIN_IDS, text="t5",
                             sr_weights="gcdp-cityscapes-sr", sr_config=dict(SR_JOINT_UNET, text_embed_dim=1024),
                             settings=_official(3.0)),
    # shapes: 10 steps x 5 outpainting passes (50 network calls). Measured with the first shipped weights on the
    # first 4 val layouts (benchmarks/gcdp.py, 1 thread): segmenter mIoU 45.7 at 25x1, 55.1 at 25x2, 67.4 at 10x5,
    # 69.3 at 25x5, 67.3 at 50x5: the resampling passes matter more than the step count. With the caption of the
    # layout's classes (``caption``: the prompt the shapes model was trained with, no information beyond the
    # layout), the shipped weights give mIoU 88.2 instead of 76.5 on the first 12 val layouts (10 x 5; 89.1 at
    # 10 x 10; guidance 3 lowers it to 80.9). ``known_level`` stays official (1): below 1 the layout is followed
    # more closely but the samples of a layout lose their variety. With the official paste the label map the model
    # sees at the early steps is nearly uniform noise, so the image's coarse structure follows it loosely. On the
    # first 32 val layouts (one sample each, 10 x 5) mIoU / FID at levels 1, 0.75, 0.5, 0.25, 0 were 81.2 / 1.12,
    # 91.9 / 1.27, 93.3 / 1.36, 93.5 / 1.44, 92.5 / 1.40 (FID on 32 images: noise of about +-0.4); on the first 16
    # layouts, 4 samples each, LPIPS diversity was 0.585 at level 1 and 0.221 at 0.75 (the true process: 0.75);
    # layout_from_image agreed with the true layout on 95.0% (level 1) and 96.0% (0.5) of the pixels of 12 images.
    # ``layout_guidance`` 1 (reconstruction guidance through the label head) is the shapes default: with the
    # shipped weights on the first 32 val layouts (one sample each) mIoU / FID went from 81.2 / 1.12 (official
    # sampler) to 98.0 / 1.19, and on the first 16 layouts x 4 samples from 79.0 / 2.52 / LPIPS 0.585 to
    # 97.7 / 2.14 / 0.153 (scale 0.5: 97.2 / 2.14 / 0.170; 0.25: 96.6 / 2.17 / 0.186). The official sampler's
    # diversity comes mostly from wrong classes (sample grids); guided, the samples of a layout differ in tint.
    # Fewer passes do not pay: 2 passes at scale 1 gave 96.7 / 2.87 on the 32 layouts.
    "shapes": GCDPPreset(weights="gcdp-shapes", num_classes=10, config=SHAPES_64, base_size=(64, 64),
                         schedule="cosine", label_schedule="cosine",
                         settings={"steps": 10, "resample": OFFICIAL_RESAMPLE, "guidance": 1.0, "caption": True,
                                   "known_level": 1.0, "layout_guidance": 1.0},
                         training=SHAPES_TRAINING),
}


def preset_for(dataset: str) -> GCDPPreset:
    """The GCDP preset of ``dataset`` or a UserError naming the known ones."""
    return lookup_preset("gcdp", PRESETS, dataset)
