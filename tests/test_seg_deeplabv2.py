"""DeepLab-v2 R101 MSC (kazuto1011) port: per-scale and MSC-max goldens with the modern and the legacy input
resize, the test-time probabilities and argmax, checkpoint loading, predict contract."""

from __future__ import annotations

import pytest
import torch

import semsynth

from semsynth.errors import UserError
from semsynth.evaluators.segmenters.deeplabv2 import MSC, DeepLabV2Segmenter, probabilities, rescale
from tests.golden import assert_golden, load_case
from tests.segmenter_checks import (assert_label_mapping, assert_loaded, assert_meta_load, assert_predict_contract,
                                    golden_images, rule_state, write_official_checkpoint)


@pytest.fixture(scope="module")
def case():
    return load_case("deeplabv2_cocostuff")


@pytest.fixture(scope="module")
def state(case):
    return rule_state(case)


@pytest.fixture(scope="module")
def loaded(state, tmp_path_factory):
    """A segmenter loaded from a checkpoint written in the official container format (float32)."""
    path = tmp_path_factory.mktemp("deeplab") / "deeplabv2_resnet101_msc-cocostuff164k-100000.pth"
    saved = write_official_checkpoint(state, path)
    return DeepLabV2Segmenter(checkpoint=path), saved


def test_official_config_takes_the_full_key_list(case):
    assert_meta_load(lambda: MSC.from_official_config(case.case["constructor"]), case.keys())


def test_golden_msc_modern_and_legacy_resize(case, loaded, state):
    segmenter = loaded[0]
    net = segmenter.net
    net.double().load_state_dict(state, strict=True)
    tensors, images = case.tensors, golden_images(case)
    try:
        with torch.no_grad():
            x = segmenter.preprocess(images)
            net.resize = "modern"
            full, half, three_quarters = net.pyramid(x)
            assert_golden(full, tensors["outputs.logits_scale1.0"])
            assert_golden(half, tensors["outputs.logits_scale0.5"].double(), rtol=1e-6)   # stored as float32
            assert_golden(three_quarters, tensors["outputs.logits_scale0.75"].double(), rtol=1e-6)
            modern = MSC.fuse([full, half, three_quarters])
            assert_golden(modern, tensors["outputs.logits_msc_max"])
            prob = probabilities(modern, tuple(images.shape[-2:]))
            assert_golden(prob.max(dim=1).values, tensors["outputs.prob_fullres_max"])
            assert torch.equal(prob.argmax(dim=1), tensors["outputs.pred"].long())

            net.resize = "legacy"   # only the rescaled inputs change
            legacy = MSC.fuse([full] + [net.base(rescale(x, factor, "legacy")) for factor in net.scales])
            assert_golden(legacy, tensors["outputs.logits_msc_max_legacy_resize"])
            legacy_pred = probabilities(legacy, tuple(images.shape[-2:])).argmax(dim=1)
            assert torch.equal(legacy_pred, tensors["outputs.pred_legacy_resize"].long())
    finally:
        net.resize = "legacy"
        net.float().load_state_dict(loaded[1], strict=True)


def test_checkpoint_round_trip_and_predict(loaded):
    segmenter, saved = loaded
    assert_loaded(segmenter.net, saved)
    assert segmenter.net.resize == "legacy"
    assert_predict_contract(segmenter, batch=2, height=33, width=41)   # odd sizes: both resize modes run


def test_resize_modes_agree_on_even_sizes():
    x = torch.randn(1, 3, 16, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for factor in (0.5, 0.75):
        assert torch.equal(rescale(x, factor, "modern"), rescale(x, factor, "legacy"))


def test_label_mapping_and_user_errors(loaded):
    assert_label_mapping(loaded[0], "cocostuff")
    with pytest.raises(UserError, match="unknown resize"):
        semsynth.load_segmenter("deeplabv2-r101", dataset="cocostuff", pretrained=False, resize="bicubic")
