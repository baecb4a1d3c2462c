"""Cityscapes fine annotations as released (``leftImg8bit_trainvaltest.zip`` + ``gtFine_trainvaltest.zip``).

Layout: ``leftImg8bit/{train,val}/<city>/<id>_leftImg8bit.png``, ``gtFine/{train,val}/<city>/<id>_gtFine_labelIds.png``
(labelIds 0..33) and ``<id>_gtFine_instanceIds.png`` (16-bit: ``labelId * 1000 + k`` for each single instance of a
thing class, the plain labelId for stuff and for crowd/group regions). Ids are ``<city>_<seq>_<frame>``. Benchmark
split ``val`` (500 images) at 256x512 (H x W); evaluation maps labelIds to the 19 trainIds.
"""

from __future__ import annotations

from ..registry import DATASETS
from ._files import FileDataset, Scan, index_files, pair_files, require_dirs
from .labelspaces import CITYSCAPES_LABELS


@DATASETS.register_module(name="cityscapes")
class Cityscapes(FileDataset):
    """Cityscapes: 35 labelId classes with instance maps; scored on the 19 trainIds."""

    name = "cityscapes"
    label_space = CITYSCAPES_LABELS
    resolution = (256, 512)
    splits = ("train", "val")
    has_instances = True

    def _scan(self) -> Scan:
        images, labels = self.root / "leftImg8bit" / self.split, self.root / "gtFine" / self.split
        require_dirs(self.name, (images, labels), "point --data-root at the folder holding leftImg8bit/ and gtFine/")
        return pair_files(index_files(images, ("_leftImg8bit.png",), recursive=True),
                          index_files(labels, ("_gtFine_labelIds.png",), recursive=True), labels,
                          index_files(labels, ("_gtFine_instanceIds.png",), recursive=True), labels,
                          source=f"Cityscapes leftImg8bit + gtFine layout at {self.root}")
