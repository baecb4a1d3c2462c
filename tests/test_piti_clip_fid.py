"""FID-C (PITI's metric) against clean-fid's own CLIP path on the same weights file: a random OpenAI-format CLIP
state_dict in fp16 (full ViT-B/32 image tower, tiny text tower) that clean-fid loads through ``clip.load`` and our
``clip-vit-b32`` backbone loads through timm; features and the Fréchet distance agree to 1e-5."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.slow


def _import_clip():
    """clip-anytorch imports ``pkg_resources.packaging`` (setuptools); without setuptools, hand it ``packaging``."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            import packaging.version

            shim = types.ModuleType("pkg_resources")
            shim.packaging = packaging
            sys.modules["pkg_resources"] = shim
    return pytest.importorskip("clip")


def test_clip_features_and_fid_match_clean_fid(tmp_path) -> None:
    clip = _import_clip()
    fid = pytest.importorskip("cleanfid.fid")
    from cleanfid.clip_features import CLIP_fx, img_preprocess_clip

    from semsynth.backbones.clip import CLIPFeatures
    from semsynth.evaluators.fid import frechet_distance

    torch.manual_seed(0)
    model = clip.model.CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                            vision_patch_size=32, context_length=8, vocab_size=16, transformer_width=64,
                            transformer_heads=1, transformer_layers=1)
    file = tmp_path / "ViT-B-32-random.pt"
    # fp16 as OpenAI's release stores it (clip.load rounds every weight to fp16; our loader keeps what is stored)
    torch.save({key: value.half() if value.is_floating_point() else value for key, value in model.state_dict().items()},
               file)
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (6, 3, 48, 64), generator=generator, dtype=torch.uint8)
    folders = [tmp_path / "a", tmp_path / "b"]
    for index, image in enumerate(images):
        folder = folders[index % 2]
        folder.mkdir(exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{index}.png")

    theirs = [fid.get_folder_features(str(folder), model=CLIP_fx(str(file), device="cpu"), num_workers=0,
                                      batch_size=8, device=torch.device("cpu"), mode="clean",
                                      custom_fn_resize=img_preprocess_clip, verbose=False) for folder in folders]
    ours_net = CLIPFeatures(checkpoint=file)
    ours = [ours_net.features(images[start::2]).numpy() for start in (0, 1)]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())

    def stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return features.mean(0), np.cov(features, rowvar=False)

    expected = fid.frechet_distance(*stats(theirs[0]), *stats(theirs[1]))
    actual = frechet_distance(*stats(ours[0].astype(np.float64)), *stats(ours[1].astype(np.float64)))
    assert actual == pytest.approx(expected, rel=1e-5)
