"""FID-C (PITI, Wang et al. 2022): FID on CLIP ViT-B/32 image embeddings."""

from __future__ import annotations

from ..registry import METRICS
from .fid import FID


@METRICS.register_module(name="clip_fid")
class CLIPFID(FID):
    """The Fréchet distance on CLIP ViT-B/32 image embeddings (backbone ``clip-vit-b32``); options as ``fid``."""

    name = "clip_fid"
    default_backbone = "clip-vit-b32"
    default_mode = "clean-fid-clip"
