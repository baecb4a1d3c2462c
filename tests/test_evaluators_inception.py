"""Our Inception backbones equal clean-fid's own extractors, and our FID equals clean-fid's ``compute_fid`` on the
same two folders, with randomly initialised Inception files of the real architectures (the real weights are not
available here). Two small non-square images per folder keep the 299x299 network affordable on a CPU; our
features are computed once per (mode, folder) and shared by the tests."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests import standins
from semsynth.evaluators.fid import new_stats, stats_distance, update_stats
from semsynth.backbones.inception import InceptionFeatures

FILES = {"clean": "inception-2015-12-05.pt", "legacy_tensorflow": "inception-2015-12-05.pt",
         "legacy_pytorch": "pt_inception-2015-12-05-6726825d.pth"}


def _smooth_images(n: int, seed: int) -> torch.Tensor:
    """uint8 [n, 3, 48, 80] images with structure at several scales (so that resizing matters)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 6, 10, generator=generator)
    fine = torch.rand(n, 3, 48, 80, generator=generator)
    image = torch.nn.functional.interpolate(coarse, size=(48, 80), mode="bilinear") * 200 + fine * 55
    return image.round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("inception")
    (root / "weights").mkdir()
    standins.inception_torchscript(root / "weights" / FILES["clean"], seed=0)
    hub = root / "torch_home" / "hub" / "checkpoints"     # where clean-fid's legacy_pytorch loads from
    hub.mkdir(parents=True)
    standins.inception_pytorch_fid(hub / FILES["legacy_pytorch"], seed=0)
    images = {"real": _smooth_images(2, 0), "fake": _smooth_images(2, 1)}
    for name, batch in images.items():
        (root / name).mkdir()
        for index, image in enumerate(batch):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / name / f"{index}.png")
    return root, images, {}


def _ours(setup, mode: str) -> InceptionFeatures:
    root, _, cache = setup
    if mode not in cache:
        folder = root / "torch_home" / "hub" / "checkpoints" if mode == "legacy_pytorch" else root / "weights"
        cache[mode] = InceptionFeatures(mode, checkpoint=folder / FILES[mode])
    return cache[mode]


def _our_features(setup, mode: str, name: str) -> torch.Tensor:
    """Our features of folder ``name`` (one batch), computed once per module."""
    _, images, cache = setup
    if (mode, name) not in cache:
        cache[mode, name] = _ours(setup, mode).features(images[name])
    return cache[mode, name]


def _cleanfid_extractor(setup, mode: str, monkeypatch):
    from cleanfid.features import build_feature_extractor
    from cleanfid.inception_torchscript import InceptionV3W

    root = setup[0]
    if mode == "legacy_pytorch":
        monkeypatch.setenv("TORCH_HOME", str(root / "torch_home"))
        return build_feature_extractor(mode, device=torch.device("cpu"), use_dataparallel=False)
    return InceptionV3W(str(root / "weights"), download=False, resize_inside=mode == "legacy_tensorflow").eval()


@pytest.mark.parametrize("mode", list(FILES))
def test_features_equal_cleanfid(setup, mode, monkeypatch):
    from cleanfid.fid import get_folder_features

    root = setup[0]
    expected = get_folder_features(str(root / "real"), _cleanfid_extractor(setup, mode, monkeypatch), num_workers=0,
                                   batch_size=2, device=torch.device("cpu"), mode=mode, verbose=False)
    ours = _our_features(setup, mode, "real")
    assert ours.dtype == torch.float64 and ours.shape == (2, 2048)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5, atol=1e-6)


def _our_fid(setup, mode: str) -> float:
    stats = {name: new_stats(2048) for name in ("real", "fake")}
    for name, state in stats.items():
        update_stats(state, _our_features(setup, mode, name))
    return stats_distance(stats["real"], stats["fake"])


def _compare_with_compute_fid(setup, mode, monkeypatch):
    from cleanfid.fid import compute_fid

    root = setup[0]
    expected = compute_fid(str(root / "real"), str(root / "fake"), mode=mode, num_workers=0, batch_size=2,
                           device=torch.device("cpu"), verbose=False,
                           custom_feat_extractor=_cleanfid_extractor(setup, mode, monkeypatch))
    assert _our_fid(setup, mode) == pytest.approx(expected, rel=1e-5)


def test_fid_equals_cleanfid_compute_fid_clean(setup, monkeypatch):
    _compare_with_compute_fid(setup, "clean", monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["legacy_tensorflow", "legacy_pytorch"])
def test_fid_equals_cleanfid_compute_fid_legacy(setup, mode, monkeypatch):
    _compare_with_compute_fid(setup, mode, monkeypatch)


def test_features_do_not_depend_on_batch_size(setup):
    _, images, _ = setup
    backbone = _ours(setup, "clean")
    single = torch.cat([backbone.features(image[None]) for image in images["fake"]])
    torch.testing.assert_close(_our_features(setup, "clean", "fake"), single, rtol=1e-6, atol=1e-6)


def test_missing_file_names_file_places_and_source(tmp_path, monkeypatch):
    from semsynth.errors import MissingWeightsError

    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=r"inception-2015-12-05\.pt.*nvlabs-fi-cdn"):
        InceptionFeatures("clean")
