"""Mask2Former (Swin) port: the mmseg golden case (both padding variants, deformable attention, semantic inference),
the full Swin-L key lists, and loading mmseg .pth and detectron2 .pkl checkpoints through the segmenter."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import semsynth
from semsynth.errors import MissingWeightsError, UserError
from semsynth.evaluators.segmenters._detectron2 import mmseg_to_detectron2, read_detectron2_pickle
from semsynth.evaluators.segmenters.mask2former import (Mask2FormerSegmentor, default_size, semantic_inference,
                                                        swin_l_config)
from semsynth.evaluators.segmenters.msdeform_attn import multi_scale_deformable_attn
from semsynth.evaluators.segmenters.swin import PatchMerging, unfold_order
from tests.golden import assert_golden, check_rule_sums, load_case, name_rule_v1, shape_only_state

CASE = load_case("mask2former_swin")
T = CASE.tensors
IMAGES = T["inputs.image_uint8_hwc_rgb"].permute(0, 3, 1, 2).contiguous()


def variant_config(variant: str) -> dict:
    config = copy.deepcopy(CASE.case["config_variant_A"])
    if variant == "B":
        config["data_preprocessor"]["test_cfg"] = {"size_divisor": 32}
    return config


def golden_net(variant: str) -> Mask2FormerSegmentor:
    net = Mask2FormerSegmentor.from_official_config(variant_config(variant)).double().eval()
    rows = CASE.keys()
    keep = {key: value for key, value in net.state_dict().items() if key.endswith("relative_position_index")}
    state = name_rule_v1(rows, keep=keep)
    check_rule_sums(rows, state)
    net.load_state_dict(state, strict=True)
    return net


@pytest.fixture(scope="module", params=["A", "B"])
def variant(request):
    return request.param, golden_net(request.param)


@torch.no_grad()
def test_golden_forward_and_seg_logits(variant):
    name, net = variant
    inputs = net.data_preprocessor(IMAGES, torch.float64)
    assert tuple(inputs.shape[-2:]) == ((62, 90) if name == "A" else (64, 96))
    feats = net.backbone(inputs)
    if name == "A":
        for i, feat in enumerate(feats):
            assert_golden(feat, T[f"outputs.A.backbone.{i}"])
        mask_feature, levels = net.decode_head.pixel_decoder(feats)
        assert_golden(mask_feature, T["outputs.A.pixel_decoder.mask_feature"])
        for i, level in enumerate(levels):
            assert_golden(level, T[f"outputs.A.pixel_decoder.multi_scale.{i}"])
    cls_preds, mask_preds = net.decode_head(feats)
    assert_golden(torch.stack(cls_preds), T[f"outputs.{name}.cls_pred"])
    assert_golden(torch.stack(mask_preds), T[f"outputs.{name}.mask_pred"])
    seg_logits = net.predict(IMAGES)
    assert_golden(seg_logits, T[f"outputs.{name}.seg_logits"])
    assert torch.equal(seg_logits.argmax(1), T[f"outputs.{name}.pred"].long())


@torch.no_grad()
def test_float32_matches_official_float32_run(variant):
    name, net = variant
    net32 = copy.deepcopy(net).float()
    seg_logits = net32.predict(IMAGES)
    assert seg_logits.dtype == torch.float32
    assert_golden(seg_logits.double(), T[f"outputs.{name}.seg_logits_fp32_official"].double(), rtol=1e-4)
    assert torch.equal(seg_logits.argmax(1), T[f"outputs.{name}.pred"].long())


def test_multi_scale_deformable_attention():
    t = CASE.extra("msda.safetensors")
    out = multi_scale_deformable_attn(t["inputs.value"], t["inputs.spatial_shapes"], t["inputs.sampling_locations"],
                                      t["inputs.attention_weights"])
    assert_golden(out, t["outputs.output"])


@pytest.mark.parametrize("name", ["A", "B"])
def test_semantic_inference_with_resize_to_ori_shape(name):
    t = CASE.extra("seminf.safetensors")
    mask_size = (62, 90) if name == "A" else (64, 96)
    seg = semantic_inference(t[f"inputs.{name}.cls_pred"], t[f"inputs.{name}.mask_pred"], mask_size, (62, 90),
                             (47, 70))
    assert_golden(seg, t[f"outputs.{name}.seg_logits"])
    assert torch.equal(seg.argmax(1), t[f"outputs.{name}.pred"].long())


@pytest.mark.parametrize("dataset,classes", [("ade20k", 150), ("cityscapes", 19)])
def test_full_swin_l_keys_load_strictly(dataset, classes):
    rows = CASE.keys(f"keys_full_{dataset}.json")
    with torch.device("meta"):
        net = Mask2FormerSegmentor.from_official_config(swin_l_config(classes))
    net.load_state_dict(shape_only_state(rows), strict=True, assign=True)
    assert {key: list(value.shape) for key, value in net.state_dict().items()} == {row[0]: row[1] for row in rows}


def test_unfold_order_matches_original_swin_concat():
    """Original Swin concatenates the 2x2 pixels as C-blocks (0,0), (1,0), (0,1), (1,1); a reordered checkpoint
    weight applied in mmseg's Unfold order gives the same linear map."""
    channels = 3
    merge = PatchMerging(channels).double()
    x = torch.randn(1, 2, 2, channels, dtype=torch.float64)
    original = torch.cat([x[:, 0, 0], x[:, 1, 0], x[:, 0, 1], x[:, 1, 1]], -1)
    weight = torch.randn(2 * channels, 4 * channels, dtype=torch.float64)
    with torch.no_grad():
        merge.norm.weight.fill_(1)
        merge.norm.bias.zero_()
        merge.reduction.weight.copy_(unfold_order(weight, -1))
    expected = torch.nn.functional.layer_norm(original, (4 * channels,)) @ weight.T
    out, size = merge(x.view(1, 4, channels), (2, 2))
    assert size == (1, 1)
    torch.testing.assert_close(out[:, 0], expected)
    assert torch.equal(unfold_order(unfold_order(weight, -1), -1, inverse=True), weight)


def small_segmenter(**options) -> semsynth.evaluators.segmenters.base.Segmenter:
    return semsynth.load_segmenter("mask2former-swin-l", config=variant_config("A"), **options)


def test_detectron2_pickle_round_trip(tmp_path):
    source = small_segmenter(dataset="cityscapes", pretrained=False, release="detectron2", input_size="native")
    state = {key: value.numpy() for key, value in mmseg_to_detectron2(source.net.state_dict()).items()}
    assert "sem_seg_head.predictor.mask_embed.layers.2.weight" in state
    assert "backbone.layers.0.downsample.reduction.weight" in state
    state["criterion.empty_weight"] = np.ones(20, dtype=np.float32)
    file = tmp_path / "model_final_test.pkl"
    file.write_bytes(pickle.dumps({"model": state, "__author__": "test"}))
    loaded = small_segmenter(dataset="cityscapes", checkpoint=file, input_size="native")
    assert loaded.release == "detectron2" and loaded.net.data_preprocessor.size_divisor == 32
    loaded_state = loaded.net.state_dict()
    for key, value in source.net.state_dict().items():
        assert torch.equal(loaded_state[key], value), key
    images = IMAGES[:1, :, :32, :48]
    assert torch.equal(loaded.predict(images), source.predict(images))


def test_restricted_unpickler_reads_old_numpy_and_refuses_other_globals(tmp_path):
    old = tmp_path / "old_numpy.pkl"   # numpy < 2 names its reconstructor numpy.core.multiarray._reconstruct
    data = pickle.dumps({"model": {"x": np.arange(3.0)}}, protocol=2)
    old.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert b"numpy.core.multiarray" in old.read_bytes()
    assert torch.equal(read_detectron2_pickle(old)["x"], torch.arange(3.0, dtype=torch.float64))
    file = tmp_path / "evil.pkl"
    file.write_bytes(pickle.dumps({"model": {"x": np.zeros(2)}, "call": print}))
    with pytest.raises(UserError, match="builtins.print"):
        read_detectron2_pickle(file)


def test_mmseg_container_round_trip_and_predict(tmp_path):
    source = small_segmenter(dataset="ade20k", pretrained=False, input_size="native")
    file = tmp_path / "mask2former.pth"
    torch.save({"meta": {"note": "test"}, "state_dict": source.net.state_dict()}, file)
    loaded = small_segmenter(dataset="ade20k", checkpoint=file, input_size="native")
    assert loaded.release == "mmseg" and loaded.net.data_preprocessor.size_divisor is None
    images = IMAGES[:, :, :37, :53]
    labels = loaded.predict(images)
    assert labels.dtype == torch.int64 and labels.shape == (2, 37, 53)
    assert 0 <= labels.min() and labels.max() < 150
    assert torch.equal(labels, source.predict(images))


def test_default_input_size_policy():
    assert default_size(256, 256, (2560, 640)) == (640, 640)
    assert default_size(256, 512, (2048, 1024)) == (1024, 2048)
    assert default_size(300, 1600, (2560, 640)) == (480, 2560)
    seg = small_segmenter(dataset="ade20k", pretrained=False)
    assert seg.preprocess(IMAGES[:1, :, :32, :32]).shape == (1, 3, 640, 640)
    assert seg.net.data_preprocessor.size_divisor is None


def test_user_datasets_need_checkpoint_and_classes(monkeypatch, tmp_path):
    with pytest.raises(UserError, match="no official semantic checkpoint for cocostuff"):
        semsynth.load_segmenter("mask2former-swin-l", dataset="cocostuff")
    seg = small_segmenter(dataset="celebamask", pretrained=False, num_classes=19)
    assert seg.label_space.num_classes == 19 and seg.net.decode_head.cls_embed.out_features == 20
    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("SEMSYNTH_CACHE", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="model_final_17c1ee.pkl"):
        semsynth.load_segmenter("mask2former-swin-l", dataset="cityscapes", release="detectron2")
