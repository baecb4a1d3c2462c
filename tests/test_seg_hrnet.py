"""hrnet-w48: the golden case (both align_corners variants), the official key list, the released checkpoint layout
and the segmenter contract."""

from __future__ import annotations

import pytest
import torch

from semsynth.errors import MissingWeightsError
from semsynth.evaluators.segmenters.hrnet import W48_CITYSCAPES, HighResolutionNet, HRNetW48
from tests.golden import assert_golden, check_rule_sums, load_case, name_rule_v1, shape_only_state


@pytest.fixture(scope="module")
def case():
    return load_case("hrnet_w48")


@pytest.fixture(scope="module")
def rule_state(case):
    rows = case.keys()
    state = name_rule_v1(rows)
    check_rule_sums(rows, state)
    return state


@pytest.fixture(scope="module")
def segmenter():
    return HRNetW48(pretrained=False)


@pytest.mark.parametrize("align_corners", [False, True])
def test_golden_logits_and_prediction(case, rule_state, align_corners):
    seg = HRNetW48(pretrained=False, align_corners=align_corners)
    seg.net.double().load_state_dict(rule_state, strict=True)
    captured = []
    seg.net.register_forward_hook(lambda module, args, output: captured.append(output))
    image = case.tensors["inputs.image_uint8_hwc_rgb"].permute(2, 0, 1)[None]
    pred = seg.predict(image)
    variant = f"align{align_corners}"
    assert_golden(captured[0], case.tensors[f"outputs.logits_quarter_{variant}"])
    assert pred.dtype == torch.int64
    assert torch.equal(pred, case.tensors[f"outputs.pred_{variant}"].long())


def test_full_key_list_loads_strictly(case):
    with torch.device("meta"):
        net = HighResolutionNet.from_official_config(W48_CITYSCAPES)
    net.load_state_dict(shape_only_state(case.keys()), strict=True, assign=True)
    assert list(net.state_dict()) == [row[0] for row in case.keys()]


def test_released_checkpoint_layout_round_trips(segmenter, tmp_path):
    # hrnet_cs_8090_torch11.pth: FullModel's "model." keys plus the criterion's "loss." buffer, in {"state_dict"}
    state = {f"model.{key}": value for key, value in segmenter.net.state_dict().items()}
    state["loss.criterion.weight"] = torch.ones(19)
    torch.save({"state_dict": state}, tmp_path / "hrnet_cs_8090_torch11.pth")
    loaded = HRNetW48(checkpoint=tmp_path / "hrnet_cs_8090_torch11.pth")
    for key, value in loaded.net.state_dict().items():
        assert torch.equal(value, state[f"model.{key}"]), key


def test_predict_contract(segmenter):
    images = torch.randint(0, 256, (2, 3, 32, 48), dtype=torch.uint8)
    pred = segmenter.predict(images)
    assert pred.shape == (2, 32, 48) and pred.dtype == torch.int64
    assert 0 <= int(pred.min()) and int(pred.max()) < segmenter.label_space.num_classes == 19


def test_long_side_resizes_input_and_returns_input_size(segmenter):
    segmenter.long_side = 48
    try:
        images = torch.randint(0, 256, (1, 3, 16, 24), dtype=torch.uint8)
        assert segmenter.preprocess(images).shape == (1, 3, 32, 48)
        assert segmenter.predict(images).shape == (1, 16, 24)
    finally:
        segmenter.long_side = None


def test_ground_truth_maps_label_ids_to_train_ids(segmenter):
    labels = torch.tensor([[0, 7, 26, 33]])   # unlabeled, road, car, bicycle
    assert segmenter.map_labels(labels, "cityscapes").tolist() == [[255, 0, 13, 18]]


def test_missing_weights_name_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("SEMSYNTH_CACHE", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="hrnet_cs_8090_torch11.pth"):
        HRNetW48()
