"""SwAV-FID and CLIP (FID-C) backbones on stand-in files of the real architectures and file layouts, and the
FID-family metrics end to end on the `shapes` dataset: reference cache, shared feature stream, recorded fields."""

import pytest
import torch
from PIL import Image
from torchvision import transforms

from semsynth.errors import UserError
from tests import standins
from semsynth.evaluators.base import EvalBatch, EvalContext
from semsynth.backbones.clip import CLIPFeatures
from semsynth.backbones.clip import preprocess as clip_preprocess
from semsynth.evaluators.kid import KID
from semsynth.evaluators.swav_fid import SwAVFID
from semsynth.backbones.swav import MEAN, STD, SwAVFeatures, preprocess


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    return {"swav": standins.swav_resnet50(folder / "swav_800ep_pretrain.pth.tar"),
            "clip": standins.clip_vit_b32(folder / "ViT-B-32.pt")}


def _images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_swav_preprocessing_is_morozovs_pipeline_on_png_files(tmp_path):
    images = _images(2, 32, 64, 0)
    reference = transforms.Compose([transforms.Resize(224), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    expected = []
    for index, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / f"{index}.png")
        expected.append(reference(Image.open(tmp_path / f"{index}.png").convert("RGB")))
    ours = preprocess(images)
    assert ours.shape == (2, 3, 224, 448)           # shorter side 224, aspect kept, no crop
    torch.testing.assert_close(ours, torch.stack(expected), rtol=0, atol=0)


def test_swav_loads_the_checkpoint_layout_and_is_batch_independent(files, tmp_path):
    backbone = SwAVFeatures(checkpoint=files["swav"])
    images = _images(2, 32, 32, 1)
    batched = backbone.features(images)
    assert batched.shape == (2, 2048) and batched.dtype == torch.float64
    single = torch.cat([backbone.features(image[None]) for image in images])
    torch.testing.assert_close(batched, single, rtol=1e-6, atol=1e-6)
    torch.save({"module.conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "broken.pth.tar")
    with pytest.raises(UserError, match="not a SwAV ResNet-50 checkpoint"):
        SwAVFeatures(checkpoint=tmp_path / "broken.pth.tar")


def test_clip_loads_openai_key_names_and_crops_like_cleanfid(files):
    backbone = CLIPFeatures(checkpoint=files["clip"])
    images = _images(2, 40, 80, 2)
    assert clip_preprocess(images).shape == (2, 3, 224, 224)       # shorter side 224, centre crop
    batched = backbone.features(images)
    assert batched.shape == (2, 512)
    single = torch.cat([backbone.features(image[None]) for image in images])
    torch.testing.assert_close(batched, single, rtol=1e-6, atol=1e-6)


def test_fid_family_metrics_end_to_end_on_shapes(files, tmp_path):
    context = EvalContext(dataset="shapes", split="val", batch_size=4, cache_dir=tmp_path,
                          options={"protocol": "test"})
    options = {"checkpoint": str(files["swav"]), "reference_limit": 2}
    swav_fid, kid = SwAVFID(**options), KID(backbone="swav-r50", subsets=5, **options)
    for metric in (swav_fid, kid):
        metric.prepare(context)
    cached = sorted(path.name for path in tmp_path.iterdir())
    assert len(cached) == 2 and any("-stats-" in n for n in cached) and any("-features-" in n for n in cached)
    batch = EvalBatch(images=_images(3, 64, 64, 3)[:, None].repeat(1, 2, 1, 1, 1),
                      labels=torch.zeros(3, 64, 64, dtype=torch.long))
    states = {metric: metric.new_state() for metric in (swav_fid, kid)}
    swav_fid.update(states[swav_fid], batch)
    [shared] = context.features.entries.values()
    kid.update(states[kid], batch)
    [again] = context.features.entries.values()
    assert again is shared                                         # one backbone pass for both metrics
    fid_record, kid_record = swav_fid.compute(states[swav_fid]), kid.compute(states[kid])
    assert fid_record["backbone"] == "swav-r50" and fid_record["mode"] == "swav-morozov"
    assert (fid_record["n_fake"], fid_record["n_real"]) == (3, 2) and fid_record["value"] > 0
    assert kid_record["seed"] == 0 and kid_record["subsets"] == 5 and kid_record["n_real"] == 2
    again = SwAVFID(**options)
    again.prepare(context)                                         # served from the cache
    assert sorted(path.name for path in tmp_path.iterdir()) == cached
    torch.testing.assert_close(again.reference["sum"], swav_fid.reference["sum"])


class _Holder(torch.nn.Module):
    """A module tree holding given tensors under dotted names (as OpenAI's TorchScript file holds its weights)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_clip_reads_a_torchscript_archive_like_openais(files, tmp_path):
    state = torch.load(files["clip"], weights_only=True)
    root = _Holder()
    for key, value in state.items():
        *path, leaf = key.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, _Holder())
            module = getattr(module, part)
        module.register_parameter(leaf, torch.nn.Parameter(value.half(), requires_grad=False))  # OpenAI: fp16
    torch.jit.save(torch.jit.script(root), str(tmp_path / "ViT-B-32.pt"))
    images = _images(1, 48, 48, 4)
    from_script = CLIPFeatures(checkpoint=tmp_path / "ViT-B-32.pt").features(images)
    half_rounded = {key: value.half().float() for key, value in state.items()}
    torch.save(half_rounded, tmp_path / "plain.pt")
    torch.testing.assert_close(from_script, CLIPFeatures(checkpoint=tmp_path / "plain.pt").features(images))
