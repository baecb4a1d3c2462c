"""Bootstrap intervals over layouts and FID-infinity: equal to a direct computation on the resampled layouts, and
bit-identical whatever the batch size (the states are rows in plan order)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semsynth import load_metric
from semsynth.datasets.shapes import Shapes, render
from semsynth.evaluators import bootstrap
from semsynth.evaluators.base import EvalBatch, EvalContext
from semsynth.evaluators.fid import frechet_distance, mean_cov, new_stats, update_stats
from semsynth.evaluators.miou import confusion_matrix, scores

N_LAYOUTS, SAMPLES = 8, 2
OPTIONS = {"fid": {"backbone": "shapes-segnet", "mode": "shapes-segnet-pool", "reference_split": "train",
                   "reference_limit": 64},
           "fid_all": {"backbone": "shapes-segnet", "mode": "shapes-segnet-pool", "reference_split": "train",
                       "reference_limit": 64, "samples": "all"},
           "lpips": {"backbone": "shapes-segnet"},
           "miou": {"segmenter": "shapes-segnet"},
           "miou_all": {"segmenter": "shapes-segnet", "samples": "all"}}


@pytest.fixture(scope="module")
def batch() -> EvalBatch:
    """8 shapes layouts with 2 true-process samples each, the first layout's second sample degraded to flat grey
    (so that layouts differ in quality)."""
    dataset = Shapes(split="val")
    layouts = [dataset.layout(i) for i in range(N_LAYOUTS)]
    images = torch.stack([torch.stack([render(layout.labels, layout.instances, seed) for seed in range(SAMPLES)])
                          for layout in layouts])
    images[0, 1] = 128
    images[3, 0] = images[3, 0] // 2
    return EvalBatch(images=images, labels=torch.stack([layout.labels for layout in layouts]),
                     instances=torch.stack([layout.instances for layout in layouts]))


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    context = EvalContext(dataset="shapes", split="val", cache_dir=tmp_path_factory.mktemp("reference"))
    loaded = {}
    for key, options in OPTIONS.items():
        loaded[key] = load_metric(key.split("_")[0], **options)
        loaded[key].prepare(context)
    return loaded


def streamed(metric, batch: EvalBatch, size: int):
    state = metric.new_state()
    for index, first in enumerate(range(0, N_LAYOUTS, size)):
        part = slice(first, first + size)
        metric.update(state, EvalBatch(images=batch.images[part], labels=batch.labels[part],
                                       instances=batch.instances[part], key=(size, index)))
    return state


def test_intervals_and_fid_infinity_do_not_depend_on_the_batch_size(metrics, batch):
    config = bootstrap.Bootstrap(resamples=50, seed=3)
    found = []
    for size in (1, 5):
        states = {key: streamed(metric, batch, size) for key, metric in metrics.items()}
        values = {key: metric.compute(states[key]) for key, metric in metrics.items()}
        found.append((bootstrap.intervals(metrics, states, values, N_LAYOUTS, config),
                      {key: metrics[key].infinity(states[key], N_LAYOUTS) for key in ("fid", "fid_all")}))
    assert found[0] == found[1]
    intervals, infinity = found[0]
    assert set(intervals) == set(OPTIONS)
    for key, entry in intervals.items():
        assert entry["low"] < entry["high"] and entry["resamples"] == 50 and entry["seed"] == 3
    assert intervals["fid"]["method"] == "normal" and intervals["miou"]["method"] == "percentile"
    assert infinity["fid"]["ns"][0] == 2 and infinity["fid"]["ns"][-1] == N_LAYOUTS


def test_resampled_values_equal_a_direct_computation_on_the_drawn_layouts(metrics, batch):
    counts = bootstrap.layout_counts(N_LAYOUTS, 4, seed=1)
    assert counts.shape == (4, N_LAYOUTS) and (counts.sum(1) == N_LAYOUTS).all()
    drawn = np.random.RandomState(1).randint(0, N_LAYOUTS, (4, N_LAYOUTS))
    assert (counts == np.stack([np.bincount(row, minlength=N_LAYOUTS) for row in drawn])).all()

    states = {key: streamed(metric, batch, 4) for key, metric in metrics.items()}
    for row, layouts in zip(counts, drawn):
        chosen = torch.as_tensor(layouts)
        # FID: the statistics of the drawn layouts' images (duplicates included) against the reference
        for key, k in (("fid", 1), ("fid_all", SAMPLES)):
            rows = chosen[:, None] * k + torch.arange(k)
            stats = new_stats(states[key]["features"].shape[1])
            update_stats(stats, states[key]["features"][rows.flatten()])
            direct = frechet_distance(*mean_cov(stats), *mean_cov(metrics[key].reference))
            assert metrics[key].resampled(states[key], row[None])[0] == pytest.approx(direct, rel=1e-6)
        # diversity: the mean over the drawn layouts of their per-layout means
        direct = float(np.mean(states["lpips"]["means"].numpy()[layouts]))
        assert metrics["lpips"].resampled(states["lpips"], row[None])[0] == pytest.approx(direct, rel=1e-12)
        # mIoU: the dataset-wide confusion matrix of the drawn layouts' images
        for key, images in (("miou", batch.images[:, :1]), ("miou_all", batch.images)):
            segmenter = metrics[key].segmenter
            matrix = sum(confusion_matrix(segmenter.predict(images[layout]), batch.labels[layout].expand(
                images.shape[1], -1, -1), segmenter.label_space.num_classes) for layout in layouts)
            assert metrics[key].resampled(states[key], row[None])[0] == pytest.approx(scores(matrix)["value"],
                                                                                     rel=1e-12)


def test_fid_infinity_is_the_intercept_of_fid_against_one_over_n(metrics, batch):
    metric = metrics["fid"]
    state = streamed(metric, batch, 6)
    result = metric.infinity(state, N_LAYOUTS, seed=5)
    rng = np.random.RandomState(5)
    orders = [rng.permutation(N_LAYOUTS) for _ in range(result["draws"])]
    fids = []
    for n in result["ns"]:
        draws = []
        for order in orders:
            stats = new_stats(state["features"].shape[1])
            update_stats(stats, state["features"][torch.as_tensor(order[:n])])
            draws.append(frechet_distance(*mean_cov(stats), *mean_cov(metric.reference)))
        fids.append(np.mean(draws))
    assert result["fids"] == pytest.approx(fids, rel=1e-6)
    slope, intercept = np.polyfit(1 / np.array(result["ns"], float), fids, 1)
    assert result["value"] == pytest.approx(intercept, rel=1e-5) and result["slope"] == pytest.approx(slope, rel=1e-5)
    assert result["fids"][-1] == pytest.approx(metric.compute(state)["value"], rel=1e-6)   # N = all is the FID


def test_interval_rules():
    values = np.arange(101, dtype=np.float64)
    assert bootstrap.percentile_interval(values, 0.9) == pytest.approx((5.0, 95.0), abs=1e-12)
    low, high = bootstrap.normal_interval(10.0, np.array([1.0, 3.0]), 0.95)
    assert (low + high) / 2 == pytest.approx(10.0) and high - 10.0 == pytest.approx(1.959964 * np.sqrt(2), rel=1e-6)
