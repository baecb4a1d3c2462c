"""Write miniature, format-faithful copies of the four real datasets' on-disk layouts (synthetic pixels only).

Real file naming and label encodings: ADE20K 8-bit annotations with 0 = other; Cityscapes labelIds plus 16-bit
instanceIds (``26000``, ``26001`` for two touching cars, a bare ``26`` for a car group); COCO-Stuff in both the
official (``images/val2017`` + ``annotations/val2017``) and the SPADE (``val_img``/``val_label``/``val_inst``) layouts
with 255 = unlabelled; CelebAMask-HQ ``test/images`` (JPEG) + ``test/labels`` (half-size PNG). Sizes are tiny but keep
each dataset's aspect ratio. Run ``python -m tests.fixtures_datasets OUT_DIR``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 0


def _photo(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random RGB picture (gradients plus noise), uint8 [H, W, 3]."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = rng.uniform(40, 200, 3)
    slope = rng.uniform(-80, 80, (2, 3))
    image = base + x[..., None] * slope[0] + y[..., None] * slope[1] + rng.normal(0, 8, (height, width, 3))
    return image.clip(0, 255).astype(np.uint8)


def _blocks(height: int, width: int, values: list[int], seed: int) -> np.ndarray:
    """A label map of vertical bands, one per value, with a random-width split (int32 [H, W])."""
    rng = np.random.RandomState(seed)
    cuts = np.sort(rng.choice(np.arange(1, width), len(values) - 1, replace=False))
    labels = np.zeros((height, width), dtype=np.int32)
    for value, start, stop in zip(values, np.r_[0, cuts], np.r_[cuts, width]):
        labels[:, start:stop] = value
    return labels


def _save(array: np.ndarray, path: Path, bits: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint8 if bits == 8 else np.uint16
    Image.fromarray(array.astype(dtype)).save(path)


def write_ade20k(root: Path) -> Path:
    """``ADEChallengeData2016`` with 3 validation and 2 training images (non-square, like ADE's)."""
    base = root / "ADEChallengeData2016"
    for split, prefix, count in (("validation", "ADE_val", 3), ("training", "ADE_train", 2)):
        for k in range(1, count + 1):
            name = f"{prefix}_{k:08d}"
            seed = 10 * count + k
            _save(_photo(30 + 4 * k, 40, seed), base / "images" / split / f"{name}.jpg")
            _save(_blocks(30 + 4 * k, 40, [0, 1, 13 * k, 150], seed), base / "annotations" / split / f"{name}.png")
    (base / "objectInfo150.txt").write_text("Idx\tRatio\tTrain\tVal\tName\n1\t0.1576\t11664\t1172\twall\n")
    (base / "sceneCategories.txt").write_text("ADE_val_00000001 abbey\n")
    return base


def write_cityscapes(root: Path) -> Path:
    """``leftImg8bit`` + ``gtFine`` for two val cities and one train city (2:1 images, 16-bit instanceIds)."""
    base = root / "cityscapes"
    frames = (("val", "frankfurt", "000000_000294"), ("val", "lindau", "000000_000019"),
              ("train", "aachen", "000000_000019"))
    for split, city, frame in frames:
        stem = f"{city}_{frame}"
        height, width = 32, 64
        _save(_photo(height, width, len(stem)), base / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
        labels = np.full((height, width), 7, dtype=np.int32)          # road
        labels[:8] = 23                                                # sky
        labels[8:20, 4:20] = 26                                        # two touching cars
        labels[8:20, 20:36] = 26
        labels[10:24, 40:46] = 24                                      # a person
        labels[24:, 50:] = 26                                          # a car group (crowd: no instance id)
        labels[30:] = 1                                                # ego vehicle
        instances = labels.copy()
        instances[8:20, 4:20] = 26000
        instances[8:20, 20:36] = 26001
        instances[10:24, 40:46] = 24000
        folder = base / "gtFine" / split / city
        _save(labels, folder / f"{stem}_gtFine_labelIds.png")
        _save(instances, folder / f"{stem}_gtFine_instanceIds.png", bits=16)
        colour = np.zeros((height, width, 3), dtype=np.uint8)
        _save(colour, folder / f"{stem}_gtFine_color.png")
        (folder / f"{stem}_gtFine_polygons.json").write_text(json.dumps({"imgHeight": 1024, "imgWidth": 2048,
                                                                         "objects": []}))
    return base


def _coco_maps(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    height, width = 24 + 4 * k, 32
    labels = _blocks(height, width, [0, 0, 181, 123], 50 + k)         # person, person, wood, grass
    labels[:3] = 255                                                   # unlabelled strip
    instances = labels.copy()                                          # SPADE: polygons painted as 0, 1, ...
    people = np.flatnonzero(labels[5] == 0)
    instances[:, people[: len(people) // 2]] = 0
    instances[:, people[len(people) // 2:]] = 1
    instances[:3] = 255
    return _photo(height, width, 60 + k), labels, instances


COCO_VAL_IDS = ("000000000139", "000000000285", "000000000632")


def write_cocostuff_official(root: Path) -> Path:
    """``images/{train,val}2017`` + ``annotations/{train,val}2017`` (stuffthingmaps unpacked as documented)."""
    base = root / "cocostuff_official"
    for split, ids in (("val2017", COCO_VAL_IDS), ("train2017", ("000000000009", "000000000025"))):
        for k, image_id in enumerate(ids):
            photo, labels, _ = _coco_maps(k)
            _save(photo, base / "images" / split / f"{image_id}.jpg")
            _save(labels, base / "annotations" / split / f"{image_id}.png")
            _save(labels, base / "annotations" / split / f"{image_id}_labelTrainIds.png")  # mmseg's derived file
    return base


def write_cocostuff_spade(root: Path) -> Path:
    """SPADE/OASIS/SDM ``{train,val}_{img,label,inst}``."""
    base = root / "cocostuff_spade"
    for split, ids in (("val", COCO_VAL_IDS), ("train", ("000000000009", "000000000025"))):
        for k, image_id in enumerate(ids):
            photo, labels, instances = _coco_maps(k)
            _save(photo, base / f"{split}_img" / f"{image_id}.jpg")
            _save(labels, base / f"{split}_label" / f"{image_id}.png")
            _save(instances, base / f"{split}_inst" / f"{image_id}.png")
    return base


def write_celebamask(root: Path) -> Path:
    """``{train,test}/images`` (JPEG, 64x64) + ``{train,test}/labels`` (PNG, 32x32: masks are half the image size)."""
    base = root / "celebamask"
    for split, ids in (("test", ("28000", "28001")), ("train", ("0",))):
        for image_id in ids:
            seed = int(image_id) % 997
            _save(_photo(64, 64, seed), base / split / "images" / f"{image_id}.jpg")
            labels = np.zeros((32, 32), dtype=np.int32)
            labels[6:30, 8:24] = 1                                     # skin
            labels[2:8, 6:26] = 13                                     # hair
            labels[14:16, 11:14] = 4                                   # l_eye
            labels[14:16, 18:21] = 5                                   # r_eye
            labels[24:26, 13:19] = 11                                  # u_lip
            labels[30:] = 18                                           # cloth
            _save(labels, base / split / "labels" / f"{image_id}.png")
    return base


WRITERS = {
    "ade20k": write_ade20k,
    "cityscapes": write_cityscapes,
    "cocostuff_official": write_cocostuff_official,
    "cocostuff_spade": write_cocostuff_spade,
    "celebamask": write_celebamask,
}


def write_all(out: Path) -> dict[str, Path]:
    """Write every fixture under ``out``; returns fixture name -> the folder to pass as ``--data-root``."""
    out = Path(out)
    roots = {name: writer(out) for name, writer in WRITERS.items()}
    roots["ade20k"] = roots["ade20k"].parent                           # data root holds ADEChallengeData2016/
    return roots


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.fixtures_datasets OUT_DIR", file=sys.stderr)
        return 2
    for name, root in write_all(Path(argv[0])).items():
        print(f"{name}: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
