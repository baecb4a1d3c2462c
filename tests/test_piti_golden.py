"""PITI against the official outputs (tests/data/golden/piti_*): the colour map, the mask encoder, the whole
Text2ImModel / SuperResText2ImModel forward, the official CFG sampler steps and the fast27 upsampler, and the
full-size released key lists loaded strictly."""

from __future__ import annotations

import json

import pytest
import torch

from semsynth.diffusion.gaussian import GaussianProcess
from semsynth.diffusion.schedules import named_betas
from semsynth.methods.piti.model import PITIModel
from semsynth.methods.piti.palette import colormap, colour_mask, to_ref
from semsynth.methods.piti.sampling import guided_model, kept_steps, sample_stage
from tests.golden import GOLDEN, assert_golden, check_rule_sums, load_case, name_rule_v1, shape_only_state

UPSAMPLE = {"piti_base": False, "piti_upsampler": True}
FULL = {"piti_base": ("keys_fullsize_base_mask.json", "base"), "piti_upsampler": ("keys_fullsize_upsample_mask.json",
                                                                                  "upsample")}


@pytest.fixture(scope="module")
def base() -> tuple:
    case = load_case("piti_base")
    net = golden_model("piti_base")
    return case, net


def golden_model(name: str) -> PITIModel:
    case = load_case(name)
    rows = case.keys()
    state = name_rule_v1(rows)
    check_rule_sums(rows, state)
    net = PITIModel.from_official_config(case.case["constructor"], upsample=UPSAMPLE[name]).double().eval()
    assert [[key, list(value.shape)] for key, value in net.state_dict().items()] == [row[:2] for row in rows]
    net.load_state_dict(state, strict=True)
    return net


def golden_ref() -> torch.Tensor:
    t = load_case("piti_base").tensors
    return to_ref(t["inputs.ref_color_uint8"], torch.float64)


def test_respacing_matches_official() -> None:
    spacing = json.loads((GOLDEN / "piti_base" / "respacing.json").read_text())
    for spec, expected in spacing.items():
        assert kept_steps(1000, spec) == sorted(expected), spec


def test_colour_map_and_mask_match_official() -> None:
    t = load_case("piti_base").tensors
    assert torch.equal(colormap(182), t["outputs.colormap182"])
    assert torch.equal(colour_mask(t["inputs.label"][0, 0].long(), 182), t["inputs.ref_color_uint8"][0])


def test_encoder_and_model_forward_match_official(base) -> None:
    case, net = base
    t = case.tensors
    with torch.no_grad():
        tokens = net.encode(golden_ref())
        assert tokens.shape == (1, 512, 257)
        assert_golden(tokens[..., -1], t["outputs.xf_proj"])
        assert_golden(tokens[..., :-1], t["outputs.xf_out"])
        assert_golden(net.encode(torch.ones_like(golden_ref()))[..., -1], t["outputs.xf_proj_null"])
        ref = golden_ref().expand(2, -1, -1, -1)
        assert_golden(net(t["inputs.x_t"], t["inputs.t"], ref), t["outputs.model_out"])
        assert_golden(net(t["inputs.x_t"], t["inputs.t"], torch.ones_like(ref)), t["outputs.model_out_null"])


def test_official_cfg_sampler_steps_match(base) -> None:
    case, net = base
    t = case.tensors
    kept = kept_steps(1000, "3")
    process = GaussianProcess.respaced(named_betas("cosine", 1000), kept, rescale_timesteps=True)
    torch.testing.assert_close(process.betas, t["schedule.respaced3_betas"])
    noises = iter(t["sample.step_noise"][:, :1])
    seen = []
    with torch.no_grad():
        model = guided_model(net, process, 1.3, "eps", null_tokens=net.encode(torch.ones_like(golden_ref())))
        tokens = net.encode(golden_ref())
        out = sample_stage("ddpm", process, model, t["sample.x_T"], tokens, lambda: next(noises),
                           callback=lambda time, x, x0: seen.append((time, x, x0)))
    assert [time for time, _, _ in seen] == t["sample.t_indices"][:, 0].tolist()
    for step, (_, x, x0) in enumerate(seen):
        assert_golden(x0, t["sample.pmv_pred_xstart"][step, :1])
    assert_golden(out, t["sample.final"])


def test_fast27_upsampler_forward_and_sampler_match() -> None:
    case = load_case("piti_upsampler")
    t = case.tensors
    net = golden_model("piti_upsampler")
    kept = kept_steps(1000, "fast27")
    assert kept == t["schedule.fast27_timestep_map"].tolist()
    process = GaussianProcess.respaced(named_betas("linear", 1000), kept, rescale_timesteps=True)
    torch.testing.assert_close(process.betas, t["schedule.fast27_betas"])
    ref = golden_ref()
    with torch.no_grad():
        out = net(t["inputs.x_t"], t["inputs.t"], ref.expand(2, -1, -1, -1),
                  low_res=t["inputs.low_res"].expand(2, -1, -1, -1))
        assert_golden(out, t["outputs.model_out"])
        noises = iter(t["sample.step_noise"])
        seen = []
        model = guided_model(net, process, 1.0, low_res=t["inputs.low_res"])
        final = sample_stage("ddpm", process, model, t["sample.x_T_unscaled"] * 0.997, net.encode(ref),
                             lambda: next(noises), callback=lambda time, x, x0: seen.append((time, x, x0)))
    assert [time for time, _, _ in seen] == t["sample.t_indices"][:, 0].tolist()
    assert_golden(seen[-1][2], t["sample.pmv_pred_xstart"][-1])
    assert_golden(final, t["sample.final"])


@pytest.mark.parametrize("name", sorted(FULL))
def test_full_size_released_key_lists_load_strictly(name: str) -> None:
    from semsynth.methods.piti.presets import OFFICIAL_CONFIGS

    file, kind = FULL[name]
    rows = load_case(name).keys(file)
    with torch.device("meta"):
        net = PITIModel(**OFFICIAL_CONFIGS[kind])
    assert list(net.state_dict()) == [row[0] for row in rows]
    net.load_state_dict(shape_only_state(rows), strict=True, assign=True)
    assert all(list(net.state_dict()[key].shape) == shape for key, shape, _ in rows)
