"""Real-dataset loaders on miniature format-faithful fixtures: ids, shapes, dtypes, label ranges, instance edges,
COCO-Stuff layout detection, resize rules, label conventions and ``check_dataset``'s fault reports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semsynth.datasets import conventions as conv
from semsynth.datasets._files import read_image, resize_ids
from semsynth.datasets.ade20k import ADE20K
from semsynth.datasets.celebamask import CelebAMask
from semsynth.datasets.check import check_dataset
from semsynth.datasets.cityscapes import Cityscapes
from semsynth.datasets.cocostuff import CocoStuff
from semsynth.errors import DatasetError, UserError
from semsynth.methods.inade.presets import CONVENTION as INADE_ANY
from semsynth.registry import DATASETS
from semsynth.types import Layout, instance_edges
from tests import fixtures_datasets as fx
from tests import official_conventions as official

EXPECTED = {  # dataset -> (fixture, split, ids, (H, W), classes, eval classes)
    "ade20k": ("ade20k", "val", ["ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003"], (256, 256), 151, 150),
    "cityscapes": ("cityscapes", "val", ["frankfurt_000000_000294", "lindau_000000_000019"], (256, 512), 35, 19),
    "cocostuff": ("cocostuff_spade", "val", list(fx.COCO_VAL_IDS), (256, 256), 182, 182),
    "celebamask": ("celebamask", "test", ["28000", "28001"], (256, 256), 19, 19),
}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return fx.write_all(tmp_path_factory.mktemp("datasets"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loader_examples(roots: dict[str, Path], name: str) -> None:
    fixture, split, ids, size, classes, eval_classes = EXPECTED[name]
    cls = DATASETS.get(name)
    assert cls.resolution == size and cls.label_space.num_classes == classes
    assert cls.label_space.num_eval_classes == eval_classes
    dataset = cls(roots[fixture], split=split)
    assert [example.id for example in dataset] == ids
    example = dataset[0]
    assert example.image.dtype == torch.uint8 and tuple(example.image.shape) == (3, *size)
    labels = example.layout.labels
    assert labels.dtype == torch.int64 and tuple(labels.shape) == size
    valid = labels[labels != cls.label_space.ignore_index]
    assert int(valid.min()) >= 0 and int(valid.max()) < classes
    assert (example.layout.instances is not None) == (name in ("cityscapes", "cocostuff"))


def test_raw_label_values_are_kept(roots: dict[str, Path]) -> None:
    ade = ADE20K(roots["ade20k"])[0].layout
    assert sorted(ade.labels.unique().tolist()) == [0, 1, 13, 150]
    assert ade.label_space.to_eval(torch.tensor([0, 1, 150])).tolist() == [255, 0, 149]
    coco = CocoStuff(roots["cocostuff_spade"])[0].layout
    assert sorted(coco.labels.unique().tolist()) == [0, 123, 181, 255]
    city = Cityscapes(roots["cityscapes"])[0].layout
    assert sorted(city.labels.unique().tolist()) == [1, 7, 23, 24, 26]
    assert city.label_space.to_eval(torch.tensor([7, 26, 33, 1])).tolist() == [0, 13, 18, 255]


def test_cityscapes_instance_ids_and_edges(roots: dict[str, Path]) -> None:
    layout = Cityscapes(roots["cityscapes"])[0].layout
    assert {24000, 26000, 26001, 26}.issubset(set(layout.instances.unique().tolist()))
    edges = layout.edges()
    assert torch.equal(edges, instance_edges(layout.instances))
    # the two touching cars (fixture columns 4:20 and 20:36 of 64 -> 32:160 and 160:288 of 512) share an edge that
    # the label map alone does not have
    row = 14 * 8
    assert layout.labels[row, 159] == layout.labels[row, 160] == 26
    assert edges[row, 159] == 1 and edges[row, 160] == 1
    assert edges[row, 100] == 0


def test_cocostuff_detects_both_layouts(roots: dict[str, Path]) -> None:
    official = CocoStuff(roots["cocostuff_official"])
    spade = CocoStuff(roots["cocostuff_spade"])
    assert official.layout == "official" and "official" in official.source
    assert spade.layout == "spade" and "SPADE" in spade.source
    assert [item.id for item in official.items] == list(fx.COCO_VAL_IDS)   # _labelTrainIds files are not items
    assert official[0].layout.instances is None and spade[0].layout.instances is not None
    assert torch.equal(official[1].layout.labels, spade[1].layout.labels)
    with pytest.raises(UserError, match="layout"):
        CocoStuff(roots["cocostuff_official"], layout="spade")


def test_celebamask_val_alias_and_half_size_masks(roots: dict[str, Path]) -> None:
    dataset = CelebAMask(roots["celebamask"], split="val")
    assert dataset.split == "test" and len(dataset) == 2
    counts, problems, sources = check_dataset("celebamask", roots["celebamask"])
    assert (counts, problems) == ({"train": 1, "test": 2}, [])
    assert "images+labels layout" in sources["test"]


def test_label_resize_matches_pil_nearest() -> None:
    raw = np.random.RandomState(0).randint(0, 150, (37, 53)).astype(np.uint8)
    for size in ((256, 256), (16, 9), (74, 106)):
        expected = np.array(Image.fromarray(raw).resize(size[::-1], resample=Image.NEAREST))
        assert np.array_equal(resize_ids(torch.from_numpy(raw.astype(np.int64)), size).numpy(), expected)


def test_image_resize_modes(tmp_path: Path) -> None:
    small = fx._photo(40, 60, 3)
    photo = small.repeat(2, axis=0).repeat(2, axis=1)            # 80x120 made of constant 2x2 blocks
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    size = (32, 32)
    pil = np.array(Image.fromarray(photo).resize((32, 32), resample=Image.BICUBIC))
    assert np.array_equal(read_image(path, size, "pil").permute(1, 2, 0).numpy(), pil)
    # sdm: box halvings while the short side is >= 2 * 32 (80x120 -> 40x60), then bicubic; halving constant 2x2
    # blocks is exact, so the result is the bicubic resize of the small picture
    halved = np.array(Image.fromarray(small).resize((32, 32), resample=Image.BICUBIC))
    assert np.array_equal(read_image(path, size, "sdm").permute(1, 2, 0).numpy(), halved)
    default = read_image(path, size, "bicubic").permute(1, 2, 0).numpy().astype(float)
    assert np.abs(default - pil).mean() < 2.0                # antialiased bicubic agrees with PIL's to rounding
    with pytest.raises(UserError, match="resize mode"):
        ADE20K(tmp_path, resize="lanczos")


def test_conventions() -> None:
    ade = Layout(torch.tensor([[0, 1, 150]]), ADE20K.label_space)
    labels, instances = conv.apply_convention(ade, official.SDM["ade20k"])
    assert labels.tolist() == [[150, 0, 149]] and instances is None
    labels, instances = conv.apply_convention(ade, official.INADE["ade20k"])
    assert labels.tolist() == [[0, 1, 150]] and instances.tolist() == [[0, 1, 2]]
    coco = Layout(torch.tensor([[255, 3]]), CocoStuff.label_space, torch.tensor([[7, 300]]))
    labels, instances = conv.apply_convention(coco, official.SDM["cocostuff"])
    assert labels.tolist() == [[182, 3]] and instances.tolist() == [[7, 255]]
    city = Layout(torch.tensor([[26, 26, 7]]), Cityscapes.label_space, torch.tensor([[26001, 26002, 7]]))
    assert conv.apply_convention(city, official.SDM["cityscapes"])[1].tolist() == [[255, 255, 7]]
    assert conv.apply_convention(city, official.INADE["cityscapes"])[1].tolist() == [[1, 2, 0]]
    face = Layout(torch.tensor([[0, 13], [13, 18]]), CelebAMask.label_space)
    assert conv.apply_convention(face, official.SDM["celebamask"])[1].tolist() == [[0, 1], [1, 2]]


def test_convention_variants() -> None:
    assert conv.ade_shift(torch.tensor([0, 1, 255])).tolist() == [150, 0, 255]       # ignored pixels stay ignored
    city = Layout(torch.tensor([[26, 26, 7]]), Cityscapes.label_space, torch.tensor([[26001, 26002, 7]]))
    ade = Layout(torch.tensor([[0, 7, 7, 150]]), ADE20K.label_space)
    face = Layout(torch.tensor([[0, 13], [13, 18]]), CelebAMask.label_space)
    assert conv.apply_convention(city, INADE_ANY)[1].tolist() == [[1, 2, 0]]       # the layout's instances
    assert conv.apply_convention(ade, INADE_ANY)[1].tolist() == [[0, 1, 1, 2]]     # else one per class
    for name, layout in (("cityscapes", city), ("ade20k", ade), ("celebamask", face)):
        assert torch.equal(conv.apply_convention(layout, INADE_ANY)[1],
                           conv.apply_convention(layout, official.INADE[name])[1])
    with pytest.raises(ValueError, match="instances must be one of"):
        conv.LabelConvention(instances="auto")


def test_check_reports_planted_faults(tmp_path: Path) -> None:
    roots = {name: writer(tmp_path) for name, writer in fx.WRITERS.items()}
    problems = check_dataset("ade20k", tmp_path / "nowhere")[1]
    assert len(problems) == 1 and "does not exist" in problems[0]
    counts, problems, _ = check_dataset("cityscapes", roots["celebamask"])            # wrong root
    assert counts == {"train": 0, "val": 0} and "missing folder" in problems[0] and "leftImg8bit" in problems[0]

    ade = roots["ade20k"]
    (ade / "annotations" / "validation" / "ADE_val_00000002.png").unlink()          # missing annotation
    bad = np.array(Image.open(ade / "annotations" / "validation" / "ADE_val_00000003.png"))
    bad[0, 0] = 200
    Image.fromarray(bad).save(ade / "annotations" / "validation" / "ADE_val_00000003.png")   # out of range
    (ade / "images" / "validation" / "ADE_val_00000001.jpg").write_bytes(b"not a jpeg")      # unreadable
    counts, problems, _ = check_dataset("ade20k", ade.parent)
    assert counts == {"train": 2, "val": 2}
    assert len(problems) == 3 and all(line.startswith("val: ") for line in problems)
    assert "1 image(s) without label map" in problems[0] and "ADE_val_00000002" in problems[0]
    assert "unreadable image" in problems[1] and "ADE_val_00000001.jpg" in problems[1]
    assert "labels out of range" in problems[2] and "[200]" in problems[2]
    with pytest.raises(DatasetError, match=r"labels out of range in .*ADE_val_00000003.png: values \[200\]"):
        ADE20K(ade.parent)[1]

    shutil.rmtree(roots["cocostuff_spade"] / "train_img")                           # absent non-benchmark split
    (roots["cocostuff_spade"] / "val_inst" / "000000000285.png").unlink()
    counts, problems, _ = check_dataset("cocostuff", roots["cocostuff_spade"])
    assert counts == {"train": 0, "val": 2}
    assert problems == [f"val: 1 image(s) without instance map (expected in {roots['cocostuff_spade'] / 'val_inst'})"
                        ": 000000000285"]


def test_fixture_script_runs(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tests.fixtures_datasets", str(tmp_path)], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent.parent, check=True)
    assert "cocostuff_spade" in result.stdout
    written = tmp_path / "cityscapes" / "gtFine" / "val" / "lindau" / "lindau_000000_000019_gtFine_instanceIds.png"
    assert written.is_file() and Image.open(written).mode.startswith("I")
