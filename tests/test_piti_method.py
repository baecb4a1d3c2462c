"""The ``piti`` method on tiny random networks: the contract, the guidance modes and samplers of both stages, the
official two-stage schedule, the missing-weights message, and every training stage (frozen decoder in stage 1,
resume, the adversarial upsampler, export that loads)."""

from __future__ import annotations

import pytest
import torch

from semsynth.datasets.shapes import Shapes
from semsynth.diffusion.schedules import cosine_betas, linear_betas
from semsynth.errors import MissingWeightsError, UserError
from semsynth.methods.piti import PITI
from semsynth.methods.piti.model import PITIModel
from semsynth.methods.piti.train import train
from tests.method_contract import run_contract

ENCODER = dict(in_channels=3, cnn_channels=[4, 8, 8, 8], width=16, layers=1, heads=2, tokens=64)
DECODER = dict(in_channels=3, model_channels=8, out_channels=6, num_res_blocks=1, channel_mult=[1, 2],
               attention_resolutions=[2], num_head_channels=8, use_scale_shift_norm=True, resblock_updown=True,
               norm_groups=4)
FAST = dict(sampler="ddim", steps=2, up_sampler="ddim", up_steps=2, guidance=1.5)


def tiny_nets(seed: int = 0) -> tuple[PITIModel, PITIModel]:
    torch.manual_seed(seed)
    base, upsample = PITIModel(DECODER, ENCODER), PITIModel(DECODER, ENCODER, upsample=True)
    for net in (base, upsample):   # the zero-initialised output convs re-drawn, so that samples depend on inputs
        for conv in net.decoder._zero_init_convs():
            conv.reset_parameters()
    return base, upsample


@pytest.fixture(scope="module")
def layouts():
    data = Shapes(split="val")
    return [data.layout(i) for i in range(2)]


def test_contract_with_guidance_and_both_stages() -> None:
    run_contract(PITI.from_nets(*tiny_nets(), **FAST))


@pytest.mark.parametrize("sampler", ["ddpm", "dpm-solver++"])
def test_samplers_of_both_stages_run_and_modes_differ(layouts, sampler: str) -> None:
    nets = tiny_nets()
    official = PITI.from_nets(*nets, **dict(FAST, sampler=sampler, up_sampler=sampler, guidance=3.0))
    normalized = PITI.from_nets(*nets, **dict(FAST, sampler=sampler, up_sampler=sampler, guidance=3.0,
                                              guidance_mode="normalized"))
    a, b = official.generate(layouts[0], 0), normalized.generate(layouts[0], 0)
    assert a.shape == (3, 64, 64) and not torch.equal(a, b)
    assert normalized.describe()["settings"]["guidance_mode"] == "normalized"
    plain = [PITI.from_nets(*nets, **dict(FAST, guidance=1.0, guidance_mode=mode)).generate(layouts[0], 0)
             for mode in ("official", "normalized")]
    assert torch.equal(*plain)   # no guidance: the mode does not matter


def test_official_schedule_is_250_respaced_base_and_fast27_upsampler() -> None:
    method = PITI.from_nets(*tiny_nets(), **dict(FAST, sampler="ddpm", steps=250, up_sampler="ddpm", up_steps=27))
    base, up = method._process("base", "ddpm", 250), method._process("upsample", "ddpm", 27)
    assert base.num_steps == 250 and base.timestep_map[-1] == 999 and base.rescale_timesteps
    assert up.timestep_map.tolist()[-3:] == [799, 800, 997]
    assert torch.equal(method.betas["base"], cosine_betas(1000))
    assert torch.equal(method.betas["upsample"], linear_betas(1000))


def test_cocostuff_without_weights_names_both_files() -> None:
    with pytest.raises(MissingWeightsError, match="base_mask.pt.*upsample_mask.pt"):
        PITI(dataset="cocostuff")


def test_colour_mask_follows_the_layout_and_the_palette(layouts) -> None:
    method = PITI.from_nets(*tiny_nets(), **FAST)
    ref = method.refs(layouts[:1])[0]
    labels = layouts[0].labels
    same = labels == labels[0, 0]
    assert torch.equal(ref[:, same].unique(dim=1), ref[:, :1, 0])   # one colour per class
    assert ref.min() >= -1 and ref.max() <= 1


def test_training_stages_freeze_resume_and_export(tmp_path) -> None:
    small = dict(steps=2, batch_size=2, quiet=True, log_every=1, ckpt_every=1)
    prior = train("shapes", tmp_path / "prior", stage="prior", **small)
    stage1 = train("shapes", tmp_path / "s1", stage="1", prior=prior, **small)
    from semsynth import checkpoints

    prior_state, s1_state = checkpoints.load(prior)[0], checkpoints.load(stage1)[0]
    assert all(torch.equal(prior_state[key], s1_state[f"decoder.{key}"]) for key in prior_state)
    base = train("shapes", tmp_path / "s2", stage="2", prior=prior, init=stage1, **dict(small, steps=1))
    again = train("shapes", tmp_path / "s2", stage="2", prior=prior, init=stage1, **small)   # resumes 1 -> 2
    assert again == base and torch.load(tmp_path / "s2" / "checkpoint.pt", weights_only=True)["step"] == 2
    assert not torch.equal(checkpoints.load(base)[0]["decoder.out.2.weight"], prior_state["out.2.weight"])
    up = train("shapes", tmp_path / "up", stage="upsample", adv_start=0, **small)
    log = (tmp_path / "up" / "log.jsonl").read_text()
    assert '"GP"' in log and '"adv"' in log
    method = PITI(dataset="shapes", checkpoint=base, upsample_weights=str(up), **FAST)
    assert method.generate(Shapes(split="val").layout(0), 0).shape == (3, 64, 64)
    with pytest.raises(UserError, match="pretrained decoder"):
        train("shapes", tmp_path / "bad", stage="1", **small)
