"""INADE against the official golden cases: generator (random and encoder-remapped noise), encoder, inputs."""

from __future__ import annotations

import pytest
import torch

from semsynth.methods.inputs import instance_onehot, semantics
from semsynth.methods.inade.model import INADEEncoder, INADEGenerator, remap_noise
from semsynth.nn.spectral_norm import SNConv2d
from tests.golden import assert_golden, check_rule_sums, load_case, name_rule_v1

GENERATOR = load_case("inade_generator")
ENCODER = load_case("inade_encoder")


@pytest.mark.parametrize("case", [GENERATOR, ENCODER], ids=lambda case: case.name)
def test_shipped_weights_follow_the_rule(case):
    rows = case.keys()
    rule = name_rule_v1(rows)
    check_rule_sums(rows, rule)
    shipped = case.shipped_weights()
    assert set(shipped) == set(rule)
    for key, value in rule.items():
        if key.endswith((".weight_u", ".weight_v")):
            # power-iteration vectors come from float64 matrix-vector products whose summation order depends on
            # the BLAS kernel of the machine: equal to the last few ulps, not bit for bit
            torch.testing.assert_close(shipped[key].to(value.dtype), value, rtol=1e-13, atol=1e-15, msg=key)
        else:
            assert torch.equal(shipped[key].to(value.dtype), value), key


def _generator_inputs(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = GENERATOR.tensors
    labels, instances = tensors["inputs.label"][:, 0], tensors["inputs.instance"][:, 0]
    return semantics(labels, instances, 5).to(dtype), instance_onehot(instances).to(dtype)


def test_inputs_match_official_preprocessing():
    segmap, onehot = _generator_inputs(torch.float64)
    assert torch.equal(segmap, GENERATOR.tensors["outputs.input_semantics_uint8"].double())
    assert torch.equal(onehot, GENERATOR.tensors["outputs.input_instances_uint8"].double())


def _generator(dtype: torch.dtype) -> INADEGenerator:
    net = INADEGenerator.from_official_config(GENERATOR.case["constructor_opt"]).to(dtype)
    net.load_state_dict(GENERATOR.shipped_weights(), strict=True)
    return net.eval()


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
def test_generator_random_and_remapped_modes(dtype, rtol):
    tensors = GENERATOR.tensors
    net = _generator(dtype)
    segmap, onehot = _generator_inputs(dtype)
    noise, noise_ins = tensors["inputs.noise"].to(dtype), tensors["inputs.noise_ins"].to(dtype)
    trace: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        assert_golden(net(segmap, onehot, noise, noise_ins, trace=trace).double(), tensors["outputs.fake_random"], rtol)
        for name, value in trace.items():
            assert_golden(value.mean(dim=(2, 3)).double(), tensors[f"debug.{name}.chanmean"], rtol)
        moments = (tensors[f"inputs.{k}"].to(dtype) for k in ("z_s_mu", "z_s_std", "z_b_mu", "z_b_std"))
        remapped = remap_noise(noise, *moments)
        assert_golden(remapped.double(), tensors["outputs.remapped_noise"], rtol)
        assert_golden(net(segmap, onehot, remapped, noise_ins).double(), tensors["outputs.fake_vae"], rtol)
    assert net.output_size == tuple(tensors["outputs.fake_random"].shape[-2:])


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
def test_encoder_instance_statistics(dtype, rtol):
    tensors = ENCODER.tensors
    net = INADEEncoder.from_official_config(ENCODER.case["constructor_opt"]).to(dtype)
    net.load_state_dict(ENCODER.shipped_weights(), strict=True)
    net.eval()
    image = (tensors["inputs.image_uint8"].to(dtype) / 255 - 0.5) / 0.5
    with torch.no_grad():
        outputs = net(image, instance_onehot(tensors["inputs.instance"][:, 0]).to(dtype))
    for name, value in zip(("scale_mu", "scale_logvar", "bias_mu", "bias_logvar"), outputs):
        assert_golden(value.double(), tensors[f"outputs.{name}"], rtol)
    # sample 1 has only instances 0..2: the pooled statistics of the absent ids 3, 4 are exactly 0
    assert torch.all(outputs[0][1, 3:] == 0)


def test_spectral_norm_matches_torch_hook_api_in_both_modes():
    torch.manual_seed(0)
    ours = SNConv2d(4, 5, 3, padding=1).double()
    reference = torch.nn.utils.spectral_norm(torch.nn.Conv2d(4, 5, 3, padding=1).double())
    reference.load_state_dict(ours.state_dict())  # identical key names: weight_orig, weight_u, weight_v, bias
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    for mode in (True, True, False):
        ours.train(mode)
        reference.train(mode)
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.weight_u, reference.weight_u)
