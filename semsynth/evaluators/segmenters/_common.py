"""Shared plumbing of the ported segmenters: reading official checkpoint files and the common constructor flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping

import torch
from torch import nn

from ... import checkpoints, weights
from ...errors import UserError
from ...registry import DATASETS, lookup
from ...types import LabelSpace
from .base import Segmenter


def read_state_dict(file: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in an official checkpoint file (``checkpoints.read_torch``: ``weights_only``, containers
    unwrapped), dtypes kept, DataParallel's ``module.`` prefix stripped when every key has it."""
    state = checkpoints.read_torch(file)
    if not isinstance(state, Mapping):
        raise UserError(f"checkpoint {file} holds a {type(state).__name__}, not a state_dict; pass the official file")
    prefix = "module."
    if state and all(key.startswith(prefix) for key in state):
        state = {key[len(prefix):]: value for key, value in state.items()}
    return dict(state)


def load_strict(net: nn.Module, state: Mapping[str, torch.Tensor], file: str | Path = "state_dict",
                ignore: Iterable[str] = ()) -> None:
    """``load_state_dict(strict=True)`` after dropping the named keys the official loader ignores; a key mismatch
    becomes a ``UserError`` that names the first missing and unexpected keys."""
    dropped = set(ignore)
    state = {key: value for key, value in state.items() if key not in dropped}
    expected = set(net.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise UserError(f"checkpoint {file} does not fit {type(net).__name__}: {len(missing)} missing keys "
                        f"(first: {missing[:3]}), {len(unexpected)} unexpected keys (first: {unexpected[:3]}); "
                        f"pass the official file for this segmenter")
    net.load_state_dict(state, strict=True)


def evaluation_space(space: LabelSpace) -> LabelSpace:
    """A dataset's evaluation label space as a ``LabelSpace`` of its own (e.g. Cityscapes' 19 trainIds); each
    evaluation class takes the colour of the first dataset class mapped to it. Identity without ``eval_lut``."""
    if not space.eval_lut:
        return space
    first = {target: index for index, target in reversed(list(enumerate(space.eval_lut)))}
    palette = tuple(space.palette[first[target]] for target in range(len(space.eval_class_names)))
    return LabelSpace(name=f"{space.name}-eval", class_names=space.eval_class_names, palette=palette,
                      ignore_index=space.ignore_index, raw_note=f"evaluation classes of {space.name}")


class PortedSegmenter(Segmenter):
    """The constructor flow shared by the native ports: pick the dataset, build ``net``, load the official file
    through the weights catalog (or keep random weights), move to ``device`` and switch to eval mode."""

    label_spaces: ClassVar[dict[str, LabelSpace]] = {}   # dataset -> the label space of the outputs

    def __init__(self, dataset: str | None = None, checkpoint: str | Path | None = None, pretrained: bool = True,
                 device: str = "cpu", **options: Any) -> None:
        dataset = dataset or self.datasets[0]
        if dataset not in self.datasets:
            raise UserError(f"segmenter '{self.name}' has no model for dataset '{dataset}'; it supports: "
                            f"{', '.join(self.datasets)}")
        self.dataset = dataset
        self.label_space = self.label_spaces[dataset]
        self.device = torch.device(device)
        file = weights.path(self.weights[dataset], checkpoint) if pretrained or checkpoint is not None else None
        self.net = self.build_net(**options)
        if file is not None:
            load_strict(self.net, read_state_dict(file), file)
        self.net.to(self.device).eval()

    def build_net(self, **options: Any) -> nn.Module:
        """The network with the released configuration; ``options`` are the segmenter's own settings."""
        raise NotImplementedError

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of ``net`` (inputs are prepared in it, so ``net.double()`` gives a float64 path)."""
        return next(self.net.parameters()).dtype

    def map_labels(self, labels: torch.Tensor, dataset: str) -> torch.Tensor:
        """A dataset's ground truth in the segmenter's space: the dataset's own evaluation mapping."""
        if dataset not in self.datasets:
            raise UserError(f"segmenter '{self.name}' does not score '{dataset}' labels; it supports: "
                            f"{', '.join(self.datasets)}")
        return lookup(DATASETS, dataset).label_space.to_eval(labels)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.scores(images).argmax(1)

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Per-class scores ``[B, C, H, W]`` at the input size whose argmax is the official prediction."""
        raise NotImplementedError


def check_images(images: torch.Tensor, name: str, multiple: int = 1) -> None:
    """uint8 ``[B, 3, H, W]`` with H and W multiples of ``multiple``, or a ``UserError`` saying what to change."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise UserError(f"{name} takes uint8 RGB images [B, 3, H, W], got {images.dtype} {list(images.shape)}")
    height, width = images.shape[-2:]
    if height % multiple or width % multiple:
        raise UserError(f"{name} needs H and W divisible by {multiple}, got {height}x{width}; resize the images")
