"""Segmenters for mIoU, one file per family; importing this package registers them in SEGMENTERS."""

from ..._discover import import_submodules as _import_submodules

_import_submodules(__name__, __path__)
