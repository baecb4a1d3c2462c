"""SDM against the official golden cases: UNet (float64 and float32), guidance, p_mean_variance, the 4-step DDIM and
ancestral trajectories, respacing, and the layout -> one-hot(+edge) adapter."""

from __future__ import annotations

import json

import pytest
import torch

from semsynth.diffusion.gaussian import GaussianProcess
from semsynth.diffusion.guidance import classifier_free
from semsynth.diffusion.respacing import respace_betas, space_timesteps
from semsynth.diffusion.samplers import ddim, ddpm
from semsynth.diffusion.schedules import linear_betas
from semsynth.methods.sdm.model import SDMUNet
from semsynth.methods.sdm.presets import SDMPreset
from semsynth.types import LabelSpace, Layout
from tests.golden import GOLDEN, assert_golden, check_rule_sums, load_case, name_rule_v1

UNET = load_case("sdm_unet")
SAMPLING = load_case("sdm_sampling")


@pytest.fixture(scope="module")
def net64() -> SDMUNet:
    rows = UNET.keys()
    state = name_rule_v1(rows)
    check_rule_sums(rows, state)
    net = SDMUNet.from_official_config(UNET.case["constructor"]).double().eval()
    net.load_state_dict(state, strict=True)
    return net


def _model(net: SDMUNet):
    def call(x, t, cond):
        with torch.no_grad():
            return net(x, t, cond)
    return call


def test_edge_one_hot_input_matches_official() -> None:
    t = UNET.tensors
    space = LabelSpace("golden5", tuple(f"c{i}" for i in range(5)), tuple((i, i, i) for i in range(5)))
    ys = [SDMPreset(5, "instances", {}).channels(Layout(label[0], space, instance[0]))
          for label, instance in zip(t["inputs.label"], t["inputs.instance"])]
    torch.testing.assert_close(torch.stack(ys).double(), t["outputs.y"], rtol=0, atol=0)


def test_unet_float64(net64: SDMUNet) -> None:
    t = UNET.tensors
    with torch.no_grad():
        assert_golden(_time_emb(net64, t["inputs.t"]), t["outputs.time_emb"])
        assert_golden(net64(t["inputs.x_t"], t["inputs.t"], t["outputs.y"]), t["outputs.model_out"])
        null = net64(t["inputs.x_t"], t["inputs.t"], torch.zeros_like(t["outputs.y"]))
        assert_golden(null, t["outputs.model_out_null"])


def _time_emb(net: SDMUNet, timesteps: torch.Tensor) -> torch.Tensor:
    from semsynth.nn.unet_blocks import timestep_embedding
    return net.time_embed(timestep_embedding(timesteps, net.model_channels, dtype=torch.float64))


def test_unet_float32_matches_official_float32() -> None:
    net = SDMUNet.from_official_config(UNET.case["constructor"]).eval()
    net.load_state_dict({k: v.float() for k, v in name_rule_v1(UNET.keys()).items()}, strict=True)
    t = UNET.tensors
    with torch.no_grad():
        out = net(t["inputs.x_t"].float(), t["inputs.t"], t["outputs.y"].float())
        null = net(t["inputs.x_t"].float(), t["inputs.t"], torch.zeros_like(t["outputs.y"]).float())
    assert out.dtype == torch.float32
    assert_golden(out.double(), t["outputs.model_out_fp32_official"].double(), rtol=1e-4)
    assert_golden(out.double(), t["outputs.model_out"], rtol=1e-4)
    assert_golden(null.double(), t["outputs.model_out_null_fp32_official"].double(), rtol=1e-4)


def test_schedule_and_respacing() -> None:
    s = SAMPLING.tensors
    assert_golden(linear_betas(1000), s["schedule.betas_linear_1000"])
    kept = space_timesteps(1000, "4")
    assert kept == s["schedule.respaced4_timestep_map"].tolist()
    assert_golden(respace_betas(linear_betas(1000), kept), s["schedule.respaced4_betas"])
    table = json.loads((GOLDEN / "sdm_sampling" / "respacing.json").read_text())
    for spec, expected in table.items():
        assert space_timesteps(1000, spec) == expected, spec


@pytest.mark.parametrize("scale", [1.0, 1.5])
def test_guidance_and_p_mean_variance(net64: SDMUNet, scale: float) -> None:
    s = SAMPLING.tensors
    process = GaussianProcess(linear_betas(1000))
    model = classifier_free(_model(net64), process, scale)
    if scale > 1:
        assert_golden(model(s["inputs.x_t"], s["inputs.t"], s["inputs.y"]), s["outputs.guided_model_out_s1.5"])
    t = s["inputs.t"]
    out = process.p_mean_variance(s["inputs.x_t"], t, model(s["inputs.x_t"], process.model_time(t), s["inputs.y"]))
    tag = f"s{scale}"
    for name in ("mean", "log_variance", "pred_xstart"):
        assert_golden(out[name], s[f"outputs.pmv_{name}_{tag}"])
    if scale > 1:
        assert_golden(out["variance"], s["outputs.pmv_variance_s1.5"])


def _trajectory(sampler, net: SDMUNet, noise) -> tuple[torch.Tensor, torch.Tensor]:
    s = SAMPLING.tensors
    kept = space_timesteps(1000, "4")
    process = GaussianProcess.respaced(linear_betas(1000), kept)
    samples, preds = [], []
    sampler(process, classifier_free(_model(net), process, 1.5), s["inputs.x_T"], s["inputs.y"], noise,
            callback=lambda index, x, x0: (samples.append(x), preds.append(x0)))
    return torch.stack(samples), torch.stack(preds)


def test_ddim_trajectory(net64: SDMUNet) -> None:
    s = SAMPLING.tensors
    samples, preds = _trajectory(ddim, net64, noise=None)
    assert_golden(samples, s["outputs.ddim_samples"])
    assert_golden(preds, s["outputs.ddim_pred_xstart"])


def test_ancestral_trajectory(net64: SDMUNet) -> None:
    s = SAMPLING.tensors
    stream = iter(s["inputs.ancestral_noise"])
    samples, preds = _trajectory(ddpm, net64, noise=lambda: next(stream))
    assert_golden(samples, s["outputs.ancestral_samples"])
    assert_golden(preds, s["outputs.ancestral_pred_xstart"])
