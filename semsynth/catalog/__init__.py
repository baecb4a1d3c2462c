"""The weights catalog as data: one torch-free module per family registers its ``WeightSpec`` entries, so that
``bench weights list`` and sha256 checks need no network code imported. Add a module here and to ``FAMILIES``."""

from __future__ import annotations

import importlib

FAMILIES = ("backbones", "segmenters", "sdm", "inade", "dpsims", "piti", "gcdp")


def load() -> None:
    """Register every built-in catalog entry (idempotent: modules are imported once)."""
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
