"""SwAV-FID (Morozov et al. 2021): FID on SwAV ResNet-50 features."""

from __future__ import annotations

from ..registry import METRICS
from .fid import FID


@METRICS.register_module(name="swav_fid")
class SwAVFID(FID):
    """The Fréchet distance on SwAV ResNet-50 features (backbone ``swav-r50``); options as ``fid``."""

    name = "swav_fid"
    default_backbone = "swav-r50"
    default_mode = "swav-morozov"
