"""The ``gcdp`` method on a tiny random model: the method contract, joint generation, layout from image, prompts
and the null text, the official trainer checkpoint (ema-pytorch EMA modules; EMA weights by default), our own
files, and training (losses, resume, export)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ema_pytorch import EMA

from semsynth.datasets.shapes import SHAPES_LABELS, Shapes
from semsynth.diffusion.categorical import BUFFERS, CategoricalProcess
from semsynth.errors import UserError
from semsynth.methods.gcdp.method import GCDP
from semsynth.methods.gcdp.model import JointUNet
from semsynth.methods.gcdp.sampling import layout_guided
from semsynth.methods.gcdp.text import WordEncoder, layout_caption
from semsynth.methods.gcdp.train import JointModel, train
from semsynth.types import Layout
from tests.method_contract import run_contract

TINY = dict(dim=8, dim_mults=(1, 2), num_resnet_blocks=1, layer_attns=(False, True), layer_cross_attns=(False, True),
            attn_heads=2, attn_dim_head=4, cond_dim=8, text_embed_dim=8, max_text_len=8, attn_pool_num_latents=2,
            num_classes=10)
FAST = dict(steps=2, resample=1)


def tiny_model(seed: int = 0) -> JointModel:
    torch.manual_seed(seed)
    model = JointModel(JointUNet(**TINY), WordEncoder.for_classes(SHAPES_LABELS.class_names, 8, 8))
    with torch.no_grad():   # the official zero-initialised heads would make every sample the same
        for conv in (model.net.final_conv, model.net.final_conv_seg):
            conv.weight.normal_(0, 0.1)
    return model


@pytest.fixture(scope="module")
def method() -> GCDP:
    return GCDP.from_model(tiny_model(), "shapes", **FAST)


def test_contract_on_a_tiny_model(method: GCDP) -> None:
    layouts = [Shapes(split="val").layout(i) for i in range(8)]
    run_contract(method, layouts, batch_sizes=(3, 8))


def test_contract_with_the_official_sampler() -> None:
    """The shapes default guides toward the layout (``layout_guidance`` 1); the official sampler keeps the contract
    too."""
    layouts = [Shapes(split="val").layout(i) for i in range(3)]
    run_contract(GCDP.from_model(tiny_model(), "shapes", **FAST, layout_guidance=0.0), layouts, batch_sizes=(3,))


def test_layout_guidance_moves_eps_along_the_label_heads_log_likelihood() -> None:
    """Toy joint model: eps 0, class logits (x, -x) from the image's first channel, so log p(class 0 | x) =
    -log(1 + exp(-2x)) per pixel, whose gradient is 2 sigmoid(-2x). Guidance toward class 0 lowers eps there by
    scale * sigma * gradient (the x0 prediction rises, toward class 0) and leaves the other channels alone."""
    def model(states: tuple[torch.Tensor, torch.Tensor], log_snr: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x, _ = states
        return torch.cat([torch.zeros_like(x), x[:, :1], -x[:, :1]], dim=1)

    x = torch.randn(2, 3, 4, 4)
    log_snr, scale = torch.tensor([-2.0, 1.0]), 1.5
    states = (x, torch.zeros(2, 2, 4, 4))
    assert layout_guided(model, torch.zeros(2, 4, 4, dtype=torch.long), 0.0) is model
    out = layout_guided(model, torch.zeros(2, 4, 4, dtype=torch.long), scale)(states, log_snr, None)
    sigma = torch.sigmoid(-log_snr).sqrt().view(-1, 1, 1)
    assert torch.allclose(out[:, 0], -scale * sigma * 2 * torch.sigmoid(-2 * x[:, 0]), atol=1e-6)
    assert torch.equal(out[:, 1:3], torch.zeros(2, 2, 4, 4))
    assert torch.equal(out[:, 3:], model(states, log_snr, None)[:, 3:])
    toward_one = layout_guided(model, torch.ones(2, 4, 4, dtype=torch.long), scale)(states, log_snr, None)
    assert (toward_one[:, 0] > 0).all() and (out[:, 0] < 0).all()


def test_joint_generation_and_layout_from_image(method: GCDP) -> None:
    image, layout = method.generate_joint(seed=3, prompt="a scene with sky and disc")
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 64, 64)
    assert isinstance(layout, Layout) and tuple(layout.labels.shape) == (64, 64)
    again, same = method.generate_joint(seed=3, prompt="a scene with sky and disc")
    assert torch.equal(again, image) and torch.equal(same.labels, layout.labels)
    _, unprompted = method.generate_joint(seed=3)
    assert not torch.equal(unprompted.labels, layout.labels)   # the prompt reaches the label head
    found = method.layout_from_image(image, seed=0)
    assert tuple(found.labels.shape) == (64, 64) and int(found.labels.max()) < 10


def test_a_prompt_changes_the_image_and_unknown_words_are_refused(method: GCDP) -> None:
    layout = Shapes(split="val").layout(0)
    caption = layout_caption(layout.labels, SHAPES_LABELS.class_names)
    captioned = method.generate(layout, seed=0, prompt=caption)
    assert torch.equal(method.generate(layout, seed=0), captioned)   # shapes: the layout's caption by default
    null_text = GCDP.from_model(method.model, "shapes", caption=False, **FAST).generate(layout, seed=0)
    assert not torch.equal(null_text, captioned)
    assert not torch.equal(method.generate(layout, seed=0, prompt="a scene with sky"), captioned)
    with pytest.raises(UserError, match="unknown word"):
        method.generate(layout, seed=0, prompt="a photo of a cat")


def _official_file(path: Path, online: JointUNet, ema_net: JointUNet) -> None:
    """A trainer.save file as GCDP writes it: JointImagen state + a ModuleList of ema-pytorch EMA modules."""
    ema = EMA(online, beta=0.9999, update_after_step=100, update_every=10, power=2 / 3)
    ema.ema_model.load_state_dict(ema_net.state_dict())
    schedule = CategoricalProcess.from_log_snr(10, "cosine", 100)
    model = {f"unets.0.{k}": v for k, v in online.state_dict().items()}
    model.update({f"noise_schedulers_lbl_sample.0.{name}": getattr(schedule, name) for name in BUFFERS})
    optimizer = torch.optim.Adam(online.parameters(), lr=1e-4)
    torch.save({"model": model, "version": "1.11.14", "steps": torch.tensor([5]), "optim0": optimizer.state_dict(),
                "ema": torch.nn.ModuleList([ema]).state_dict()}, path)


def test_official_trainer_checkpoint_loads_the_ema_weights_by_default(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import semsynth.methods.gcdp.presets as presets

    config = {k: v for k, v in TINY.items() if k != "num_classes"}
    monkeypatch.setitem(presets.PRESETS, "shapes", presets.GCDPPreset(
        weights=None, num_classes=10, config=config, base_size=(64, 64), settings=dict(FAST, guidance=1.0)))
    online, ema_net = tiny_model(1).net, tiny_model(2).net
    path = tmp_path / "official.pt"
    _official_file(path, online, ema_net)
    loaded = GCDP(dataset="shapes", checkpoint=path)
    assert torch.equal(loaded.model.net.init_conv.convs[0].weight, ema_net.init_conv.convs[0].weight)
    assert len(loaded.stages[0].label_buffers["log_alpha"]) == 100
    raw = GCDP(dataset="shapes", checkpoint=path, ema=False)
    assert torch.equal(raw.model.net.init_conv.convs[0].weight, online.init_conv.convs[0].weight)


def test_save_and_load_our_file(method: GCDP, tmp_path: Path) -> None:
    method.save(tmp_path / "gcdp.safetensors")
    again = GCDP(dataset="shapes", checkpoint=tmp_path / "gcdp.safetensors", **FAST)
    layout = Shapes(split="val").layout(1)
    assert torch.equal(again.generate(layout, seed=4), method.generate(layout, seed=4))


def test_training_runs_resumes_and_exports(tmp_path: Path) -> None:
    options = dict(TINY, batch_size=2, crop=16, quiet=True, log_every=1, ckpt_every=1)
    options.pop("num_classes")
    target = train("shapes", tmp_path, steps=2, **options)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert {"loss", "image", "label"} <= set(log[-1]) and all(torch.isfinite(torch.tensor(row["loss"])) for row in log)
    train("shapes", tmp_path, steps=3, **options)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3
    method = GCDP(dataset="shapes", checkpoint=target, **FAST)
    assert method.generate(Shapes(split="val").layout(0), seed=0).shape == (3, 64, 64)


def test_cityscapes_labels_map_to_the_twenty_classes_and_back() -> None:
    from semsynth.methods.gcdp.presets import PRESETS

    preset = PRESETS["cityscapes"]
    ids = torch.tensor([[7, 26, 0, 33, 255]])
    classes = preset.model_labels(ids)
    assert classes.tolist() == [[0, 13, 19, 18, 19]]
    assert preset.dataset_labels(classes).tolist() == [[7, 26, 0, 33, 0]]


def test_joint_evaluation_scores_fid_miou_and_fsd(method: GCDP, tmp_path: Path) -> None:
    from semsynth import protocols
    from semsynth.methods.gcdp.evaluation import joint_evaluation

    paper = protocols.get("gcdp-paper").for_dataset("shapes")
    reference = {"reference_split": "train", "reference_limit": 8}
    small = {key: protocols.MetricSpec(spec.metric, {**spec.options, **(reference if key != "miou" else {})})
             for key, spec in paper.metrics.items()}
    protocols.register(protocols.Protocol("gcdp-test", "test", {"shapes": protocols.DatasetProtocol(small)}))
    try:
        result = joint_evaluation(method, "gcdp-test", n=4, batch_size=3, cache_dir=tmp_path)
    finally:
        protocols.PROTOCOLS.pop("gcdp-test")
    assert {"fid", "miou", "fsd"} <= set(result) and result["n"] == 4
    assert result["fsd"]["generated"] == "layouts" and result["fsd"]["images"] == 4
    assert result["fid"]["value"] >= 0 and 0 <= result["miou"]["value"] <= 100


def test_cascade_with_a_super_resolution_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Base stage at 32x32, SR stage to 64x64 (low-res image and labels noised at t = 0.2): contract on 8 layouts."""
    import semsynth.methods.gcdp.presets as presets
    from semsynth.methods.gcdp.model import sr_joint_unet

    config = {k: v for k, v in TINY.items() if k != "num_classes"}
    monkeypatch.setitem(presets.PRESETS, "shapes", presets.GCDPPreset(
        weights=None, num_classes=10, config=config, base_size=(32, 32), settings=dict(FAST, guidance=1.0)))
    cascade = GCDP.from_model(tiny_model(), "shapes", **FAST)
    with pytest.raises(UserError, match="super-resolution"):
        cascade.generate(Shapes(split="val").layout(0), seed=0)
    torch.manual_seed(3)
    sr = sr_joint_unet(**{**config, "layer_attns": False, "layer_cross_attns": (False, True)}, num_classes=10)
    sr.final_conv.weight.data.normal_(0, 0.1)
    cascade.attach_super_resolution(sr, None)
    run_contract(cascade, [Shapes(split="val").layout(i) for i in range(8)], batch_sizes=(8,))


def test_captions_list_the_classes_present() -> None:
    """(The T5 path has its own tests: test_gcdp_t5.py.)"""
    labels = torch.tensor([[0, 0, 5], [2, 9, 9]])
    assert layout_caption(labels, SHAPES_LABELS.class_names) == "a scene with sky, grass, disc and cross"
    ids, mask = WordEncoder.for_classes(SHAPES_LABELS.class_names, 8).tokens(["a scene with sky", "a scene"])
    assert ids.shape == (2, 4) and mask.tolist() == [[True] * 4, [True, True, False, False]]
