"""Shared machinery of the real-dataset loaders: pairing image/label/instance files by id, reading and resizing
them to the benchmark resolution, and checking a sample of files on disk."""

from __future__ import annotations

import struct
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterable, Sequence, TypeVar

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
T = TypeVar("T")


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


def _decoded(path: Path, what: str, convert: Callable[[Image.Image], T]) -> T:
    """``convert`` of the fully decoded file ``path``; a one-line ``DatasetError`` naming the file when it does not
    decode (corrupt, truncated, not an image). The message is the one ``bench datasets check`` prints."""
    try:
        with Image.open(path) as opened:
            opened.load()
            return convert(opened)
    except DatasetError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as error:
        text = str(error).strip().splitlines()
        raise DatasetError(f"unreadable {what} {path}: {text[0] if text else type(error).__name__}") from None


def decode_image(path: Path) -> Image.Image:
    """An image file decoded as RGB (a ``DatasetError`` naming it when it does not decode)."""
    return _decoded(path, "image", lambda opened: opened.convert("RGB"))


def resize_rgb(image: Image.Image, size: Sequence[int], mode: str = "bicubic") -> torch.Tensor:
    """An RGB image as uint8 ``[3, H, W]`` resized to ``size`` (H, W) with one of ``RESIZE_MODES``."""
    height, width = size
    if mode == "bicubic":
        return resize_image(_to_tensor(image), size)
    if mode == "sdm":
        while min(image.size) >= 2 * min(size):
            image = image.resize((image.width // 2, image.height // 2), resample=Image.BOX)
    if image.size != (width, height):
        image = image.resize((width, height), resample=Image.BICUBIC)
    return _to_tensor(image)


def read_image(path: Path, size: Sequence[int], mode: str = "bicubic") -> torch.Tensor:
    """An RGB image file as uint8 ``[3, H, W]`` resized to ``size`` (H, W) with one of ``RESIZE_MODES``."""
    return resize_rgb(decode_image(path), size, mode)


def _id_array(opened: Image.Image) -> np.ndarray:
    array = np.array(opened)
    if array.ndim != 2:
        raise DatasetError(f"{opened.filename}: a {array.ndim}-D map ({opened.mode}); expected a single-channel id "
                           "PNG, not a colour visualisation")
    return array


def read_ids(path: Path, what: str = "label map") -> np.ndarray:
    """A single-channel id map (8-bit, palette or 16/32-bit PNG) as a 2-D integer array at its stored size."""
    return _decoded(path, what, _id_array)


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

    def __getitem__(self, index: int) -> Example:
        item = self.items[index]
        image, labels, instances = self._read(item)
        problems = self._item_problems(item, image.size, labels, instances)
        if problems:
            raise DatasetError(f"{problems[0]}; run `bench datasets check`")
        to_tensor = lambda ids: resize_ids(torch.from_numpy(ids.astype(np.int64)), self.resolution)  # noqa: E731
        return Example(item.id, resize_rgb(image, self.resolution, self.resize),
                       Layout(to_tensor(labels), self.label_space, None if instances is None else to_tensor(instances)))

    def _read(self, item: Item) -> tuple[Image.Image, np.ndarray, np.ndarray | None]:
        """The decoded image, label map and instance map (None without one) of ``item``."""
        image = decode_image(item.image)
        labels = read_ids(item.label)
        instances = None if item.instance is None else read_ids(item.instance, "instance map")
        return image, labels, instances

    def _item_problems(self, item: Item, image_size: tuple[int, int], raw: np.ndarray,
                       instances: np.ndarray | None) -> list[str]:
        """What is wrong with one example's decoded files: a label map whose aspect ratio is not its image's,
        labels out of range, an instance map of another size than the label map."""
        problems = []
        width, height = image_size
        if raw.shape[0] * width != raw.shape[1] * height:
            problems.append(f"label map {item.label} is {raw.shape[1]}x{raw.shape[0]} but its image is "
                            f"{width}x{height} (aspect ratios differ: mismatched pair?)")
        bad = out_of_range(raw, self.label_space)
        if bad:
            problems.append(f"labels out of range in {item.label}: values {bad[:8]} (allowed 0.."
                            f"{self.label_space.num_classes - 1} and {self.label_space.ignore_index})")
        if instances is not None and instances.shape != raw.shape:
            problems.append(f"instance map {item.instance} is {instances.shape[1]}x{instances.shape[0]}, label map "
                            f"is {raw.shape[1]}x{raw.shape[0]}")
        return problems

    def problems_of(self, indices: Iterable[int]) -> list[str]:
        """Scan problems (files that could not be paired) plus, for each example of ``indices``: files that do not
        decode, label maps whose shape does not match their image, labels out of range, instance maps of the
        wrong size."""
        problems = list(self.problems)
        if not self.items:
            return problems + [f"no complete examples found ({self.source})"]
        for index in indices:
            item = self.items[index]
            try:
                decoded = self._read(item)
            except DatasetError as error:
                problems.append(str(error))
                continue
            problems.extend(self._item_problems(item, decoded[0].size, *decoded[1:]))
        return problems
