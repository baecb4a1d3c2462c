"""DP-SIMS: the discriminator's backbone gets no update, the losses, the generator, the method's weights format."""

from __future__ import annotations

import json

import pytest
import torch

import semsynth
from semsynth import checkpoints
from semsynth.errors import MissingWeightsError
from semsynth.methods.dpsims import losses
from semsynth.methods.dpsims.discriminator import Discriminator, DiscriminatorConfig
from semsynth.methods.dpsims.generator import Generator, GeneratorConfig
from semsynth.methods.dpsims.method import DPSIMS, label_map, segment_ids, segment_noise
from semsynth.methods.dpsims.pretrain import SHAPES_BACKBONE, classifier, colour_augment
from semsynth.methods.dpsims.sampling import Balanced

TINY_BACKBONE = {"dims": [8, 16, 24, 32], "depths": [1, 1, 1, 1]}
TINY_G = GeneratorConfig(label_channels=11, resolution=(16, 16), encoder_channels=(8, 8, 16),
                         block_types=("conv", "pyramid", "pyramid"), pyramid_channels=8, image_channels=(16, 8, 8),
                         spade_hidden=8, w_dim=32, noise_tokens=2, z_dim=8)
SHAPES_SIZED = GeneratorConfig(**{**TINY_G.to_dict(), "resolution": (64, 64), "encoder_channels": (4, 4, 4),
                                  "image_channels": (4, 4, 4), "pyramid_channels": 4, "spade_hidden": 4})


def tiny_backbone_file(tmp_path):
    """A timm-format file (full classifier state_dict, safetensors) of a random tiny convnext."""
    from safetensors.torch import save_file

    net = classifier(10, {"name": "convnext_atto", "kwargs": TINY_BACKBONE})
    file = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(file))
    return file, net.state_dict()


def test_backbone_gets_no_gradient_update(tmp_path) -> None:
    file, stored = tiny_backbone_file(tmp_path)
    config = DiscriminatorConfig(backbone_kwargs=TINY_BACKBONE, full_channels=8, penultimate_channels=8)
    disc = Discriminator(config, pretrained_file=file)
    backbone = {k: v.clone() for k, v in disc.backbone.net.state_dict().items()}
    assert torch.equal(backbone["stem_0.weight"], stored["stem.0.weight"])   # the file's weights, loaded by timm
    decoder = {k: v.clone() for k, v in disc.classify.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in disc.parameters() if p.requires_grad], lr=1e-2)
    disc.train()
    images = torch.rand(2, 3, 32, 32, requires_grad=True) * 2 - 1
    labels = torch.randint(0, 10, (2, 32, 32))
    logits = disc(images)
    assert logits.shape == (2, 11, 32, 32)
    loss = losses.discriminator_loss(logits[:1], logits[1:], labels[1:], gamma=2.0, weighted=True)
    loss.backward()
    optimizer.step()
    assert all(p.grad is None and not p.requires_grad for p in disc.backbone.parameters())
    assert not any(m.training for m in disc.backbone.modules())          # eval-mode norms under .train()
    assert all(torch.equal(v, backbone[k]) for k, v in disc.backbone.net.state_dict().items())
    assert not all(torch.equal(v, decoder[k]) for k, v in disc.classify.state_dict().items())   # decoder learns
    finetuned = Discriminator(DiscriminatorConfig(backbone_kwargs=TINY_BACKBONE, frozen=False, full_channels=8,
                                                  penultimate_channels=8))
    assert all(p.requires_grad for p in finetuned.backbone.parameters())   # the S6 ablation trains it


def test_class_weights_and_focal_loss() -> None:
    labels = torch.tensor([[[0, 0, 0, 1]]])
    weights = losses.class_weights(labels, 3)
    assert torch.allclose(weights[labels == 0].sum(), weights[labels == 1].sum())   # equal class contributions
    logits = torch.randn(1, 4, 1, 4)
    plain = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(losses.focal_loss(logits, labels, None, 0.0), plain)
    assert losses.focal_loss(logits, labels, None, 2.0) < plain


def test_diversity_loss_hinges_at_the_threshold() -> None:
    features, z = torch.randn(4, 8, 4, 4), torch.randn(4, 6)
    tau = losses.diversity_threshold(features, z)
    assert losses.diversity_loss(features, features, z, z + 1, tau) == pytest.approx(float(tau))
    assert losses.diversity_loss(features, features + 100, z, z + 1, tau) == 0
    assert losses.diversity_loss(features, features, z, z + 1, tau, "relative") == 1   # scale-free: 1 - d / tau
    other = features + 0.3 * torch.randn_like(features)
    relative = losses.diversity_loss(features, other, z, z + 1, tau, "relative")
    assert 0 < relative < 1
    scaled = losses.diversity_loss(5 * features, 5 * other, z, z + 1, 5 * tau, "relative")
    assert scaled == pytest.approx(float(relative))


def test_contrastive_prefers_matching_patches() -> None:
    stages = lambda x: [x]  # noqa: E731
    loss = losses.PatchContrastive(stages, [3], dim=16, patches=32)
    real = torch.randn(2, 3, 8, 8)
    rng = torch.Generator().manual_seed(0)
    same = loss(real, real, rng)
    rng = torch.Generator().manual_seed(0)
    assert same < loss(real.flip(-1), real, rng)


def test_generator_uses_noise_and_layout() -> None:
    torch.manual_seed(0)
    net = Generator(TINY_G).eval()
    layout = torch.zeros(1, 11, 16, 16)
    layout[:, 2] = 1
    z = torch.randn(2, 8)
    out, features = net(layout.expand(2, -1, -1, -1), z, with_features=True)
    assert out.shape == (2, 3, 16, 16) and features.shape[1] == 8
    assert not torch.allclose(out[0], out[1])
    other = torch.zeros_like(layout)
    other[:, 5] = 1
    assert not torch.allclose(net(other, z[:1]), out[:1])


def test_generator_upsampling_is_a_config_choice_files_keep(tmp_path) -> None:
    torch.manual_seed(0)
    nearest = Generator(TINY_G).eval()
    bilinear = Generator(GeneratorConfig(**{**TINY_G.to_dict(), "upsample": "bilinear"})).eval()
    bilinear.load_state_dict(nearest.state_dict())            # same parameters: only the resize differs
    layout, z = torch.zeros(1, 11, 16, 16), torch.randn(1, 8)
    layout[:, 3] = 1
    assert not torch.allclose(nearest(layout, z), bilinear(layout, z))
    old = {k: v for k, v in TINY_G.to_dict().items() if k != "upsample"}
    assert GeneratorConfig.from_dict(old).upsample == "nearest"   # files written before the option
    with pytest.raises(ValueError, match="unknown upsample 'bicubic'"):
        Generator(GeneratorConfig(**{**TINY_G.to_dict(), "upsample": "bicubic"}))
    sized = Generator(GeneratorConfig(**{**SHAPES_SIZED.to_dict(), "upsample": "bilinear"}))
    DPSIMS.from_generator(sized, instances=True).save(tmp_path / "g.safetensors")
    loaded = DPSIMS.from_checkpoint(tmp_path / "g.safetensors")
    assert loaded.net.config.upsample == "bilinear"


def test_method_round_trip_and_missing_weights(tmp_path) -> None:
    torch.manual_seed(0)
    method = DPSIMS.from_generator(Generator(SHAPES_SIZED), instances=True)
    layout = semsynth.load_dataset("shapes", split="val")[0].layout
    image = method.generate(layout, seed=3)
    assert image.dtype == torch.uint8 and image.shape == (3, 64, 64)
    method.save(tmp_path / "g.safetensors")
    loaded = DPSIMS.from_checkpoint(tmp_path / "g.safetensors")
    assert torch.allclose(loaded.generate(layout, seed=3).float(), image.float(), atol=2)   # fp16 file
    assert torch.equal(loaded.generate(layout, seed=3), loaded.generate_batch([layout, layout], [3, 3])[1])
    assert label_map([layout], 10, True).shape == (1, 11, 64, 64)
    with pytest.raises(MissingWeightsError, match="bench train --method dpsims --dataset ade20k"):
        DPSIMS(dataset="ade20k")


def test_segment_noise_gives_each_segment_its_own_vector(tmp_path) -> None:
    from semsynth.types import Layout

    layout = semsynth.load_dataset("shapes", split="val")[1].layout
    ids = segment_ids(layout)
    assert int(ids.max()) + 1 == layout.instances.unique().numel()
    vectors = torch.randn(1, int(ids.max()) + 1, 3)
    noise = segment_noise(ids[None], vectors)
    for k in range(vectors.shape[1]):
        assert torch.equal(noise[0][:, ids == k], vectors[0, k][:, None].expand(3, int((ids == k).sum())))
    no_instances = Layout(layout.labels, layout.label_space)
    assert torch.equal(segment_ids(no_instances).unique(return_inverse=True)[1],
                       layout.labels.unique(return_inverse=True)[1])       # one segment per class
    config = GeneratorConfig(**{**SHAPES_SIZED.to_dict(), "segment_noise": 3})
    with pytest.raises(ValueError, match="takes a noise map of 3 channels"):
        Generator(config)(label_map([layout], 10, True), torch.randn(1, 8))
    torch.manual_seed(0)
    method = DPSIMS.from_generator(Generator(config), instances=True)
    other = semsynth.load_dataset("shapes", split="val")[2].layout
    assert torch.equal(method.generate_batch([layout, other], [4, 5])[1], method.generate(other, 5))
    assert not torch.equal(method.generate(layout, 4), method.generate(layout, 5))
    plain_z = torch.randn(8, generator=torch.Generator().manual_seed(4))
    assert torch.equal(method.draw(4, 6)[0], plain_z)          # the segment vectors come after z in the stream
    method.save(tmp_path / "g.safetensors")
    assert DPSIMS.from_checkpoint(tmp_path / "g.safetensors").net.config.segment_noise == 3
    assert GeneratorConfig.from_dict({k: v for k, v in SHAPES_SIZED.to_dict().items()
                                      if k != "segment_noise"}).segment_noise == 0   # files before the option


def test_noise_in_spade_conditions_every_block_on_the_noise_map(tmp_path) -> None:
    with pytest.raises(ValueError, match="noise_in_spade needs segment_noise"):
        Generator(GeneratorConfig(**{**SHAPES_SIZED.to_dict(), "noise_in_spade": True}))
    config = GeneratorConfig(**{**SHAPES_SIZED.to_dict(), "segment_noise": 3, "noise_in_spade": True})
    torch.manual_seed(0)
    generator = Generator(config).eval()
    assert all(block.norm_0.shared.in_channels == config.pyramid_channels + 3 for block in generator.blocks)
    layout = semsynth.load_dataset("shapes", split="val")[1].layout
    inputs, z, ids = label_map([layout], 10, True), torch.randn(1, 8), segment_ids(layout)[None]
    vectors = torch.randn(1, int(ids.max()) + 1, 3)
    changed = vectors.clone()
    changed[0, 0] += 1
    with torch.no_grad():
        generator.encoder[0].conv_in.parametrizations.weight.original[:, -3:] = 0   # only the SPADE path reads it
        image = generator(inputs, z, False, segment_noise(ids, vectors))
        assert not torch.allclose(image, generator(inputs, z, False, segment_noise(ids, changed)))
        for block in generator.blocks:
            for norm in (block.norm_0, block.norm_1, getattr(block, "norm_s", block.norm_0)):
                norm.shared.parametrizations.weight.original[:, -3:] = 0
        image = generator(inputs, z, False, segment_noise(ids, vectors))
        assert torch.equal(image, generator(inputs, z, False, segment_noise(ids, changed)))   # ...or not at all
    DPSIMS.from_generator(generator, instances=True).save(tmp_path / "g.safetensors")
    assert DPSIMS.from_checkpoint(tmp_path / "g.safetensors").net.config.noise_in_spade


def test_balanced_sampling_is_deterministic_and_class_uniform() -> None:
    data = semsynth.load_dataset("shapes", split="train")
    view = Balanced(data, pool=40, seed=1)
    assert view[5].id == Balanced(data, pool=40, seed=1)[5].id
    assert len(view.members) == data.label_space.num_classes


def test_colour_augment_hides_colour_and_keeps_texture() -> None:
    images = torch.stack([semsynth.load_dataset("shapes", split="val")[index].image for index in range(16)])
    out = colour_augment(images, torch.Generator().manual_seed(0))
    again = colour_augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and torch.equal(out, again)
    grey = (out[:, 0] == out[:, 1]).flatten(1).all(1) & (out[:, 1] == out[:, 2]).flatten(1).all(1)
    assert 0 < int(grey.sum()) < len(images)          # some grey, some with permuted channels
    assert not torch.allclose(out[~grey].float(), images[~grey].float())
    # the stripes survive: every image's brightness pattern (hence its texture) is what it was, up to a scale
    flat_in = images.float().mean(1).flatten(1)
    flat_out = out.mean(1).flatten(1)
    correlation = torch.nn.functional.cosine_similarity(flat_in - flat_in.mean(1, keepdim=True),
                                                        flat_out - flat_out.mean(1, keepdim=True))
    assert (correlation[grey] > 0.9).all()
    assert (correlation[~grey] > 0.99).all()          # permuting channels leaves their mean as it was


def test_colour_augment_with_p_below_one_leaves_the_other_images_untouched() -> None:
    """``--augment half``: about half the images keep their colour exactly; the rest are augmented."""
    images = torch.stack([semsynth.load_dataset("shapes", split="val")[index].image for index in range(32)])
    out = colour_augment(images, torch.Generator().manual_seed(0), p=0.5)
    kept = (out == images.float()).flatten(1).all(1)
    assert 8 <= int(kept.sum()) <= 24
    assert not (out[~kept] == images[~kept].float()).flatten(1).all(1).any()
    assert torch.equal(colour_augment(images, torch.Generator().manual_seed(0), p=0.0), images.float())


def test_shapes_backbone_config_is_the_shipped_one() -> None:
    from semsynth.methods.dpsims.presets import SHAPES_DISCRIMINATOR

    assert SHAPES_DISCRIMINATOR["backbone"] == SHAPES_BACKBONE["name"]
    assert SHAPES_DISCRIMINATOR["backbone_kwargs"] == SHAPES_BACKBONE["kwargs"]
    assert json.loads(json.dumps(SHAPES_DISCRIMINATOR)) == SHAPES_DISCRIMINATOR


def test_shapes_recipe_describes_the_shipped_generator() -> None:
    import shlex

    from semsynth import weights
    from semsynth.cli import _key_values
    from semsynth.methods.dpsims.presets import SHAPES_RECIPE, SHAPES_SCHEDULE, SHAPES_SHIPPED

    for command, (steps, decay) in zip(SHAPES_RECIPE.split(" && ")[1:], SHAPES_SCHEDULE):
        words = shlex.split(command)
        sets = _key_values([words[i + 1] for i, word in enumerate(words) if word == "--set"])
        assert sets == {**SHAPES_SHIPPED, "lr_decay_steps": decay} and words[words.index("--steps") + 1] == str(steps)
    record = checkpoints.load(weights.path("dpsims-shapes"))[1]
    generator = {key: record["generator"][key] for key in ("upsample", "segment_noise", "noise_in_spade")}
    assert generator == {key: SHAPES_SHIPPED[key] for key in generator}
    assert record["discriminator"]["colour_levels"] == SHAPES_SHIPPED["colour_levels"]


@pytest.mark.parametrize("amp", [None, "bf16"])
def test_training_step_leaves_the_shipped_backbone_bit_identical(tmp_path, amp) -> None:
    """One step (also under bf16 autocast): finite logged losses, the frozen backbone unchanged, a usable export."""
    import math
    import re

    from safetensors.torch import load_file

    from semsynth import weights
    from semsynth.methods.dpsims.train import train

    out = train("shapes", tmp_path / "run", steps=1, batch_size=2, quiet=True, sampling="uniform", amp=amp,
                contrastive_patches=8, encoder_channels=[4, 4, 4, 4, 4], image_channels=[4, 4, 4, 4, 4])
    state = torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 1
    logged = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    assert {"G_gan", "D"} <= set(logged) and all(math.isfinite(value) for value in logged.values())
    shipped = load_file(str(weights.path("dpsims-shapes-backbone")))
    backbone = {re.sub(r"^(stem|stages)_(\d+)", r"\1.\2", key[len("backbone.net."):]): value
                for key, value in state["modules"]["D"].items() if key.startswith("backbone.net.")}
    assert len(backbone) > 10 and all(torch.equal(value, shipped[key].float()) for key, value in backbone.items())
    image = DPSIMS.from_checkpoint(out).generate(semsynth.load_dataset("shapes", split="val")[0].layout, seed=0)
    assert image.shape == (3, 64, 64)
    exported, config = checkpoints.load(out)   # BatchNorm statistics recomputed over 50 batches of 2 x 2 layouts
    assert config["bn_recalibration"] == {"batches": 50, "batch_size": 4}
    key = "encoder.0.norm_in.running_mean"
    assert not torch.allclose(exported[f"G.{key}"].float(), state["ema"]["G"][key].half().float())


def test_colour_levels_give_the_decoder_the_block_means(tmp_path) -> None:
    file, _ = tiny_backbone_file(tmp_path)
    config = DiscriminatorConfig(backbone_kwargs=TINY_BACKBONE, full_channels=8, penultimate_channels=8,
                                 colour_levels=True)
    disc = Discriminator(config, pretrained_file=file).eval()
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    plain = Discriminator(DiscriminatorConfig(backbone_kwargs=TINY_BACKBONE), pretrained_file=file).eval()
    for stage, blind in zip(disc.conditioned(images), plain.conditioned(images)):
        size = 32 // stage.shape[-1]
        assert torch.equal(stage[:, :-3], blind)                   # the backbone's stages, unchanged
        assert torch.allclose(stage[0, -3:, 0, 0], images[0, :, :size, :size].mean((1, 2)), atol=1e-6)
    assert disc(images).shape == (2, 11, 32, 32)


def test_training_with_our_options_logs_the_pooled_diversity(tmp_path) -> None:
    import math

    from semsynth.methods.dpsims.train import train

    out = train("shapes", tmp_path / "run", steps=1, batch_size=2, quiet=True, sampling="uniform", crop=32,
                contrastive_patches=8, encoder_channels=[4, 4, 4, 4, 4], image_channels=[4, 4, 4, 4, 4],
                upsample="bilinear", colour_levels=True, div_space="image", div_pool=8, lambda_div=1.0,
                segment_noise=2, lr_decay_steps=2, bn_batches=1)
    logged = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(logged["G_div"]) and logged["G_div"] > 0
    record = json.loads((tmp_path / "run" / "options.json").read_text())["network"]
    assert record["discriminator"]["colour_levels"] and record["generator"]["upsample"] == "bilinear"
    assert record["generator"]["segment_noise"] == 2
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["optimizers"]["G"]["param_groups"][0]["lr"] == pytest.approx(2e-4)   # 4e-4 decayed to half
    loaded = DPSIMS.from_checkpoint(out)
    assert loaded.net.config.upsample == "bilinear" and loaded.net.config.segment_noise == 2
