"""The four registries (methods, datasets, metrics, segmenters) and plugin discovery.

Classes register with ``@METHODS.register_module(name="sdm")`` (the decorator of mmengine's ``Registry``, without
importing mmengine: its import writes a yapf cache into the user's home). Built-in names come from
``semsynth.index`` and their module is imported on first lookup, so listing and ``--help`` never import torch.
Third-party packages add modules through the entry-point group ``semsynth.plugins`` (each entry point names a module
that registers its classes on import).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

from .errors import UserError
from .index import BUILTINS, describe

PLUGIN_GROUP = "semsynth.plugins"
BUILTIN_MODULES = ("semsynth.methods", "semsynth.datasets", "semsynth.evaluators", "semsynth.evaluators.segmenters")


class Registry:
    """Names -> classes of one kind; ``builtins`` maps each built-in name to (module, summary) before any import."""

    def __init__(self, name: str, builtins: dict[str, tuple[str, str]]) -> None:
        self.name = name
        self.builtins = builtins
        self.module_dict: dict[str, type] = {}

    def register_module(self, name: str | list[str] | None = None, force: bool = False,
                        module: type | None = None) -> Any:
        """Register ``module`` (or, as a decorator, the decorated class) under ``name`` (default: its class name)."""
        def add(cls: type) -> type:
            for key in [name] if isinstance(name, str) else name or [cls.__name__]:
                if not force and self.module_dict.get(key, cls) is not cls:
                    raise KeyError(f"{key} is already registered in {self.name} ({self.module_dict[key].__module__})")
                self.module_dict[key] = cls
            return cls

        return add(module) if module is not None else add

    def get(self, name: str) -> type | None:
        """The class registered under ``name``, importing its built-in module on first use; None if unknown."""
        if name not in self.module_dict and name in self.builtins:
            importlib.import_module(self.builtins[name][0])
        return self.module_dict.get(name)


METHODS = Registry("method", BUILTINS["method"])
DATASETS = Registry("dataset", BUILTINS["dataset"])
METRICS = Registry("metric", BUILTINS["metric"])
SEGMENTERS = Registry("segmenter", BUILTINS["segmenter"])

_imported: set[str] = set()     # "built-ins", "entry points": what was imported once already


def load_entry_points() -> None:
    """Import every ``semsynth.plugins`` entry point (once); the built-ins stay unimported."""
    if "entry points" in _imported:
        return
    _imported.add("entry points")
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            importlib.import_module(entry.value.split(":")[0])
        except Exception as error:  # a broken plugin must not take the suite down
            raise UserError(f"plugin '{entry.name}' ({entry.value}) failed to import: {error}") from error


def load_plugins() -> None:
    """Import the built-in modules and every ``semsynth.plugins`` entry point (once)."""
    if "built-ins" not in _imported:
        _imported.add("built-ins")
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
    load_entry_points()


def lookup(registry: Registry, name: str) -> Any:
    """The class registered under ``name``, or a ``UserError`` listing the known names."""
    cls = registry.get(name)
    if cls is None:
        load_entry_points()
        cls = registry.get(name)
    if cls is None:
        raise UserError(f"unknown {registry.name} '{name}'; known: {', '.join(names(registry)) or 'none'}")
    return cls


def names(registry: Registry) -> list[str]:
    """Built-in and plugin names, without importing the built-ins."""
    load_entry_points()
    return sorted({*registry.builtins, *registry.module_dict})


def summaries(registry: Registry) -> dict[str, str]:
    """Name -> ``bench list`` line: from the index for built-ins, rendered from the class for plugins."""
    return {name: registry.builtins[name][1] if name in registry.builtins
            else describe(registry.name, registry.module_dict[name]) for name in names(registry)}
