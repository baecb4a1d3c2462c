"""Shared machinery of the real-dataset loaders: pairing image/label/instance files by id, reading and resizing
them to the benchmark resolution, and checking a sample of files on disk."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import DatasetError, UserError
from ..types import Example, LabelSpace, Layout
from .base import Dataset, data_root, resize_image

RESIZE_MODES = ("bicubic", "pil", "sdm")
"""Image resize modes. ``bicubic``: antialiased bicubic on the tensor (default). ``pil``: PIL ``BICUBIC`` straight to
the benchmark size (SPADE/INADE test loaders). ``sdm``: SDM's test loader, PIL ``BOX`` halving while the short side
is at least twice the target's, then PIL ``BICUBIC``. Label and instance maps always use nearest neighbour with
PIL's pixel-centre rule (what every official loader does), whatever the mode."""

_SHOWN = 5  # ids listed per problem line


@dataclass(frozen=True)
class Item:
    """The files of one example."""

    id: str
    image: Path
    label: Path
    instance: Path | None = None


@dataclass
class Scan:
    """What a loader found on disk for one split: complete items, problems (one line each) and the layout found."""

    items: list[Item]
    source: str
    problems: list[str] = field(default_factory=list)


def require_dirs(dataset: str, folders: Sequence[Path], hint: str) -> None:
    """Raise a ``DatasetError`` naming the missing folders (the usual symptom of a wrong ``--data-root``)."""
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise DatasetError(f"{dataset}: missing folder(s) {', '.join(missing)}; {hint}")


def index_files(folder: Path, suffixes: Iterable[str], recursive: bool = False,
                skip: Iterable[str] = ()) -> dict[str, Path]:
    """Map id -> path for the files in ``folder`` whose name ends with one of ``suffixes`` (the id is the name
    without that suffix); names ending with one of ``skip`` are ignored (derived files such as ``_labelTrainIds``)."""
    suffixes, skip = tuple(suffixes), tuple(skip)
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        name = path.name
        if not path.is_file() or name.endswith(skip):
            continue
        for suffix in suffixes:
            if name.lower().endswith(suffix.lower()):
                found[name[: len(name) - len(suffix)]] = path
                break
    return found


def _summary(count_what: str, ids: list[str], where: Path) -> str:
    shown = ", ".join(ids[:_SHOWN]) + (", ..." if len(ids) > _SHOWN else "")
    return f"{len(ids)} {count_what} (expected in {where}): {shown}"


def pair_files(images: dict[str, Path], labels: dict[str, Path], label_dir: Path,
               instances: dict[str, Path] | None = None, instance_dir: Path | None = None,
               source: str = "") -> Scan:
    """Join images, labels and (optional) instances by id. Images lacking a partner are dropped and reported;
    label files without an image are reported too."""
    problems = []
    no_label = sorted(set(images) - set(labels))
    if no_label:
        problems.append(_summary("image(s) without label map", no_label, label_dir))
    orphans = sorted(set(labels) - set(images))
    if orphans:
        problems.append(f"{len(orphans)} label map(s) without image: {', '.join(orphans[:_SHOWN])}"
                        + (", ..." if len(orphans) > _SHOWN else ""))
    ids = sorted(set(images) & set(labels))
    if instances is not None:
        no_instance = [key for key in ids if key not in instances]
        if no_instance:
            problems.append(_summary("image(s) without instance map", no_instance, instance_dir or label_dir))
        ids = [key for key in ids if key in instances]
    items = [Item(key, images[key], labels[key], None if instances is None else instances[key]) for key in ids]
    return Scan(items, source, problems)


def _to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def read_image(path: Path, size: Sequence[int], mode: str = "bicubic") -> torch.Tensor:
    """An RGB image as uint8 ``[3, H, W]`` resized to ``size`` (H, W) with one of ``RESIZE_MODES``."""
    height, width = size
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    if mode == "bicubic":
        return resize_image(_to_tensor(image), size)
    if mode == "sdm":
        while min(image.size) >= 2 * min(size):
            image = image.resize((image.width // 2, image.height // 2), resample=Image.BOX)
    if image.size != (width, height):
        image = image.resize((width, height), resample=Image.BICUBIC)
    return _to_tensor(image)


def read_ids(path: Path) -> np.ndarray:
    """A single-channel id map (8-bit, palette or 16/32-bit PNG) as a 2-D integer array at its stored size."""
    with Image.open(path) as opened:
        array = np.array(opened)
    if array.ndim != 2:
        raise DatasetError(f"{path}: a {array.ndim}-D map ({opened.mode}); expected a single-channel id PNG, "
                           "not a colour visualisation")
    return array


def resize_ids(ids: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resize of an integer map ``[h, w]`` to ``size`` (H, W), sampling pixel centres exactly as
    PIL's ``NEAREST`` does (``nearest-exact``), so labels line up with the official loaders."""
    if tuple(ids.shape) == tuple(size):
        return ids
    out = F.interpolate(ids[None, None].double(), size=tuple(size), mode="nearest-exact")
    return out[0, 0].to(ids.dtype)


def out_of_range(ids: np.ndarray, space: LabelSpace) -> list[int]:
    """The distinct values of a raw label map that are neither a class of ``space`` nor its ignore index."""
    values = np.unique(ids)
    return [int(v) for v in values if (v < 0 or v >= space.num_classes) and v != space.ignore_index]


class FileDataset(Dataset):
    """A dataset stored as image files with label (and instance) PNGs, paired by file id.

    Subclasses implement ``_scan`` (find the split's files under ``self.root``). Options: ``resize`` (one of
    ``RESIZE_MODES``). Labels keep the dataset's raw encoding (see its ``label_space.raw_note``). After construction
    ``source`` says which on-disk layout was found and ``problems`` lists files that could not be paired.
    """

    benchmark_split: ClassVar[str] = "val"
    split_aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, root: str | Path | None = None, split: str = "val", resize: str = "bicubic") -> None:
        super().__init__(root, self.split_aliases.get(split, split))
        if resize not in RESIZE_MODES:
            raise UserError(f"unknown resize mode '{resize}' for {self.name}; choose one of {', '.join(RESIZE_MODES)}")
        self.resize = resize
        self.root = data_root(self.name, root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.name}: data root {self.root} does not exist; pass --data-root DIR or set "
                               "SEMSYNTH_DATA")
        scan = self._scan()
        self.items, self.source, self.problems = scan.items, scan.source, scan.problems

    @abstractmethod
    def _scan(self) -> Scan:
        """Find this split's files; raise ``DatasetError`` when the expected folders are absent."""

    def __len__(self) -> int:
        return len(self.items)

    def example_id(self, index: int) -> str:
        """The id of example ``index`` without reading its files."""
        return self.items[index].id

    def _labels(self, path: Path) -> torch.Tensor:
        raw = read_ids(path)
        bad = out_of_range(raw, self.label_space)
        if bad:
            raise DatasetError(f"{path}: label values {bad[:8]} outside {self.name}'s classes "
                               f"0..{self.label_space.num_classes - 1}; run `bench datasets check`")
        return resize_ids(torch.from_numpy(raw.astype(np.int64)), self.resolution)

    def __getitem__(self, index: int) -> Example:
        item = self.items[index]
        image = read_image(item.image, self.resolution, self.resize)
        labels = self._labels(item.label)
        instances = None
        if item.instance is not None:
            instances = resize_ids(torch.from_numpy(read_ids(item.instance).astype(np.int64)), self.resolution)
        return Example(item.id, image, Layout(labels, self.label_space, instances))

    def check(self, sample: int = 20) -> list[str]:
        """Scan problems plus, for ``sample`` items spread over the split: unreadable files, label maps whose shape
        does not match their image, labels out of range and instance maps of the wrong size."""
        problems = list(self.problems)
        if not self.items:
            return problems + [f"no complete examples found ({self.source})"]
        count = min(sample, len(self.items))
        picks = sorted({round(i * (len(self.items) - 1) / max(count - 1, 1)) for i in range(count)})
        for index in picks:
            problems.extend(self._check_item(self.items[index]))
        return problems

    def _check_item(self, item: Item) -> list[str]:
        try:
            with Image.open(item.image) as opened:
                opened.load()
                width, height = opened.size
        except Exception as error:  # any decoder failure means the file is unusable
            return [f"unreadable image {item.image}: {error}"]
        try:
            raw = read_ids(item.label)
        except Exception as error:
            return [f"unreadable label map {item.label}: {error}"]
        problems = []
        if raw.shape[0] * width != raw.shape[1] * height:
            problems.append(f"label map {item.label} is {raw.shape[1]}x{raw.shape[0]} but its image is "
                            f"{width}x{height} (aspect ratios differ: mismatched pair?)")
        bad = out_of_range(raw, self.label_space)
        if bad:
            problems.append(f"labels out of range in {item.label}: values {bad[:8]} (allowed 0.."
                            f"{self.label_space.num_classes - 1} and {self.label_space.ignore_index})")
        if item.instance is not None:
            try:
                inst = read_ids(item.instance)
            except Exception as error:
                return problems + [f"unreadable instance map {item.instance}: {error}"]
            if inst.shape != raw.shape:
                problems.append(f"instance map {item.instance} is {inst.shape[1]}x{inst.shape[0]}, label map is "
                                f"{raw.shape[1]}x{raw.shape[0]}")
        return problems
