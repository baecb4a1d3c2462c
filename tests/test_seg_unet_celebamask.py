"""CelebAMask-HQ face-parsing UNet port: golden logits and argmax, key list, checkpoint loading, predict contract."""

from __future__ import annotations

import pytest
import torch

import semsynth

from semsynth.errors import UserError
from semsynth.evaluators.segmenters.unet_celebamask import UNet, UNetCelebAMaskSegmenter
from tests.golden import assert_golden, load_case
from tests.segmenter_checks import (assert_label_mapping, assert_loaded, assert_meta_load, assert_predict_contract,
                                    golden_images, load_golden_net, rule_state, write_official_checkpoint)


@pytest.fixture(scope="module")
def case():
    return load_case("unet_celebamask")


def test_golden_logits_and_argmax(case):
    segmenter = UNetCelebAMaskSegmenter(pretrained=False, test_size=None)   # the golden feeds 32x48 directly
    segmenter.net = load_golden_net(UNet.from_official_config(case.case["constructor"]), rule_state(case))
    images = golden_images(case)
    assert_golden(segmenter.scores(images), case.tensors["outputs.logits"])
    assert torch.equal(segmenter.predict(images), case.tensors["outputs.pred"].long())


def test_official_config_takes_the_full_key_list(case):
    assert_meta_load(lambda: UNet.from_official_config(case.case["constructor"]), case.keys())


def test_checkpoint_round_trip_and_predict(case, tmp_path):
    saved = write_official_checkpoint(rule_state(case), tmp_path / "model.pth")
    segmenter = UNetCelebAMaskSegmenter(checkpoint=tmp_path / "model.pth")
    assert_loaded(segmenter.net, saved)
    assert segmenter.preprocess(torch.zeros(1, 3, 40, 24, dtype=torch.uint8)).shape == (1, 3, 512, 512)
    assert_predict_contract(segmenter, batch=2, height=40, width=24)


def test_nearest_resize_repeats_pixels():
    segmenter = UNetCelebAMaskSegmenter(pretrained=False, test_size=64)
    images = torch.randint(0, 256, (1, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    x = segmenter.preprocess(images)
    segmenter.test_size = None
    plain = segmenter.preprocess(images)   # [-1, 1] at the input size
    for row in (0, 1):
        for column in (0, 1):
            assert torch.equal(x[..., row::2, column::2], plain)


def test_label_mapping_and_user_errors():
    segmenter = semsynth.load_segmenter("unet-celebamask", dataset="celebamask", pretrained=False, test_size=None)
    assert_label_mapping(segmenter, "celebamask")
    with pytest.raises(UserError, match="divisible by 16"):
        segmenter.predict(torch.zeros(1, 3, 40, 24, dtype=torch.uint8))
