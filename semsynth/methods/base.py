"""The method contract: ``generate(layout, seed)`` and everything the suite builds on top of it.

A plugin subclasses ``Method``, implements ``generate`` and registers a name. The base class supplies the label
space and resolution of the dataset the method is built for, per-dataset presets, the resolved weights file
(``checkpoint``), layout checks, ``generate_batch``, settings and the ``train`` entry point of ``bench train``.
"""

from __future__ import annotations

import functools
import operator
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence, TypeVar

import torch

from .. import devices
from ..errors import LayoutError, UserError
from ..types import Example, LabelSpace, Layout
from .settings import Setting, check_settings

SEED_LIMIT = 2**64   # seeds are integers 0 <= seed < 2**64 (what torch.Generator.manual_seed takes)


@dataclass(frozen=True, kw_only=True)
class Preset:
    """What a method needs on one dataset: the weights-catalog entry of its file (None: it loads none) and its
    default settings (the paper's). Methods extend it with their own fields (network config, label mapping)."""

    weights: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


P = TypeVar("P", bound=Preset)


def lookup_preset(method: str, presets: Mapping[str, P], dataset: str) -> P:
    """``presets[dataset]``, or a ``UserError`` naming the datasets ``method`` has presets for."""
    if dataset not in presets:
        raise UserError(f"{method} has no preset for dataset '{dataset}'; known: {', '.join(sorted(presets))}")
    return presets[dataset]


def _checked(generate):
    @functools.wraps(generate)
    def wrapper(self: "Method", layout: Layout, seed: int, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.check_layout(layout)
        return generate(self, layout, self.check_seed(seed), *args, **kwargs)

    wrapper.__layout_checked__ = True
    return wrapper


class Method(ABC):
    """A semantic image synthesis method: layout + seed -> uint8 image ``[3, H, W]``.

    Subclasses set ``name`` (the registry name), ``defaults`` (settings with the paper's values; constructor
    overrides may change only these keys), ``setting_types`` (each setting's ``Setting``: type and range; a
    setting left out takes the type of its default) and, when they load weights or differ per dataset, ``presets`` (one
    ``Preset`` per dataset). Every sample must draw its randomness from a ``torch.Generator`` seeded with ``seed``,
    so ``generate_batch`` equals one-by-one generation.
    """

    name: ClassVar[str] = ""
    stochastic: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {}
    setting_types: ClassVar[Mapping[str, Setting]] = {}
    # A reference row that returns the split's own images sets another FID reference split (val vs val is 0).
    fid_reference_split: ClassVar[str | None] = None
    # Per-dataset presets (weights entry, paper settings); empty: the method runs on any dataset without weights.
    presets: ClassVar[Mapping[str, Preset]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        generate = cls.__dict__.get("generate")
        if generate is not None and not getattr(generate, "__layout_checked__", False):
            cls.generate = _checked(generate)

    def __init__(self, dataset: str = "shapes", checkpoint: str | Path | None = None, device: str = "cpu",
                 **overrides: Any) -> None:
        self._configure(dataset, device, overrides)
        self.checkpoint: Path | None = self.resolve_checkpoint(checkpoint)

    def _configure(self, dataset: str, device: str, overrides: dict[str, Any]) -> None:
        """Dataset, preset, device and settings: everything but the weights file."""
        from ..registry import DATASETS, lookup

        spec = lookup(DATASETS, dataset)
        self.dataset: str = dataset
        self.label_space: LabelSpace = spec.label_space
        self.resolution: tuple[int, int] = tuple(spec.resolution)
        self.preset = self.preset_for(dataset)
        self.device = devices.resolve(device)
        defaults = self.default_settings(dataset)
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            known = ", ".join(sorted(defaults)) or "none"
            raise UserError(f"unknown setting {', '.join(map(repr, unknown))} for method '{self.name}'; known: {known}")
        given = {k: v for k, v in overrides.items() if v is not None}
        checked = check_settings(f"method '{self.name or type(self).__name__}'", given, self.setting_types, defaults)
        self.settings: dict[str, Any] = {**defaults, **checked}

    @classmethod
    def without_checkpoint(cls, dataset: str = "shapes", device: str = "cpu", **overrides: Any) -> "Method":
        """An instance with settings but no weights file, for methods built around given networks (``from_net``)."""
        method = cls.__new__(cls)
        method._configure(dataset, device, overrides)
        method.checkpoint = None
        return method

    @classmethod
    def preset_for(cls, dataset: str) -> Preset | None:
        """The method's preset for ``dataset`` (None for a method without presets); a ``UserError`` names the
        datasets it has presets for."""
        return lookup_preset(cls.name, cls.presets, dataset) if cls.presets else None

    @classmethod
    def default_settings(cls, dataset: str) -> dict[str, Any]:
        """Settings for ``dataset``: ``defaults`` updated by the dataset preset's (the paper's) settings."""
        preset = cls.preset_for(dataset)
        return {**cls.defaults, **(preset.settings if preset is not None else {})}

    def extra_weight_files(self) -> dict[str, Path]:
        """Weights files loaded besides ``checkpoint``, by the setting that names them (e.g. PITI's upsampler): the
        run identity and the record hold their sha256, so a resume with other bytes is refused."""
        return {}

    def resolve_checkpoint(self, checkpoint: str | Path | None) -> Path | None:
        """The weights file: ``checkpoint`` when given, else the catalog file the preset names (its sha256
        checked), else None for a method that loads no weights. A missing file is a ``MissingWeightsError`` that
        names it, where it was looked for and where to get it."""
        from .. import weights

        entry = self.preset.weights if self.preset is not None else None
        if checkpoint is None and entry is None:
            return None
        return weights.path(entry, checkpoint)

    @abstractmethod
    def generate(self, layout: Layout, seed: int) -> torch.Tensor:
        """One image, uint8 ``[3, H, W]`` at ``self.resolution``, determined by (layout, seed)."""

    def generate_batch(self, layouts: Sequence[Layout], seeds: Sequence[int]) -> torch.Tensor:
        """Images for several (layout, seed) pairs, uint8 ``[B, 3, H, W]``; equal to calling ``generate`` each."""
        self.check_batch(layouts, seeds)
        return torch.stack([self.generate(layout, int(seed)) for layout, seed in zip(layouts, seeds)])

    def generate_examples(self, examples: Sequence[Example], seeds: Sequence[int]) -> torch.Tensor:
        """What the runner calls: a method sees only the layouts (the ``real`` reference overrides this)."""
        return self.generate_batch([example.layout for example in examples], seeds)

    @classmethod
    def check_batch(cls, layouts: Sequence[Layout], seeds: Sequence[int]) -> None:
        """Raise ``UserError`` unless ``generate_batch`` got a non-empty batch with one valid seed per layout."""
        if isinstance(layouts, Layout) or isinstance(seeds, str) or not all(
                hasattr(items, "__len__") for items in (layouts, seeds)):
            raise UserError("generate_batch takes a list of layouts and a list of seeds (generate takes one of each)")
        if len(layouts) != len(seeds):
            raise UserError(f"generate_batch got {len(layouts)} layouts but {len(seeds)} seeds")
        if not layouts:
            raise UserError("generate_batch got an empty batch; pass at least one layout and its seed")
        for seed in seeds:
            cls.check_seed(seed)

    @staticmethod
    def check_seed(seed: Any) -> int:
        """``seed`` as an int, or a ``UserError`` unless it is a whole number 0 <= seed < 2**64."""
        try:
            value = operator.index(seed)
        except TypeError:
            raise UserError(f"seed must be a whole number 0 <= seed < 2**64, got {seed!r}") from None
        if isinstance(seed, bool) or not 0 <= value < SEED_LIMIT:
            raise UserError(f"seed must be a whole number 0 <= seed < 2**64, got {seed!r}")
        return value

    def check_layout(self, layout: Layout) -> None:
        """Raise ``LayoutError`` unless ``layout`` is a valid layout of this method's dataset and resolution."""
        if not isinstance(layout, Layout):
            raise LayoutError(f"expected a semsynth.types.Layout, got {type(layout).__name__}")
        if layout.label_space.num_classes != self.label_space.num_classes:
            raise LayoutError(
                f"layout has {layout.label_space.num_classes} classes ({layout.label_space.name}) but method "
                f"'{self.name}' is built for {self.dataset} with {self.label_space.num_classes}"
            )
        layout.validate()
        if layout.size != self.resolution:
            raise LayoutError(
                f"layout is {layout.size[0]}x{layout.size[1]} but '{self.name}' on {self.dataset} generates at "
                f"{self.resolution[0]}x{self.resolution[1]}; load the dataset at its benchmark resolution"
            )

    # -- checkpoints ---------------------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: str | Path, dataset: str = "shapes", device: str = "cpu",
                        **overrides: Any) -> "Method":
        """The method with the weights of ``path`` instead of the catalog's."""
        return cls(dataset=dataset, checkpoint=path, device=device, **overrides)

    @classmethod
    def train(cls, dataset: str, out_dir: str | Path, **options: Any) -> Path:
        """Train the method on ``dataset`` into ``out_dir`` and return the weights file (``bench train``); options
        include ``data_root``, ``device``, ``quiet``, ``steps``, ``batch_size`` and the method's own."""
        raise UserError(f"method '{cls.name}' cannot be trained: it has no training code (a method becomes "
                        f"trainable by implementing the class method Method.train)")

    def save(self, path: str | Path) -> None:
        """Write the method's weights as a ``weights_only``-loadable file (methods with networks implement it)."""
        raise UserError(f"method '{self.name}' has no weights to save")

    def describe(self) -> dict[str, Any]:
        """What identifies this method's samples in a record: name, dataset, settings."""
        return {"method": self.name, "dataset": self.dataset, "settings": dict(self.settings)}
