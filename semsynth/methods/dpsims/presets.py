"""DP-SIMS per-dataset configuration as data: generator and discriminator sizes, the training recipe, and every
choice the paper (supplement A.1, Tables S2/S3, B.3-B.6) leaves open, each with a comment saying so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...catalog import dpsims as _catalog  # noqa: F401  (registers the weights entries)
from ..base import Preset

# -- generator (Table S2) ------------------------------------------------------------------------------------------
# Paper at 256 px: z 64, w 256, image path of OASIS (6 SPADE residual blocks, 8x8 -> 256x256, channels
# 1024 1024 512 256 128 64 from channel base 64), pyramid (SPADE conditioning) width 64, SPADE hidden 128 (OASIS).
# Open choices: the label encoder's widths (here 64 128 256 512 512 512, doubling as the resolution halves), one
# encoder level per image block, conv blocks at the two levels above 64x64 and pyramid (attention) blocks at 64x64
# and below (the text's rule; the table's five-entry "Block type" list does not say which resolutions it means),
# w split into 4 noise tokens of 64 channels for the cross-attention, 1 attention head.
PAPER_GENERATOR: dict[str, Any] = {
    "z_dim": 64, "w_dim": 256, "noise_tokens": 4, "encoder_channels": [64, 128, 256, 512, 512, 512],
    "block_types": ["conv", "conv", "pyramid", "pyramid", "pyramid", "pyramid"], "pyramid_channels": 64,
    "image_channels": [1024, 1024, 512, 256, 128, 64], "spade_hidden": 128, "heads": 1, "upsample": "nearest",
    "segment_noise": 0, "noise_in_spade": False}

# shapes (64 px): 5 levels 64 -> 4 px, attention at 16x16 and below.
SHAPES_GENERATOR: dict[str, Any] = {
    "z_dim": 64, "w_dim": 256, "noise_tokens": 4, "encoder_channels": [16, 32, 48, 64, 64],
    "block_types": ["conv", "conv", "pyramid", "pyramid", "pyramid"], "pyramid_channels": 16,
    "image_channels": [64, 64, 48, 32, 16], "spade_hidden": 16, "heads": 1, "upsample": "nearest",
    "segment_noise": 0, "noise_in_spade": False}

# -- discriminator (Table S3) --------------------------------------------------------------------------------------
# Conditioning non-linearity: Table S3 says tanh, the text of A.1 says sigmoid; we follow the table (``conditioning``
# selects either). The decoder's residual-block shortcut (a 1x1 projection) is our choice.
PAPER_DISCRIMINATOR: dict[str, Any] = {
    "backbone": "convnext_large", "backbone_kwargs": {}, "out_indices": [0, 1, 2, 3], "frozen": True,
    "conditioning": "tanh", "full_channels": 128, "penultimate_channels": 256}
SHAPES_DISCRIMINATOR: dict[str, Any] = {
    "backbone": "convnext_atto", "backbone_kwargs": {"dims": [24, 48, 96, 192], "depths": [1, 1, 2, 1]},
    "out_indices": [0, 1, 2, 3], "frozen": True, "conditioning": "tanh", "full_channels": 32,
    "penultimate_channels": 64}

# -- training --------------------------------------------------------------------------------------------------------
# Paper: batch 64, Adam lr 1e-3 (beta1 0, beta2 0.99) for G and D (no TTUR stated), EMA 0.9999, lambda_div 10 on
# generator features (Tables S9/S10), weighted focal loss (B.5), balanced sampling (S11), 128 contrastive patches,
# contrastive embedding 256. Open choices: focal gamma 2 (Lin et al.'s default), OASIS's inverse-frequency class weights
# over the batch, contrastive weight 1 and temperature 0.07 (CUT's), tau_div re-estimated by eq. 7 on every batch
# (``div_tau`` "auto"; a number fixes it), eq. 7 over distinct pairs with means instead of sums, the balanced sampler's
# class index over the first ``pool`` training layouts, no R1 penalty (``r1_weight`` adds one), a constant learning rate
# (``lr_decay_steps`` N decays it linearly to 0 over the last N steps). Export recomputes the EMA generator's BatchNorm
# statistics over ``bn_batches`` batches of uniformly drawn training layouts at full size (OASIS, whose generator
# DP-SIMS keeps, does so before sampling; 0 keeps the live network's, which on shapes left ghosting smudges and cost up
# to 5 mIoU points, 30 with lambda_div 10). Our options, off here: ``div_pool`` k measures the diversity distance
# between k x k block means (colour and layout, not grain), and ``colour_levels`` gives each decoder level the image's
# block means beside the backbone stage (a colour-blind backbone's decoder then sees region colours); the generator's
# ``segment_noise`` and ``noise_in_spade`` (generator.py) draw a noise vector per segment.
PAPER_TRAINING: dict[str, Any] = {
    "lr": 1e-3, "beta1": 0.0, "beta2": 0.99, "ema_decay": 0.9999, "lambda_gan": 1.0, "lambda_contrastive": 1.0,
    "lambda_div": 10.0, "div_space": "feature", "div_pool": 1, "div_tau": "auto", "div_hinge": "absolute",
    "focal_gamma": 2.0, "weighted": True, "sampling": "balanced", "pool": 20000, "contrastive_patches": 128,
    "contrastive_dim": 256, "contrastive_tau": 0.07, "pretrained": True, "frozen": True, "conditioning": "tanh",
    "colour_levels": False, "r1_weight": 0.0, "r1_every": 16, "amp": None, "grad_clip": None, "crop": 0,
    "bn_batches": 50, "lr_decay_steps": 0}

# shapes on a loaded 1-2 core CPU: batch 8, lr 4e-4 (our choice for the tiny networks), EMA 0.995 (a run of a few
# thousand steps), 32x32 training crops (``crop``; as SDM's shapes recipe: 4x cheaper steps, generation at 64x64),
# class index over 500 layouts, 64 contrastive patches of 64 dims; the contrastive network is the discriminator's
# own pretrained backbone (never the evaluator network). The diversity hinge is relative, max(0, 1 - d / tau): with
# the paper's max(0, tau - d) and tau re-estimated per batch, lambda_div * hinge swung between 0 and 142 in the first
# 170 steps of the shapes run (the generator's feature scale drifts), swamping the GAN loss.
SHAPES_TRAINING: dict[str, Any] = {**PAPER_TRAINING, "lr": 4e-4, "ema_decay": 0.995, "pool": 500,
                                   "contrastive_patches": 64, "contrastive_dim": 64, "crop": 32,
                                   "div_hinge": "relative"}

# The shipped shapes files: the backbone, then the GAN from scratch with SHAPES_SHIPPED on 32-pixel crops and the
# learning-rate schedule SHAPES_SCHEDULE (10000 steps, the last 2000 decaying linearly to 0; then resumed to 14000,
# the rate back at full and decaying again over the 4000), then the EMA generator in fp16 with its BatchNorm
# statistics recomputed. Our options in it, none of them the paper's: ``segment_noise`` 16 with ``noise_in_spade``
# (one noise vector per segment, also in every SPADE block), ``colour_levels`` (the discriminator's decoder sees
# block colours), ``upsample`` bilinear, the diversity loss on 8x8 block means at lambda_div 0.3, EMA 0.999 and the
# decays. Full protocol: FID 0.36, mIoU 99.6, diversity 0.55; after the first 10000 steps 0.41 / 99.5 / 0.52
# (README, DP-SIMS: the measurements behind each option, other seeds and schedules). Seed 0, one thread, one piece
# per schedule entry. The generator shipped before it (full protocol 0.71 / 98.9 / 0.31) trained with lambda_div 1 on
# generator features, nearest resizes, EMA 0.995 and no segment noise: 8000 steps on crops, then 600 on whole images.
SHAPES_SHIPPED: dict[str, Any] = {
    "lambda_div": 0.3, "div_space": "image", "div_pool": 8, "colour_levels": True, "upsample": "bilinear",
    "segment_noise": 16, "noise_in_spade": True, "ema_decay": 0.999}
SHAPES_SCHEDULE: tuple[tuple[int, int], ...] = ((10000, 2000), (14000, 4000))   # (steps, lr_decay_steps) per run
_TRAIN = ("python -m semsynth.methods.dpsims.train --dataset shapes --out runs/dpsims-shapes "
          + " ".join(f"--set {key}={str(value).lower()}" for key, value in SHAPES_SHIPPED.items()))
SHAPES_RECIPE = " && ".join([
    "python -m semsynth.methods.dpsims.pretrain --out runs/dpsims-backbone --steps 8000 "
    "--export semsynth/assets/dpsims_shapes_backbone.safetensors",
    *(f"{_TRAIN} --steps {steps} --set lr_decay_steps={decay}" for steps, decay in SHAPES_SCHEDULE),
    "python -m semsynth.methods.dpsims.train --out runs/dpsims-shapes "
    "--export semsynth/assets/dpsims_shapes.safetensors"])


@dataclass(frozen=True)
class DPSIMSPreset(Preset):
    """DP-SIMS on one dataset: network configs, training recipe, backbone and contrastive weights entries, and
    whether instance edges feed the generator (Table S12)."""

    generator: dict[str, Any] = field(default_factory=lambda: dict(PAPER_GENERATOR))
    discriminator: dict[str, Any] = field(default_factory=lambda: dict(PAPER_DISCRIMINATOR))
    training: dict[str, Any] = field(default_factory=lambda: dict(PAPER_TRAINING))
    backbone_weights: str = "convnext-large-in22k"
    contrastive: str = "vgg19"           # "vgg19" (paper) or "backbone" (the discriminator's pretrained backbone)
    instances: bool = True
    batch_size: int = 64


PRESETS: dict[str, DPSIMSPreset] = {
    "ade20k": DPSIMSPreset(weights="dpsims-ade20k", instances=False),     # ADE20K has no instance maps
    "cityscapes": DPSIMSPreset(weights="dpsims-cityscapes"),
    "cocostuff": DPSIMSPreset(weights="dpsims-cocostuff"),
    "shapes": DPSIMSPreset(weights="dpsims-shapes", generator=SHAPES_GENERATOR, discriminator=SHAPES_DISCRIMINATOR,
                           training=SHAPES_TRAINING, backbone_weights="dpsims-shapes-backbone",
                           contrastive="backbone", batch_size=8),
}
