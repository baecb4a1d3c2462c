"""Metrics (declared, mergeable states), one file per metric; importing this package registers them in METRICS."""

from .._discover import import_submodules as _import_submodules

_import_submodules(__name__, __path__)
