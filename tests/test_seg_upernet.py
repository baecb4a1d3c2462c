"""upernet-r101: the golden case, the official encoder/decoder key lists, the two-file release layout and the
segmenter contract."""

from __future__ import annotations

import pytest
import torch

from semsynth import weights
from semsynth.errors import MissingWeightsError, UserError
from semsynth.evaluators.segmenters.upernet import (
    DECODER_FILE, ENCODER_FILE, SYNC_BN_BUFFERS, UperNetCSAIL, UperNetR101, release_files, without_sync_bn_buffers)
from tests.golden import assert_golden, check_rule_sums, load_case, name_rule_v1, shape_only_state
from tests.test_evaluators_weights import server  # noqa: F401  (local HTTP server fixture)


@pytest.fixture(scope="module")
def case():
    return load_case("upernet101_csail")


@pytest.fixture(scope="module")
def segmenter():
    return UperNetR101(pretrained=False)


def test_golden_logits_probabilities_and_prediction(case):
    states = []
    for file in ("keys_encoder.json", "keys_decoder.json"):
        rows = case.keys(file)
        state = name_rule_v1(rows)
        check_rule_sums(rows, state)
        states.append(without_sync_bn_buffers(state))
    # 64x96 is a multiple of 32: with img_sizes=(64,) the official eval resize is the identity
    seg = UperNetR101(pretrained=False, img_sizes=(64,))
    seg.net.double()
    seg.net.encoder.load_state_dict(states[0], strict=True)
    seg.net.decoder.load_state_dict(states[1], strict=True)
    del states
    logits = []
    seg.net.decoder.conv_last.register_forward_hook(lambda module, args, output: logits.append(output))
    image = case.tensors["inputs.image_uint8_hwc_rgb"].permute(2, 0, 1)[None]
    probs = seg.scores(image)
    assert_golden(logits[0], case.tensors["outputs.logits_quarter"].double(), rtol=1e-6)  # stored as float32
    assert_golden(probs.max(1).values, case.tensors["outputs.prob_fullres_max"])
    assert torch.equal(probs.argmax(1), case.tensors["outputs.pred"].long())


def test_full_key_lists_load_strictly_without_sync_bn_buffers(case):
    with torch.device("meta"):
        net = UperNetCSAIL.from_official_config(case.case["constructor"])
    for part, file in ((net.encoder, "keys_encoder.json"), (net.decoder, "keys_decoder.json")):
        rows = case.keys(file)
        kept = [row for row in rows if row[0].rsplit(".", 1)[-1] not in SYNC_BN_BUFFERS]
        assert len(rows) - len(kept) == 3 * sum(isinstance(m, torch.nn.BatchNorm2d) for m in part.modules())
        part.load_state_dict(shape_only_state(kept), strict=True, assign=True)
        assert list(part.state_dict()) == [row[0] for row in kept]


def test_release_folder_round_trips(segmenter, tmp_path):
    folder = tmp_path / "ade20k-resnet101-upernet"
    folder.mkdir()
    for part, file in ((segmenter.net.encoder, ENCODER_FILE), (segmenter.net.decoder, DECODER_FILE)):
        state = dict(part.state_dict())
        for name, module in part.named_modules():   # the official files also hold SynchronizedBatchNorm's buffers
            if isinstance(module, torch.nn.BatchNorm2d):
                state |= {f"{name}.{buffer}": torch.zeros(1) for buffer in SYNC_BN_BUFFERS}
        torch.save(state, folder / file)
    loaded = UperNetR101(checkpoint=folder)
    for key, value in loaded.net.state_dict().items():
        assert torch.equal(value, segmenter.net.state_dict()[key]), key


def test_checkpoint_may_name_the_encoder_file(tmp_path):
    encoder, decoder = tmp_path / "encoder_epoch_30.pth", tmp_path / "decoder_epoch_30.pth"
    encoder.touch()
    decoder.touch()
    assert release_files(encoder) == (encoder, decoder)
    with pytest.raises(UserError, match="encoder file"):
        release_files(decoder)
    decoder.unlink()
    with pytest.raises(MissingWeightsError, match="decoder_epoch_30.pth"):
        release_files(encoder)


def test_predict_contract_and_oasis_input_size(segmenter):
    assert segmenter.input_shape(48, 40, 256) == (320, 256)     # short side 256, both rounded up to x32
    assert segmenter.input_shape(256, 4096, 256) == (64, 1024)   # long side capped at 1000 first
    segmenter.img_sizes = (32,)    # a small scale keeps the test fast; the default is OASIS' (256,)
    try:
        images = torch.randint(0, 256, (2, 3, 32, 40), dtype=torch.uint8)
        assert segmenter.preprocess(images).shape == (2, 3, 32, 64)
        pred = segmenter.predict(images)
    finally:
        segmenter.img_sizes = (256,)
    assert pred.shape == (2, 32, 40) and pred.dtype == torch.int64
    assert 0 <= int(pred.min()) and int(pred.max()) < segmenter.label_space.num_classes == 150


def test_ade_label_shift(segmenter):
    # prediction i is ADE class i + 1; raw ADE 0 ("other") is ignored
    labels = torch.tensor([[0, 1, 150]])
    assert segmenter.map_labels(labels, "ade20k").tolist() == [[255, 0, 149]]
    assert segmenter.label_space.class_names[0] == "wall"


def test_missing_weights_name_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("SEMSYNTH_CACHE", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="encoder_epoch_50.pth"):
        UperNetR101()


def test_fetch_keeps_the_release_folder(server, tmp_path, monkeypatch):  # noqa: F811
    served, base = server
    torch.save({"w": torch.ones(1)}, served / ENCODER_FILE)     # unhashed downloads must look like a checkpoint
    entry = weights.spec("upernet-r101-ade20k-encoder")
    monkeypatch.setitem(weights.CATALOG, entry.name, weights.WeightSpec(
        name=entry.name, file=entry.file, url=f"{base}/{ENCODER_FILE}", users=entry.users))
    target = weights.fetch(entry.name, dest=tmp_path, progress=False)
    assert target == tmp_path / "ade20k-resnet101-upernet" / ENCODER_FILE
    assert target.read_bytes() == (served / ENCODER_FILE).read_bytes()
