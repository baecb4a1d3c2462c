"""Synthesis methods, one sub-package per method; importing this package registers them in METHODS."""

from .._discover import import_submodules as _import_submodules

_import_submodules(__name__, __path__)
