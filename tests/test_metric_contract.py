"""The metric contract, run for every registered metric that can run on ``shapes`` (as timm tests every model of
``list_models()``): the value is bit-identical whatever the batch size (streaming equals one-shot), merge is
associative, merging the states of two halves gives the state of the whole, and a metric keeps no per-run data
outside its declared state. Metrics that need a method's control API are planned by the runner (test_runner)."""

from __future__ import annotations

import pytest
import torch

from semsynth import load_metric, protocols
from semsynth.datasets.shapes import Shapes, render
from semsynth.evaluators.base import EvalBatch, EvalContext, Metric
from semsynth.registry import METRICS, load_plugins

load_plugins()
N_LAYOUTS, SAMPLES = 16, 2
SHAPES_SPECS = protocols.get("semsynth-v1").for_dataset("shapes").metrics
# Options of metrics outside the shapes protocol that take a segmenter rather than a backbone.
UNLISTED_OPTIONS = {"fsd": {"segmenter": "shapes-segnet"}}


def runnable_on_shapes() -> list[str]:
    """Every registered metric except those that drive a method (they need one with the control API)."""
    return sorted(name for name, cls in METRICS.module_dict.items()
                  if not cls.requires_method and not getattr(cls, "needs_control_api", False))


def shapes_options(name: str) -> dict:
    """The shapes protocol's options for ``name``, else the shapes backbone (FID-family metrics on other backbones
    by default); references cut to 100 images to keep the test short."""
    spec = next((spec for spec in SHAPES_SPECS.values() if spec.metric == name), None)
    unlisted = UNLISTED_OPTIONS.get(name, {"backbone": "shapes-segnet"})
    options = dict(spec.options) if spec is not None else dict(unlisted)
    if "reference_limit" in options or spec is None:
        options.update(reference_split="train", reference_limit=100)
    return options


@pytest.fixture(scope="module")
def batch() -> EvalBatch:
    """16 shapes layouts with 2 rendered samples each (seeds 0 and 1)."""
    dataset = Shapes(split="val")
    layouts = [dataset.layout(i) for i in range(N_LAYOUTS)]
    images = torch.stack([torch.stack([render(layout.labels, layout.instances, seed) for seed in range(SAMPLES)])
                          for layout in layouts])
    return EvalBatch(images=images, labels=torch.stack([layout.labels for layout in layouts]),
                     instances=torch.stack([layout.instances for layout in layouts]))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("reference")


def part(batch: EvalBatch, start: int, stop: int, key: int) -> EvalBatch:
    return EvalBatch(images=batch.images[start:stop], labels=batch.labels[start:stop],
                     instances=batch.instances[start:stop], key=key)


def streamed(metric: Metric, batch: EvalBatch, size: int, start: int = 0, stop: int = N_LAYOUTS):
    """The state after updating with layouts ``start..stop`` in batches of ``size``."""
    state = metric.new_state()
    for index, first in enumerate(range(start, stop, size)):
        metric.update(state, part(batch, first, min(first + size, stop), key=(start, size, index)))
    return state


def assert_same_state(a: dict, b: dict, exact: bool) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if exact or not a[name].is_floating_point():
            assert torch.equal(a[name], b[name]), name
        else:  # float sums in another order: equal up to rounding
            torch.testing.assert_close(a[name], b[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", runnable_on_shapes())
def test_metric_contract(name, batch, cache_dir):
    metric = load_metric(name, **shapes_options(name))
    metric.prepare(EvalContext(dataset="shapes", split="val", cache_dir=cache_dir, batch_size=16))
    assert set(metric.new_state()) == set(metric.states)          # the state is exactly what was declared
    configuration = dict(vars(metric))

    records = {size: metric.compute(streamed(metric, batch, size)) for size in (1, 3, N_LAYOUTS)}
    assert records[1] == records[3] == records[N_LAYOUTS], name     # bit-identical; N_LAYOUTS is one-shot
    assert vars(metric).keys() == configuration.keys()
    assert all(vars(metric)[key] is value for key, value in configuration.items())   # no per-run data on it

    thirds = [streamed(metric, batch, 3, start, stop) for start, stop in ((0, 5), (5, 11), (11, N_LAYOUTS))]
    left = metric.merge(metric.merge(thirds[0], thirds[1]), thirds[2])
    right = metric.merge(thirds[0], metric.merge(thirds[1], thirds[2]))
    assert_same_state(left, right, exact=False)

    halves = metric.merge(streamed(metric, batch, 3, 0, 7), streamed(metric, batch, 3, 7, N_LAYOUTS))
    whole = streamed(metric, batch, 3)
    assert_same_state(halves, whole, exact=False)
    merged, expected = metric.compute(halves), records[N_LAYOUTS]
    assert merged.keys() == expected.keys()
    # states agree to 1e-12; FID of 16 images (singular covariances) amplifies that rounding to ~1e-8
    assert merged["value"] == pytest.approx(expected["value"], rel=1e-6, abs=1e-12)
    assert {k: v for k, v in merged.items() if k != "value"} == {k: v for k, v in expected.items() if k != "value"}


def test_the_contract_covers_fid_kid_lpips_and_miou():
    assert {"fid", "kid", "lpips", "miou", "swav_fid", "clip_fid"} <= set(runnable_on_shapes())
