"""GCDP against the official joint_imagen.py (golden ``gcdp_joint``): the joint UNet's two heads with and without
text, guidance on both heads, one official sampling step, the stored label schedule; the full-size key list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from semsynth.diffusion.categorical import BUFFERS, CategoricalProcess
from semsynth.methods.gcdp.model import JointUNet, base_joint_unet, sr_joint_unet
from semsynth.methods.gcdp.sampling import guided, label_posterior, pack_text, processes
from tests.golden import assert_golden, check_rule_sums, load_case, name_rule_v1, shape_only_state

CASE = load_case("gcdp_joint")
T = CASE.tensors
RTOL = 1e-4


def _schedule() -> dict[str, torch.Tensor]:
    return {name: T[f"schedule.noise_schedulers_lbl_sample.0.{name}"] for name in BUFFERS}


@pytest.fixture(scope="module")
def net() -> JointUNet:
    rows = CASE.keys()
    keep = {f"noise_schedulers_lbl_sample.0.{name}": value for name, value in _schedule().items()}
    state = name_rule_v1(rows, keep)
    check_rule_sums([row for row in rows if row[0].startswith("unets.0.")], state)
    config = {k: v for k, v in CASE.case["constructor"]["BaseJointUnet"].items() if k != "note"}
    model = JointUNet(**config, text_embed_dim=CASE.case["constructor"]["JointImagen"]["text_embed_dim"]).eval()
    model.load_state_dict({k[len("unets.0."):]: v.float() for k, v in state.items() if k.startswith("unets.0.")},
                          strict=True)
    return model


def _pair():
    return processes(5, "linear", 100, _schedule())


def test_label_schedule_buffers_match_the_official_construction() -> None:
    built = CategoricalProcess.from_log_snr(5, "linear", 100)
    for name, value in _schedule().items():
        assert_golden(getattr(built, name), value, RTOL)


def test_time_condition_is_the_linear_log_snr() -> None:
    image, _ = _pair()
    assert_golden(image.model_time(T["inputs.t"]), T["outputs.time_cond_logsnr"], RTOL)


@torch.no_grad()
def test_both_heads_with_text_and_with_the_null_text(net: JointUNet) -> None:
    log_snr = T["outputs.time_cond_logsnr"]
    args = (T["inputs.x"], T["inputs.lbl"], log_snr, T["inputs.text_embeds"], T["inputs.text_mask"])
    eps, seg = net(*args)
    eps_null, seg_null = net(*args, keep=torch.zeros(2, dtype=torch.bool))
    for actual, name in ((eps, "eps_cond"), (seg, "seg_cond"), (eps_null, "eps_null"), (seg_null, "seg_null")):
        assert_golden(actual, T[f"outputs.{name}"], RTOL)


@torch.no_grad()
def test_guided_official_step(net: JointUNet) -> None:
    image, label = pair = _pair()
    t, t_next = T["inputs.t"], T["inputs.t_next"]
    states = (T["inputs.x"], torch.log(torch.nn.functional.one_hot(T["inputs.lbl"], 5).movedim(-1, 1).float()
                                       .clamp(min=1e-30)))
    cond = pack_text(T["inputs.text_embeds"], T["inputs.text_mask"], torch.ones(2, dtype=torch.bool))
    output = guided(net, pair, 3.0)(states, image.model_time(t), cond)
    eps, seg = output[:, :3], output[:, 3:]
    assert_golden(eps, T["outputs.eps_guided_s3"], RTOL)
    assert_golden(seg, T["outputs.seg_guided_s3"], RTOL)
    img_next, x_start = image.step(states[0], t, t_next, eps, lambda: T["inputs.step_gaussian_noise"])
    assert_golden(x_start, T["outputs.step_x_start"], RTOL)
    assert_golden(img_next, T["outputs.step_img_next"], RTOL)
    assert_golden(label_posterior(label, seg, T["inputs.lbl"], t), T["outputs.step_lbl_posterior_log"], RTOL)
    log_next, _ = label.step(states[1], t, t_next, seg, lambda: T["inputs.step_uniform_noise"])
    assert torch.equal(log_next.argmax(dim=1), T["outputs.step_lbl_next"])


def test_full_size_cityscapes_base_key_list_loads_strictly() -> None:
    rows = CASE.keys("keys_fullsize_cityscapes_base.json")
    with torch.device("meta"):
        model = base_joint_unet(num_classes=20, text_embed_dim=1024, cond_dim=128)
    rows = [[key, shape, "float32"] for key, shape in rows]
    state = {k[len("unets.0."):]: v for k, v in shape_only_state(rows).items() if k.startswith("unets.0.")}
    model.load_state_dict(state, strict=True, assign=True)
    assert {row[0] for row in rows if not row[0].startswith("unets.")} == {
        f"{prefix}{name}" for prefix in ("noise_schedulers_lbl.0.", "noise_schedulers_lbl_sample.0.",
                                         "lowres_noise_schedule_lbl.") for name in BUFFERS}


def test_full_size_cityscapes_super_resolution_key_list_loads_strictly() -> None:
    """The SR stage (cascade index 1 after the NullUnet placeholder): low-res image + label inputs, low-res time."""
    rows = [line.split(" ", 1) for line in (Path(__file__).parent / "data" / "gcdp" / "gcdp_city_sr_keys.txt")
            .read_text().splitlines()]
    shapes = {key: [int(size) for size in re.findall(r"\d+", shape)] for key, shape in rows}
    assert shapes.pop("unets.0.dummy_parameter") == [1]
    with torch.device("meta"):
        model = sr_joint_unet(num_classes=20, text_embed_dim=1024, cond_dim=128)
    state = {k[len("unets.1."):]: torch.empty(s, device="meta") for k, s in shapes.items() if k.startswith("unets.1.")}
    model.load_state_dict(state, strict=True, assign=True)
    assert model.init_conv.convs[0].weight.shape[1] == 12 and model.final_conv.weight.shape[1] == 128 + 6
