"""DRN-D-105 (fyu/drn DRNSeg) port: golden single-scale path, key lists, checkpoint loading, predict contract."""

from __future__ import annotations

import pytest
import torch

import semsynth

from semsynth.errors import MissingWeightsError, UserError
from semsynth.evaluators.segmenters.drn import DRNSeg, DRNSegmenter, bilinear_kernel
from tests.golden import assert_golden, load_case
from tests.segmenter_checks import (assert_label_mapping, assert_loaded, assert_meta_load, assert_predict_contract,
                                    golden_images, rule_state, write_official_checkpoint)


@pytest.fixture(scope="module")
def case():
    return load_case("drn_d_105")


@pytest.fixture(scope="module")
def state(case):
    # README exception: up.weight is the official fixed bilinear kernel (its recorded rule sums say so too).
    return rule_state(case, keep={"up.weight": bilinear_kernel(19, 16)})


@pytest.fixture(scope="module")
def loaded(state, tmp_path_factory):
    """A segmenter loaded from a checkpoint written in the official container format (float32)."""
    path = tmp_path_factory.mktemp("drn") / "drn-d-105_ms_cityscapes.pth"
    saved = write_official_checkpoint(state, path)
    return DRNSegmenter(checkpoint=path), saved


def test_official_config_takes_the_full_key_list(case):
    assert_meta_load(lambda: DRNSeg.from_official_config(case.case["constructor"]), case.keys())


def test_golden_single_scale(case, loaded, state):
    segmenter = loaded[0]
    segmenter.net.double().load_state_dict(state, strict=True)
    tensors, images = case.tensors, golden_images(case)
    try:
        with torch.no_grad():
            log_prob, logits = segmenter.net(segmenter.preprocess(images))
        assert_golden(logits, tensors["outputs.seg_logits"])
        assert_golden(log_prob, tensors["outputs.log_prob_fullres"].double(), rtol=1e-6)   # stored as float32
        assert_golden(log_prob.max(dim=1).values, tensors["outputs.log_prob_fullres_max"])
        assert torch.equal(segmenter.predict(images), tensors["outputs.pred"].long())
    finally:
        segmenter.net.float().load_state_dict(loaded[1], strict=True)


def test_checkpoint_round_trip(loaded):
    segmenter, saved = loaded
    assert_loaded(segmenter.net, saved)
    assert torch.equal(segmenter.net.up.weight, bilinear_kernel(19, 16).float())


def test_predict_single_and_multi_scale(loaded):
    segmenter = loaded[0]
    assert_predict_contract(segmenter, batch=2, height=16, width=24)
    segmenter.multi_scale = True
    try:
        assert_predict_contract(segmenter, batch=1, height=20, width=28)   # scaled sizes not multiples of 8
    finally:
        segmenter.multi_scale = False
    with pytest.raises(UserError, match="divisible by 8"):
        segmenter.predict(torch.zeros(1, 3, 30, 40, dtype=torch.uint8))


def test_label_mapping_and_user_errors(loaded, tmp_path, monkeypatch):
    assert_label_mapping(loaded[0], "cityscapes")
    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("SEMSYNTH_CACHE", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="drn-d-105_ms_cityscapes.pth"):
        semsynth.load_segmenter("drn-d-105", dataset="cityscapes")
    with pytest.raises(UserError, match="no model for dataset 'ade20k'"):
        DRNSegmenter(dataset="ade20k", pretrained=False)
