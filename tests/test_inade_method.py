"""The ``inade`` method on ``shapes`` with a tiny random INADE: contract, control API, checkpoints."""

from __future__ import annotations

import pytest
import torch

from semsynth.datasets.shapes import Shapes
from semsynth.errors import LayoutError, MissingWeightsError, UserError
from semsynth.methods.inade.method import INADE, layout_instances, region_mask
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


@pytest.mark.xfail(strict=True, reason="issue 12 item 1: batch-wide ILADE segments make generate_batch differ from "
                                       "one-by-one generation over 8 layouts (helper ilade's fix pending)")
def test_method_contract(method):
    contract = pytest.importorskip("tests.method_contract")
    contract.run_contract(method)


def test_batch_equals_one_by_one_with_different_instance_counts(method, layouts):
    assert len({int(layout_instances(layout).max()) for layout in layouts}) > 1
    batch = method.generate_batch(layouts, [3, 4, 5])
    assert batch.dtype == torch.uint8 and batch.shape == (3, 3, 64, 64)
    for image, layout, seed in zip(batch, layouts, [3, 4, 5]):
        assert torch.equal(image, method.generate(layout, seed))


def _change(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    difference = (a.float() - b.float()).abs().mean(0)
    return difference[mask].mean().item(), difference[~mask].mean().item()


@pytest.mark.parametrize("kind", ["class", "instance"])
def test_resampling_a_region_changes_it_and_little_else(method, layouts, kind):
    for layout in layouts:
        region = {"class": int(layout.labels[0, 0])} if kind == "class" else {"instance": int(layout.instances.max())}
        base = method.generate(layout, seed=0)
        inside, outside = _change(method.resample(layout, seed=7, base_seed=0, region=region), base,
                                  region_mask(layout, region))
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

def _metric(name: str, method: INADE):
    from semsynth import load_metric
    from semsynth.evaluators.inade_diversity import RegionDistance
    from semsynth.evaluators.segmenters.shapes_segnet import ShapesDistance

    metric = load_metric(name, samples=2, max_regions=2)
    metric.bind(method)
    random_net = ShapesDistance(pretrained=False)   # real architecture, random weights (no shipped file needed)
    metric.distance = RegionDistance(lambda images: random_net.net.stages(random_net.preprocess(images)), "random")
    return metric, random_net


def test_region_distance_with_a_full_mask_is_the_lpips_style_distance(method, layouts):
    _, random_net = _metric("mcsd", method)
    from semsynth.evaluators.inade_diversity import RegionDistance

    distance = RegionDistance(lambda images: random_net.net.stages(random_net.preprocess(images)), "random")
    a = method.generate_batch(layouts[:2], [0, 1])
    b = method.generate_batch(layouts[:2], [2, 3])
    full = distance.masked(distance.layer_maps(a, b), torch.ones(2, 64, 64))
    torch.testing.assert_close(full, random_net.distance(a, b), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,inside,outside", [("mcsd", "mCSD", "mOCD"), ("misd", "mISD", "mOID")])
def test_region_diversity_inside_exceeds_outside_and_states_merge(method, layouts, name, inside, outside):
    from semsynth.evaluators.base import EvalBatch

    metric, _ = _metric(name, method)
    batches = [EvalBatch(images=torch.zeros(1, 1, 3, 64, 64, dtype=torch.uint8), labels=layout.labels[None],
                         instances=layout.instances[None]) for layout in layouts[:2]]
    states = []
    for batch in batches:
        states.append(metric.new_state())
        metric.update(states[-1], batch)
    result = metric.compute(metric.merge(*states))
    assert result["n_regions"] == 4 and result["value"] == result[inside]
    assert result[inside] > 2 * result[outside] > 0


def test_region_diversity_needs_the_control_api():
    from semsynth import load_metric

    with pytest.raises(UserError, match="control API"):
        load_metric("mcsd").bind(object())


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
    from semsynth.evaluators.inade_diversity import region_distance

    with pytest.raises(UserError, match="unknown region-distance backbone"):
        region_distance("vgg-nonexistent")
