"""The sdm-paper protocol resizes like SDM's evaluation: scikit-image's resize, compared with scikit-image itself."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from semsynth import protocols
from semsynth.errors import UserError
from semsynth.evaluators.fid import FID
from semsynth.evaluators.reference import pre_resize


@pytest.mark.parametrize("size", [(32, 32), (80, 80)])          # shrinking a 2:1 image (squashed) and growing it
def test_skimage_pre_resize_is_sdms_scikit_image_call(size):
    from skimage.transform import resize

    images = torch.randint(0, 256, (2, 3, 48, 96), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    ours = pre_resize(images, size, "skimage")
    assert ours.dtype == torch.float32 and ours.shape == (2, 3, *size)
    for image, resized in zip(images, ours):
        theirs = resize(image.permute(1, 2, 0).numpy().astype(np.float32), (*size, 3))   # SDM's tests_with_FID.py
        assert np.array_equal(resized.permute(1, 2, 0).numpy(), theirs)
    bilinear = pre_resize(images, size, "bilinear")
    assert bilinear.dtype == torch.uint8 and (bilinear.float() - ours).abs().max() > 1


def test_sdm_paper_protocol_pins_the_scikit_image_resize():
    for dataset, entry in protocols.get("sdm-paper").datasets.items():
        options = entry.metrics["fid"].options
        assert options["pre_resize"] == [256, 256] and options["pre_resize_method"] == "skimage", dataset


def test_missing_scikit_image_is_a_user_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.raises(UserError, match=r"pip install semsynth-bench\[paper\]"):
        FID(backbone="shapes-segnet", pre_resize=[8, 8], pre_resize_method="skimage")
    with pytest.raises(UserError, match="pre_resize_method"):
        FID(backbone="shapes-segnet", pre_resize=[8, 8], pre_resize_method="lanczos")
    FID(backbone="shapes-segnet", pre_resize=[8, 8])                 # the default needs no scikit-image
