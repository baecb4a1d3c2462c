import pytest
import torch

from semsynth import load_method
from semsynth.datasets.shapes import SHAPES_LABELS, Shapes, make_layout, render
from tests.method_contract import run_contract


def test_examples_are_deterministic_and_split_dependent():
    val, again, train = Shapes(split="val"), Shapes(split="val"), Shapes(split="train")
    assert len(val) == 500 and len(train) >= 100_000
    a, b = val[7], again[7]
    assert a.id == "val_000007" and torch.equal(a.image, b.image) and torch.equal(a.layout.labels, b.layout.labels)
    assert not torch.equal(train[7].layout.labels, a.layout.labels)
    assert a.image.dtype == torch.uint8 and a.image.shape == (3, 64, 64)
    assert a.layout.labels.dtype == torch.int64 and a.layout.instances.shape == (64, 64)


def test_layouts_have_stuff_and_several_thing_instances():
    things_per_image, classes = [], set()
    for index in range(40):
        labels, instances = make_layout("val", index)
        classes |= set(labels.flatten().tolist())
        thing_ids = {int(i) for i in instances.flatten() if i >= 1000}
        things_per_image.append(len(thing_ids))
        for instance in thing_ids:   # each instance id belongs to one thing class
            assert len(set(labels[instances == instance].tolist())) == 1
        assert labels[0].min() == 0 or labels[0].max() >= 5   # sky on top unless a thing covers it
    assert classes == set(range(SHAPES_LABELS.num_classes))
    assert max(things_per_image) >= 4 and sum(things_per_image) / len(things_per_image) >= 2.5
    assert len(SHAPES_LABELS.things) == 5


def test_render_is_stochastic_per_segment_but_follows_the_layout():
    layout = Shapes(split="val").layout(3)
    first, second = render(layout.labels, layout.instances, 0), render(layout.labels, layout.instances, 1)
    assert torch.equal(first, render(layout.labels, layout.instances, 0))
    assert (first.float() - second.float()).abs().mean() > 5
    for cls in layout.labels.unique().tolist():   # colours stay in the class family
        mask = layout.labels == cls
        mean = first[:, mask].float().mean(1)
        expected = torch.tensor(SHAPES_LABELS.palette[cls], dtype=torch.float32)
        assert (mean - expected).abs().max() < 90, cls


def test_render_pixel_noise_is_independent_gaussian_on_top_of_the_texture():
    layout = Shapes(split="val").layout(3)
    clean = render(layout.labels, layout.instances, 0, pixel_noise=0.0).float()
    noise = render(layout.labels, layout.instances, 0).float() - clean      # the default: 5 levels
    assert 4.5 < noise.std() < 5.5 and abs(noise.mean()) < 0.3
    assert abs(torch.corrcoef(torch.stack([noise[:, :, 1:].flatten(), noise[:, :, :-1].flatten()]))[0, 1]) < 0.05


def test_oracle_passes_the_method_contract():
    run_contract(load_method("shapes-oracle", dataset="shapes"))


def test_oracle_refuses_other_datasets():
    from semsynth.errors import UserError

    with pytest.raises(UserError):
        load_method("shapes-oracle", dataset="ade20k")
