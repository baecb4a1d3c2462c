"""CelebAMask-HQ as the synthesis papers prepared it (SPADE/SEAN/SDM style).

Layout: ``{train,test}/images/<id>.jpg`` and ``{train,test}/labels/<id>.png`` with the 19 merged classes of
CelebAMask-HQ's ``g_mask.py`` (0 = background). Images and masks may differ in size (1024 vs 512) but not in aspect.
Benchmark split ``test`` (2000 images in the SDM preparation) at 256x256; ``val`` is accepted as an alias of ``test``
so protocol defaults work. No instance maps: SDM feeds the label map as instance map and INADE one instance per
class; both give the same edges (``conventions.instances_from_labels``).
"""

from __future__ import annotations

from ..registry import DATASETS
from ._files import FileDataset, Scan, index_files, pair_files, require_dirs
from .labelspaces import CELEBAMASK_LABELS


@DATASETS.register_module(name="celebamask")
class CelebAMask(FileDataset):
    """CelebAMask-HQ faces with 19-class parsing masks."""

    name = "celebamask"
    label_space = CELEBAMASK_LABELS
    resolution = (256, 256)
    splits = ("train", "test")
    split_aliases = {"val": "test"}
    benchmark_split = "test"
    has_instances = False

    def _scan(self) -> Scan:
        images, labels = self.root / self.split / "images", self.root / self.split / "labels"
        hint = "point --data-root at the folder holding train/ and test/, each with images/ and labels/"
        if (self.root / "CelebAMask-HQ-mask-anno").is_dir():
            hint += ("; this is the raw CelebAMask-HQ release: merge the part masks with its g_mask.py and split "
                     "train/test as SPADE/SDM did")
        require_dirs(self.name, (images, labels), hint)
        return pair_files(index_files(images, (".jpg", ".jpeg", ".png")), index_files(labels, (".png",)), labels,
                          source=f"train/test images+labels layout at {self.root}")
