"""The ``inade`` method on ``shapes`` with a tiny random INADE: contract, control API, checkpoints."""

from __future__ import annotations

import pytest
import torch

from semsynth.datasets.shapes import Shapes
from semsynth.errors import LayoutError, MissingWeightsError, UserError
from semsynth.methods.inade.method import INADE, layout_instances
from semsynth.methods.inputs import instance_onehot, semantics
from semsynth.methods.inade.model import INADEEncoder, INADEGenerator
from semsynth.methods.inade.presets import SHAPES_OPTIONS


def calibrated_generator(layouts) -> INADEGenerator:
    """A random shapes INADE whose batch-norm running statistics are measured on ``layouts`` (one pass), so that
    eval-mode activations are normalised as in a trained network."""
    torch.manual_seed(0)
    net = INADEGenerator.from_official_config(SHAPES_OPTIONS)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one pass sets the statistics
    instances = torch.stack([layout_instances(layout) for layout in layouts])
    segmap = semantics(torch.stack([layout.labels for layout in layouts]),
                       torch.stack([layout.instances for layout in layouts]), net.label_nc)
    onehot = instance_onehot(instances)
    with torch.no_grad():
        net.train()(segmap, onehot, torch.randn(len(layouts), onehot.shape[1], 2, net.noise_nc),
                    torch.randn(len(layouts), net.z_dim))
    return net.eval()


@pytest.fixture(scope="module")
def method() -> INADE:
    train = Shapes(split="train")
    generator = calibrated_generator([train.layout(index) for index in range(8)])
    return INADE.from_networks(generator, INADEEncoder.from_official_config(SHAPES_OPTIONS), SHAPES_OPTIONS)


@pytest.fixture(scope="module")
def layouts():
    val = Shapes(split="val")
    return [val.layout(index) for index in range(3)]


def test_method_contract(method):
    contract = pytest.importorskip("tests.method_contract")
    contract.run_contract(method)


def test_batch_equals_one_by_one_with_different_instance_counts(method, layouts):
    assert len({int(layout_instances(layout).max()) for layout in layouts}) > 1
    batch = method.generate_batch(layouts, [3, 4, 5])
    assert batch.dtype == torch.uint8 and batch.shape == (3, 3, 64, 64)
    for image, layout, seed in zip(batch, layouts, [3, 4, 5]):
        assert torch.equal(image, method.generate(layout, seed))


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_shipped_checkpoint_batches_of_any_grouping_equal_one_by_one(batch_size):
    shipped = INADE(dataset="shapes")
    val = Shapes(split="val")
    layouts = [val.layout(index) for index in range(9)]
    seeds = list(range(9))
    single = torch.stack([shipped.generate(layout, seed) for layout, seed in zip(layouts, seeds)])
    order = [8, 2, 5, 0, 7, 3, 6, 1, 4]          # other batch partners than in index order
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    for chosen in batches:
        images = shipped.generate_batch([layouts[i] for i in chosen], [seeds[i] for i in chosen])
        for index, image in zip(chosen, images):
            assert torch.equal(image, single[index]), (batch_size, chosen, index)


def test_ilade_segments_and_modulation_stay_within_each_image(layouts):
    from semsynth.nn.ilade import ILADE, Segments

    torch.manual_seed(0)
    chosen = layouts + [Shapes(split="val").layout(3)]
    instances = torch.stack([layout_instances(layout) for layout in chosen])
    segmap = semantics(torch.stack([layout.labels for layout in chosen]), instances, 10)
    onehot = instance_onehot(instances)
    segments = Segments(segmap, onehot, 10)
    pixels = segments.pixels((64, 64)).view(len(chosen), 64, 64)
    for image, layout in enumerate(chosen):
        assert torch.equal(segments.images[pixels[image]], torch.full((64, 64), image))
        assert torch.equal(segments.classes[pixels[image]], layout.labels)
        assert torch.equal(segments.instances[pixels[image]], instances[image])
    layer = ILADE(8, 10, 4).eval()
    x, noise = torch.randn(len(chosen), 8, 32, 32), torch.randn(len(chosen), onehot.shape[1], 2, 4)
    with torch.no_grad():
        out = layer(x, segments, noise)
        swapped = [0, 3, 2, 1]                   # image 0 and 2 keep their place, 1 and 3 trade theirs
        other = layer(x[swapped], Segments(segmap[swapped], onehot[swapped], 10), noise[swapped])
    assert torch.equal(other[0], out[0]) and torch.equal(other[2], out[2]) and torch.equal(other[1], out[3])


def _change(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    difference = (a.float() - b.float()).abs().mean(0)
    return difference[mask].mean().item(), difference[~mask].mean().item()


@pytest.mark.parametrize("kind", ["class", "instance"])
def test_resampling_a_region_changes_it_and_little_else(method, layouts, kind):
    for layout in layouts:
        region = {"class": int(layout.labels[0, 0])} if kind == "class" else {"instance": int(layout.instances.max())}
        base = method.generate(layout, seed=0)
        inside, outside = _change(method.resample(layout, seed=7, base_seed=0, region=region), base,
                                  layout.region_mask(region))
        assert inside > 10 and inside > 2 * outside, (region, inside, outside)
        assert torch.equal(method.resample(layout, seed=0, base_seed=0, region=region), base)


def test_bad_regions_are_user_errors(method, layouts):
    with pytest.raises(LayoutError, match="absent"):
        method.resample(layouts[0], 1, 0, {"class": 9} if not (layouts[0].labels == 9).any() else {"instance": 123})
    with pytest.raises(UserError, match="region must be"):
        method.resample(layouts[0], 1, 0, {"segment": 0})


def test_reference_guided_style_acts_on_the_chosen_instance(method, layouts):
    reference = Shapes(split="val")[1]
    layout = layouts[0]
    target, source = int(layout.instances.max()), int(reference.layout.instances.max())
    plain = method.generate(layout, seed=2)
    styled = method.generate_with_style(layout, 2, reference.image, reference.layout, {target: source})
    inside, outside = _change(styled, plain, layout.instances == target)
    assert inside > 2 * outside
    assert torch.equal(method.generate_with_style(layout, 2, reference.image, reference.layout, []), plain)
    with pytest.raises(UserError, match="reference image"):
        method.generate_with_style(layout, 2, reference.image.float(), reference.layout, [target])


def test_save_and_reload_give_the_same_images(method, layouts, tmp_path):
    method.save(tmp_path / "inade.safetensors")
    reloaded = INADE(dataset="shapes", checkpoint=tmp_path / "inade.safetensors")
    assert torch.equal(reloaded.generate(layouts[0], 11), method.generate(layouts[0], 11))


def test_official_generator_file_loads_and_style_needs_an_encoder(method, layouts, tmp_path):
    torch.save(method.net.state_dict(), tmp_path / "best_net_G.pth")
    official = INADE.from_checkpoint(tmp_path / "best_net_G.pth", dataset="shapes")
    assert torch.equal(official.generate(layouts[0], 1), method.generate(layouts[0], 1))
    with pytest.raises(MissingWeightsError, match="encoder"):
        official.generate_with_style(layouts[0], 1, Shapes(split="val")[0].image, layouts[0], [0])
    torch.save(method.encoder.state_dict(), tmp_path / "best_net_IE.pth")
    styled = official.generate_with_style(layouts[0], 1, Shapes(split="val")[0].image, layouts[0], [0])
    assert styled.shape == (3, 64, 64)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(MissingWeightsError, match="does not exist"):
        INADE(dataset="shapes", checkpoint=tmp_path / "absent.safetensors")


# -- class / instance diversity metrics ---------------------------------------------------------------------

def _metric(name: str):
    from semsynth import load_metric
    from semsynth.evaluators.region_diversity import RegionDistance
    from semsynth.backbones.shapes_net import ShapesDistance

    metric = load_metric(name, samples=2, max_regions=2)
    random_net = ShapesDistance(pretrained=False)   # real architecture, random weights (no shipped file needed)
    metric.distance = RegionDistance(lambda images: random_net.net.stages(random_net.preprocess(images)), "random")
    return metric, random_net


def test_region_distance_with_a_full_mask_is_the_lpips_style_distance(method, layouts):
    _, random_net = _metric("mcsd")
    from semsynth.evaluators.region_diversity import RegionDistance

    distance = RegionDistance(lambda images: random_net.net.stages(random_net.preprocess(images)), "random")
    a = method.generate_batch(layouts[:2], [0, 1])
    b = method.generate_batch(layouts[:2], [2, 3])
    full = distance.masked(distance.layer_maps(a, b), torch.ones(2, 64, 64))
    torch.testing.assert_close(full, random_net.distance(a, b), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,inside,outside", [("mcsd", "mCSD", "mOCD"), ("misd", "mISD", "mOID")])
def test_region_diversity_inside_exceeds_outside_and_states_merge(method, layouts, name, inside, outside):
    from semsynth.evaluators.base import EvalBatch
    from semsynth.types import Example

    metric, _ = _metric(name)
    states = []
    for position, layout in enumerate(layouts[:2]):
        example = Example(f"layout{position}", torch.zeros(3, 64, 64, dtype=torch.uint8), layout)
        planned = metric.extra_samples(position, example)        # what the runner generates and stores
        assert len(planned) == 2 * 2 and len({extra.key for extra in planned}) == 4
        extras = {extra.key: getattr(method, extra.call)(layout, **extra.arguments) for extra in planned}
        batch = EvalBatch(images=torch.zeros(1, 1, 3, 64, 64, dtype=torch.uint8), labels=layout.labels[None],
                          instances=layout.instances[None], examples=[example], positions=[position], extras=[extras])
        states.append(metric.new_state())
        metric.update(states[-1], batch)
    result = metric.compute(metric.merge(*states))
    assert result["n_regions"] == 4 and result["value"] == result[inside]
    assert result[inside] > 2 * result[outside] > 0


def test_region_diversity_plans_its_resamples_and_declares_the_control_api(layouts):
    from semsynth import load_metric
    from semsynth.types import Example

    metric = load_metric("mcsd", samples=3, base_seed=5, max_layouts=1)
    assert metric.requires_method == ("resample",)
    example = Example("val_000007", torch.zeros(3, 64, 64, dtype=torch.uint8), layouts[0])
    classes = [int(c) for c in torch.unique(layouts[0].labels)]
    planned = metric.extra_samples(0, example)
    assert [extra.arguments for extra in planned] == [{"seed": seed, "base_seed": 5, "region": {"class": c}}
                                                      for c in classes for seed in (6, 7, 8)]
    assert planned[0].key == f"val_000007_rc{classes[0]}_b5_s6" and {extra.call for extra in planned} == {"resample"}
    assert metric.extra_samples(1, example) == []           # beyond max_layouts of the plan


# -- training ----------------------------------------------------------------------------------------------------

def test_training_resumes_and_exports_a_loadable_checkpoint(tmp_path, layouts):
    import json

    from semsynth.methods.inade.train import train

    options = {"ngf": 2, "ndf": 4, "perceptual": "none"}
    train("shapes", tmp_path, steps=1, batch_size=2, quiet=True, ckpt_every=1, **options)
    result = train("shapes", tmp_path, steps=2, batch_size=2, quiet=True, ckpt_every=1, **options)
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == [1, 2]           # the second call resumed at step 1
    assert all(torch.isfinite(torch.tensor(list(entry.values()))).all() for entry in logged)
    trained = INADE(dataset="shapes", checkpoint=result)
    assert trained.options["ngf"] == 2 and trained.generate(layouts[0], 0).shape == (3, 64, 64)
    with pytest.raises(UserError, match="unknown INADE training option"):
        train("shapes", tmp_path / "other", steps=1, batch_size=2, quiet=True, learning_rate=1.0)


def test_layouts_without_instance_maps_use_one_instance_per_class(method, layouts):
    from semsynth.types import Layout

    plain = Layout(layouts[0].labels, layouts[0].label_space)
    with_classes = Layout(layouts[0].labels, layouts[0].label_space, layouts[0].labels.clone())
    assert torch.equal(method.generate(plain, 4), method.generate(with_classes, 4))
    region = {"class": int(plain.labels[0, 0])}
    assert torch.equal(method.resample(plain, 9, 4, region), method.resample(with_classes, 9, 4, region))
    with pytest.raises(UserError, match="instance map"):
        method.resample(plain, 9, 4, {"instance": 0})


def test_unknown_region_distance_backbone_is_a_user_error():
    from semsynth.evaluators.region_diversity import region_distance

    with pytest.raises(UserError, match="unknown region-distance backbone"):
        region_distance("vgg-nonexistent")
