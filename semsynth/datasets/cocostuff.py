"""COCO-Stuff 164k in either of the two layouts in use, detected automatically.

- ``official``: ``images/{train,val}2017/<id>.jpg`` with the ``stuffthingmaps_trainval2017.zip`` PNGs unpacked to
  ``annotations/{train,val}2017/<id>.png`` (or kept under ``stuffthingmaps_trainval2017/``). No instance maps.
  Derived ``*_labelTrainIds.png`` files (mmsegmentation's 171-class conversion) are ignored.
- ``spade``: SPADE/OASIS/SDM's ``{train,val}_img``, ``{train,val}_label`` and, when present, ``{train,val}_inst``
  (SPADE's ``coco_generate_instance_map.py``: the label map with instance polygons painted over as 0, 1, 2, ...).

Labels are 0..181 with 255 unlabelled. Benchmark split ``val`` (5000 images) at 256x256.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..registry import DATASETS
from ._files import FileDataset, Scan, index_files, pair_files, require_dirs
from .labelspaces import COCOSTUFF_LABELS

LAYOUTS = ("official", "spade")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@DATASETS.register_module(name="cocostuff")
class CocoStuff(FileDataset):
    """COCO-Stuff: 182 classes (255 unlabelled), instance maps in the SPADE layout."""

    name = "cocostuff"
    label_space = COCOSTUFF_LABELS
    resolution = (256, 256)
    splits = ("train", "val")
    has_instances = True

    def __init__(self, root: str | Path | None = None, split: str = "val", resize: str = "bicubic",
                 layout: str | None = None) -> None:
        if layout is not None and layout not in LAYOUTS:
            raise UserError(f"unknown COCO-Stuff layout '{layout}'; choose {' or '.join(LAYOUTS)} (or omit it)")
        self.layout = layout
        super().__init__(root, split, resize)

    def _detect(self) -> str:
        if (self.root / f"{self.split}_img").is_dir() or (self.root / f"{self.split}_label").is_dir():
            return "spade"
        if (self.root / "images").is_dir():
            return "official"
        raise UserError(f"cocostuff: no COCO-Stuff layout under {self.root}: expected images/{self.split}2017 with "
                        f"annotations/{self.split}2017 (official) or {self.split}_img with {self.split}_label "
                        "(SPADE); check --data-root")

    def _scan(self) -> Scan:
        self.layout = self.layout or self._detect()
        return self._scan_spade() if self.layout == "spade" else self._scan_official()

    def _scan_official(self) -> Scan:
        folder = f"{self.split}2017"
        images = self.root / "images" / folder
        labels = self.root / "annotations" / folder
        if not labels.is_dir() and (self.root / "stuffthingmaps_trainval2017" / folder).is_dir():
            labels = self.root / "stuffthingmaps_trainval2017" / folder
        require_dirs(self.name, (images, labels), "unpack stuffthingmaps_trainval2017.zip into annotations/")
        return pair_files(index_files(images, _IMAGE_SUFFIXES),
                          index_files(labels, (".png",), skip=("_labelTrainIds.png",)), labels,
                          source=f"official COCO-Stuff layout (images/{folder} + {labels.relative_to(self.root)}) "
                                 f"at {self.root}, no instance maps")

    def _scan_spade(self) -> Scan:
        images, labels = self.root / f"{self.split}_img", self.root / f"{self.split}_label"
        require_dirs(self.name, (images, labels), f"the SPADE layout needs {self.split}_img/ and {self.split}_label/")
        inst_dir = self.root / f"{self.split}_inst"
        instances = index_files(inst_dir, (".png",)) if inst_dir.is_dir() else None
        found = "with" if instances is not None else "without"
        return pair_files(index_files(images, _IMAGE_SUFFIXES), index_files(labels, (".png",)), labels,
                          instances, inst_dir, source=f"SPADE COCO-Stuff layout ({self.split}_img/_label, {found} "
                                                      f"{self.split}_inst) at {self.root}")
