"""ADE20K (SceneParsing 150) as released in ``ADEChallengeData2016.zip``.

Layout: ``ADEChallengeData2016/images/{training,validation}/ADE_*.jpg`` and ``annotations/{...}/ADE_*.png`` (8-bit,
0 = "other", 1..150 = classes). ``--data-root`` may point at ``ADEChallengeData2016`` or at its parent. Benchmark
split ``val`` (2000 images) at 256x256. No instance maps: INADE's "each present class is one instance" comes from
``conventions.instances_from_labels``.
"""

from __future__ import annotations

from ..registry import DATASETS
from ._files import FileDataset, Scan, index_files, pair_files, require_dirs
from .labelspaces import ADE20K_LABELS

_FOLDERS = {"train": "training", "val": "validation"}


@DATASETS.register_module(name="ade20k")
class ADE20K(FileDataset):
    """ADE20K SceneParsing: 151 label values (0 = other), evaluated on 150 classes with other ignored."""

    name = "ade20k"
    label_space = ADE20K_LABELS
    resolution = (256, 256)
    splits = ("train", "val")
    has_instances = False

    def _scan(self) -> Scan:
        nested = self.root / "ADEChallengeData2016"
        base = nested if nested.is_dir() else self.root
        folder = _FOLDERS[self.split]
        images, labels = base / "images" / folder, base / "annotations" / folder
        require_dirs(self.name, (images, labels), "point --data-root at ADEChallengeData2016/ or its parent")
        return pair_files(index_files(images, (".jpg",)), index_files(labels, (".png",)), labels,
                          source=f"ADEChallengeData2016 layout at {base}")
