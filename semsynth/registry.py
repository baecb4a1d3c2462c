"""The four registries (methods, datasets, metrics, segmenters) and plugin discovery.

Built-ins register when their modules are imported; third-party packages add modules through the entry-point
group ``semsynth.plugins`` (each entry point names a module that registers its classes on import).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

from mmengine.registry import Registry

from .errors import UserError

METHODS = Registry("method", scope="semsynth")
DATASETS = Registry("dataset", scope="semsynth")
METRICS = Registry("metric", scope="semsynth")
SEGMENTERS = Registry("segmenter", scope="semsynth")

PLUGIN_GROUP = "semsynth.plugins"
BUILTIN_MODULES = ("semsynth.methods", "semsynth.datasets", "semsynth.evaluators", "semsynth.evaluators.segmenters")

_loaded = False


def load_plugins() -> None:
    """Import the built-in modules and every ``semsynth.plugins`` entry point (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            importlib.import_module(entry.value.split(":")[0])
        except Exception as error:  # a broken plugin must not take the suite down
            raise UserError(f"plugin '{entry.name}' ({entry.value}) failed to import: {error}") from error


def lookup(registry: Registry, name: str) -> Any:
    """The class registered under ``name``, or a ``UserError`` listing the known names."""
    load_plugins()
    cls = registry.get(name)
    if cls is None:
        known = ", ".join(sorted(registry.module_dict)) or "none"
        raise UserError(f"unknown {registry.name} '{name}'; known: {known}")
    return cls


def names(registry: Registry) -> list[str]:
    load_plugins()
    return sorted(registry.module_dict)
