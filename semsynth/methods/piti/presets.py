"""PITI per-dataset settings as data: the official network configs, the small `shapes` cascade, sampler settings
(the official 250-step base + fast27 upsampler, or our fast samplers), training recipes and the weights entries.
Facts: shared/research/sdm_piti_gcdp.md section 2."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...catalog import piti as _catalog  # noqa: F401  (registers the weights entries)
from ..base import Preset, lookup_preset
from ..settings import Setting
from .model import OFFICIAL_ENCODER
from .sampling import GUIDANCE_MODES, SAMPLERS

# script_util.model_and_diffusion_defaults: GLIDE base 64x64 and upsampler 64->256 (attention "32,16,8" as
# downsample factors of the base (2, 4, 8) and of the upsampler (8, 16, 32)).
_DECODER = dict(in_channels=3, model_channels=192, out_channels=6, dropout=0.1, num_heads=1, num_head_channels=64,
                num_heads_upsample=-1, use_scale_shift_norm=True, resblock_updown=True)
OFFICIAL_CONFIGS = {
    "base": dict(decoder=dict(_DECODER, num_res_blocks=3, channel_mult=[1, 2, 3, 4], attention_resolutions=[2, 4, 8]),
                 encoder=dict(OFFICIAL_ENCODER, in_channels=3), upsample=False),
    "upsample": dict(decoder=dict(_DECODER, num_res_blocks=2, channel_mult=[1, 1, 2, 2, 4, 4],
                                  attention_resolutions=[8, 16, 32]),
                     encoder=dict(OFFICIAL_ENCODER, in_channels=3), upsample=True),
}

# `shapes` (64x64 layouts, 10 classes): base at 32x32, upsampler 32 -> 64; the mask enters at 64x64 for both
# stages (as PITI's 256x256 mask does), as tokens of width 64. The base's encoder keeps PITI's 16x16 = 256 tokens (one
# per 4x4 pixels of the mask); the upsampler's gives 8x8 = 64. The base's attention adds the token prior
# (``token_locality``; not in GLIDE/PITI, whose decoder learns where each token belongs over 200k steps of batch 128):
# with GLIDE's plain attention the shapes base learnt to ignore its mask in the few thousand CPU steps it gets
# (README, PITI section; benchmarks/piti_condition_paths.py). With 8x8 tokens the base drew thin shapes badly: after
# the same 6000 stage-2 steps (first 50 val layouts x 2, the shapes sampling default, the shipped upsampler) 8x8
# tokens gave mIoU 81.3 (crosses 61), 16x16 tokens 90.9 (crosses 75).
SHAPES_ENCODER = dict(in_channels=3, cnn_channels=[16, 32, 64, 64], width=64, layers=2, heads=4, tokens=64)
SHAPES_BASE_ENCODER = dict(SHAPES_ENCODER, cnn_channels=[16, 32, 64], tokens=256)
_SMALL = dict(in_channels=3, model_channels=32, out_channels=6, dropout=0.0, num_heads=1, num_head_channels=32,
              num_heads_upsample=-1, use_scale_shift_norm=True, resblock_updown=True, norm_groups=8)
SHAPES_CONFIGS = {
    "base": dict(decoder=dict(_SMALL, num_res_blocks=1, channel_mult=[1, 1, 2], attention_resolutions=[2, 4],
                              token_locality=2.0),
                 encoder=SHAPES_BASE_ENCODER, upsample=False),
    "upsample": dict(decoder=dict(_SMALL, model_channels=16, num_head_channels=32, num_res_blocks=1,
                                  channel_mult=[1, 2, 2, 4], attention_resolutions=[8]),
                     encoder=SHAPES_ENCODER, upsample=True, residual=True, layout_input=True),
}

# What each setting accepts. Base: sampler, steps (respaced chain for ddpm/ddim, evaluations for dpm-solver++),
# guidance scale s and mode; upsampler: up_sampler, up_steps (27 with ddpm/ddim is the official 'fast27'),
# up_temperature (scale of its initial noise).
SETTING_TYPES = {
    "sampler": Setting(str, choices=SAMPLERS), "steps": Setting(int, low=2, high=1000),
    "guidance": Setting(float, low=0.0, high=100.0), "guidance_mode": Setting(str, choices=tuple(GUIDANCE_MODES)),
    "guidance_t_max": Setting(float, low=0.0, high=1000.0),
    "eta": Setting(float, low=0.0, high=1.0),
    "up_sampler": Setting(str, choices=SAMPLERS), "up_steps": Setting(int, low=2, high=1000),
    "up_temperature": Setting(float, low=0.0, high=2.0), "up_consistency": Setting(int, low=0, high=10),
    "upsample_weights": Setting(str),
}
OFFICIAL_SETTINGS = dict(sampler="ddpm", steps=250, guidance=1.3, guidance_mode="official", guidance_t_max=1000.0,
                         eta=0.0, up_sampler="ddpm", up_steps=27, up_temperature=0.997, up_consistency=0,
                         upsample_weights="piti-upsample-mask")


@dataclass(frozen=True, kw_only=True)
class PITIPreset(Preset):
    """PITI on one dataset: ``configs`` ('base', 'upsample': ``PITIModel`` arguments), the base resolution
    (``base_size``; the upsampler returns the dataset's), the label ids coloured by the palette rule
    (``num_classes``; others stay black), the noise schedules and the training recipe."""

    configs: dict[str, dict[str, Any]]
    base_size: int
    num_classes: int
    schedules: dict[str, str] = field(default_factory=lambda: {"base": "cosine", "upsample": "linear"})
    training: dict[str, Any] = field(default_factory=dict)


PAPER_TRAINING = {
    "prior": None,  # GLIDE base.pt / upsample.pt
    "1": dict(steps=200_000, batch_size=128, lr=3.5e-5, uncond_p=0.0, ema_decay=0.9999),
    "1b": dict(steps=60_000, batch_size=128, lr=2e-5, uncond_p=0.2, ema_decay=0.9999),
    "2": dict(steps=200_000, batch_size=128, lr=3.5e-5, uncond_p=0.2, ema_decay=0.9999),
    "upsample": dict(steps=200_000, batch_size=32, lr=1e-5, uncond_p=0.0, ema_decay=0.9999, perceptual=0.004,
                     adversarial=0.01, adv_start=100, ndf=64),
}
# `shapes` recipe (commands: catalog/piti.py SHAPES_RECIPE): about 5 stage-2 steps a second on one CPU thread. The
# shipped base (16x16 tokens) trains stage 2 for 56000 steps, the learning rate constant, then decaying linearly
# over the last 14000 (`lr_decay_steps`; run as 6000, then resumed to 15000, 21000, 27000, 36000, 42000 at a
# constant rate and 56000 with the decay: about 3 hours). First 100 val layouts x 2 (FID / mIoU / diversity), the
# decayed tail against the constant-rate 42000-step base (0.83 / 96.6 / 0.72 at guidance 2 on every step): 8000
# decayed steps (to 50000) 0.94 / 96.9 / 0.61 at guidance 2, 0.57 / 96.8 / 0.66 at 1.5; 14000 (shipped) 0.93 /
# 97.0 / 0.59 at 2, 0.56 / 96.8 / 0.65 at 1.5; with guidance below t = 500 only (SHAPES_SETTINGS) 0.50 / 97.1 /
# 0.75 at 3. First 50 val layouts x 2 with the sampling default of the day
# (guidance 2.5) and the first shipped upsampler, mIoU: 90.9 at 6000, 93.9 at 15000. First 100 val layouts x 2 at
# guidance 3 (FID / mIoU / diversity, texture in range): with the first upsampler 1.34 / 94.0 / 0.81, 0.24 at 15000,
# 1.53 / 94.7 / 0.79, 0.28 at 21000; with the shipped one 1.48 / 96.2 / 0.75, 0.32 at 27000, 1.29 / 96.6 / 0.67,
# 0.36 at 36000, 1.35 / 96.8 / 0.59, 0.39 at 42000 (guidance: SHAPES_SETTINGS). The 8x8-token base shipped before
# it grew slowly: 81.3 at 6000 on the 50-layout check, 92.0 at 40000 (earlier checks, ancestral 25 + ancestral
# fast27, guidance 5: 81.9 at 6000, 84.9 at 9000, 88.0 at 18000; FID / diversity / mIoU with that day's default 2.40
# / 0.77 / 88.8 at 18000, 2.05 / 0.77 / 90.2 at 30000, 2.29 / 0.80 / 90.8 at 40000).
# The first shipped upsampler (PITI's: the low-res image concatenated, the mask as 8x8 tokens) capped the
# cascade's mIoU (benchmarks/piti_upsampler_ceiling.py, first 50 val layouts x 2: real images 99.7, a bicubic 32 -> 64
# resize 95.2, that upsampler fed the true 8-bit 32x32 image 91.7, 94.0 with other seeds) and ignored its mask
# (benchmarks/piti_mask_use.py --stage upsample: 0.4-2% apart). Retrained for 4000 steps on this recipe (those other
# seeds): with the token prior at 16 and 8 px 93.7; as diffusion on the residual over the bilinearly upsampled low-res
# image 94.2; that residual with the mask also concatenated at 64x64 86.6 (grainy). Resumed to 8000 steps the
# token-prior one fell to 88.3 and the residual one to 92.9. What lifts the ceiling is the low-res projection at
# sampling (``up_consistency``, diffusion/projection.py): 97.1 (the upsampler alone drifts 12.4 levels from its
# input's colours on average, 0.44 with it). With the projection the residual upsampler that reads the mask is the
# best: ceiling 98.0, and on one set of the 8x8-token base's outputs 93.3 against 92.0 (without the projection 84.1,
# drifting 16 levels). It is the shipped one now (``residual`` and ``layout_input``, SHAPES_CONFIGS). Trained on to
# 16000 steps, the last 6000 with a linearly decaying learning rate (this recipe; resumed from the 4000-step one), its
# ceiling is 99.0 (triangles 98, rings 98, crosses 97; without the projection 86.1), and the cascade on the first 100
# val layouts x 2 with the shipped base and the shapes default scores FID / mIoU / diversity 0.51 / 97.8 / 0.74,
# texture in range 0.58, against 0.50 / 97.1 / 0.75, 0.43 with the 4000-step upsampler. The same recipe without
# the adversarial term (Table 3b's plain row) reaches 99.1.
SHAPES_TRAINING = {
    "prior": dict(steps=3000, batch_size=8, lr=3e-4, uncond_p=1.0, ema_decay=0.999),
    "1": dict(steps=400, batch_size=8, lr=3e-4, uncond_p=0.0, ema_decay=0.99),
    "1b": dict(steps=200, batch_size=8, lr=2e-4, uncond_p=0.2, ema_decay=0.99),
    "2": dict(steps=56000, batch_size=8, lr=2e-4, lr_decay_steps=14000, uncond_p=0.2, ema_decay=0.999),
    "upsample": dict(steps=16000, batch_size=8, lr=3e-4, lr_decay_steps=6000, uncond_p=0.0, ema_decay=0.999,
                     perceptual=0.0, adversarial=0.01, adv_start=500, ndf=32),
}

# The `shapes` "100%" training set of the ablations (Tables 3a and 4; commands: catalog/piti.py ABLATION_RECIPES):
# the first 2000 train layouts (``train_examples``; ``data_fraction`` 0.25 / 0.5 takes 500 / 1000 of them). The
# train split is virtual and unbounded, so without a finite set every share would see fresh layouts at every step
# and the rows could not differ. 2000 is small against what the ablations' 800 stage-2 steps of batch 8 draw
# (6400 examples: about 3 passes over 100%, 13 over 25%), so the smaller shares are really data-starved, as
# ADE20K's 5k images are for a network of PITI's size; the prior, like GLIDE, learnt from the unbounded stream.
SHAPES_TRAIN_EXAMPLES = _catalog.ABLATION_EXAMPLES

# `shapes` sampling: an ancestral base, then the upsampler by DDIM with eta = 1 (ancestral steps with the fixed
# posterior variance) on the 'fast27' chain. The shapes upsampler's learnt variance is too wide: fed the true image
# at 32x32 (first 50 val layouts x 2; FID / diversity / mIoU, texture noise distance), its ancestral fast27 gives
# 1.64 / 1.22 / 93.0 with speckle 20.5 (1 is the true process's 99% bound), DDIM eta = 1 on the same chain 1.32 /
# 1.04 / 94.2 with speckle 1.8; eta = 0.5 leaves noise (2.99 / 1.81 / 88.1). Deterministic samplers leave noise in
# both stages: the upsampler (MSE against the real 64x64 image, 6 val images) 0.134 with DPM-Solver++ in 5 steps,
# 0.085 in 10, 0.096 with DDIM 27 (eta 0), 0.035 ancestral; the 3000-step base with DPM-Solver++ 10 FID 6.39 / mIoU
# 59.4 against 2.63 / 76.5 ancestral at 50 steps. The 18000-step base (shipped before the 40000-step one), first 50
# val layouts x 2 (FID / diversity / mIoU): ancestral 25 steps + ancestral fast27 3.16 / 0.90 / 88.0; + DDIM eta 1
# fast27 2.72 / 0.74 / 88.8; base ancestral 50 steps + DDIM eta 1 2.40 / 0.77 / 88.8 (the default; 1.9x the time of
# 25 steps in benchmarks/piti.py); the base by DDIM eta 1 too 2.90 / 0.72 / 89.3; guidance 3 2.75 / 1.02 / 88.1
# (guidance 3, 5 and 8 on the 3000-step base with DPM-Solver++ 10: 8.23 / 55.3, 6.39 / 59.4, 8.41 / 49.9 FID / mIoU).
# With the projection (first 100 val layouts x 2; FID / mIoU / diversity, colour spread): guidance 5 2.11 / 91.8 /
# 0.57, 0.75 (without it 1.77 / 91.0 / 0.75, 1.05: the upsampler's drift had supplied colour variety the base lacks),
# guidance 3 1.47 / 92.2 / 0.69, 0.84, 2.5 1.25 / 92.1 / 0.77, 0.90 (then the default), 2 1.08 / 91.6 / 0.90, 1.00;
# guidance 3 without it 1.35 / 91.1 / 0.87, 1.14. At 2.5: two back-projections per step 1.25 / 92.1 / 0.77, 0.90 (no
# change); 100 base steps 1.17 / 92.0 / 0.81, 0.95 (within the noise, at twice the base's time).
# Those figures are the 8x8-token base's. The 16x16-token base of 15000 steps (same check): guidance 2.5 1.34 / 93.4
# / 0.98, 1.11 (diversity far above the true process's 0.75), 3 1.34 / 94.0 / 0.81, 0.96, 3.5 1.44 / 94.1 / 0.71,
# 0.86. With the shipped upsampler (it reads the mask), the 36000-step base: 2.5 1.10 / 96.5 / 0.76, 0.86; 3 1.29 /
# 96.6 / 0.67, 0.80; 3.5 1.48 / 96.6 / 0.62, 0.77. The shipped 42000-step base is less diverse: 2 0.83 / 96.6 /
# 0.72, 0.87 (then the default); 2.25 0.97 / 96.7 / 0.68, 0.84; 2.5 1.10 / 96.8 / 0.64, 0.81; 3 1.35 / 96.8 / 0.59,
# 0.78. Guidance at the noisiest steps costs variety and buys no layout (Kynkaanniemi et al. 2024 find the same on
# ImageNet); the shipped 56000-step base, guidance 3 at t < 500 only (the default) 0.50 / 97.1 / 0.75, 0.94; at t <
# 600 0.64 / 97.1 / 0.72, 0.92; at t >= 500 only 0.98 / 96.2 / 0.57, 0.76; guidance 4 at t < 500 0.67 / 96.9 /
# 0.79, 1.00 (more speckle: texture in range 0.38 against 0.43); guidance 2 at every step 0.93 / 97.0 / 0.59, 0.81.
SHAPES_SETTINGS = dict(sampler="ddpm", steps=50, guidance=3.0, guidance_mode="official", guidance_t_max=500.0, eta=1.0,
                       up_sampler="ddim", up_steps=27, up_temperature=1.0, up_consistency=1,
                       upsample_weights="piti-shapes-upsample")

PRESETS: dict[str, PITIPreset] = {
    # COCO-Stuff: ids 0..181 coloured, unlabelled 255 black; 256x256 mask, base 64, upsampler 256.
    "cocostuff": PITIPreset(configs=OFFICIAL_CONFIGS, base_size=64, num_classes=182, weights="piti-base-mask",
                            settings=OFFICIAL_SETTINGS, training=PAPER_TRAINING),
    "shapes": PITIPreset(configs=SHAPES_CONFIGS, base_size=32, num_classes=10, weights="piti-shapes-base",
                         settings=SHAPES_SETTINGS, training=SHAPES_TRAINING),
}


def preset_for(dataset: str) -> PITIPreset:
    return lookup_preset("piti", PRESETS, dataset)
