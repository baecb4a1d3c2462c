"""The texture-fidelity metric: its estimator recovers the true process's parameters, speckle raises its noise
score, and images drawn from the true process score like the real ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semsynth import load_metric
from semsynth.datasets.shapes import TEXTURES, Shapes, render
from semsynth.errors import UserError
from semsynth.evaluators.base import EvalBatch, EvalContext
from semsynth.evaluators.texture_fidelity import segment_statistics

N_LAYOUTS = 30


@pytest.fixture(scope="module")
def metric():
    metric = load_metric("texture", reference_limit=100)
    metric.prepare(EvalContext(dataset="shapes"))
    return metric


@pytest.fixture(scope="module")
def layouts():
    dataset = Shapes(split="val")
    return [dataset.layout(i) for i in range(N_LAYOUTS)], [dataset[i].image for i in range(N_LAYOUTS)]


def record(metric, layouts, images: torch.Tensor) -> dict:
    """The metric's record of ``images`` uint8 ``[B, K, 3, H, W]`` of the layouts."""
    state = metric.new_state()
    metric.update(state, EvalBatch(images=images, labels=torch.stack([layout.labels for layout in layouts]),
                                   instances=torch.stack([layout.instances for layout in layouts])))
    return metric.compute(state)


@pytest.mark.parametrize("label", [1, 2, 4, 5, 7, 9])
@pytest.mark.parametrize("seed", [0, 1])
def test_estimator_recovers_the_drawn_colour_frequency_and_angle(label, seed):
    # one segment covering the image: render draws colour, frequency, angle and phase in this order from its rng
    labels = torch.full((64, 64), label, dtype=torch.int64)
    image = render(labels, labels.clone(), seed).numpy().astype(np.float64)
    texture, rng = TEXTURES[label], np.random.default_rng([seed, 7])
    colour = np.clip(np.array(texture.colour) + rng.normal(0, 14, size=3), 0, 255)
    frequency = texture.frequency * rng.uniform(0.85, 1.15)
    angle = (texture.angle + rng.normal(0, 0.15)) % np.pi

    found = segment_statistics(image, np.ones((64, 64), dtype=bool))
    mean_shade = 1 - (1 - texture.stripe_gain) / 2          # the stripe's mean over whole cycles
    np.testing.assert_allclose(found["colour"], colour * mean_shade, atol=0.03 * 255)
    assert found["frequency"] == pytest.approx(frequency, abs=0.15)
    turn = abs(found["angle"] - angle) % np.pi
    assert min(turn, np.pi - turn) < 0.05
    assert found["noise"] == pytest.approx(5, abs=1)          # the process's pixel noise (sigma 5)


def test_speckle_raises_the_noise_score(metric, layouts):
    layouts, real = layouts
    images = torch.stack(real)[:, None]
    speckled = (images.double() + 12 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0)))
    clean, noisy = record(metric, layouts, images), record(metric, layouts, speckled.clamp(0, 255).round().byte())
    assert clean["in_range"]["noise"] > 0.95 and noisy["in_range"]["noise"] < 0.05
    assert noisy["distance"]["noise"] > 10 * clean["distance"]["noise"]
    assert noisy["noisy_images"] == noisy["speckled_images"] == 1.0
    assert clean["noisy_images"] < 0.25 and clean["speckled_images"] == 0.0
    assert noisy["value"] < 0.05 < 0.9 < clean["value"]


def test_the_true_process_scores_like_the_real_images(metric, layouts):
    layouts, real = layouts
    oracle = torch.stack([torch.stack([render(layout.labels, layout.instances, 1000 + k) for k in range(2)])
                          for layout in layouts])
    real_record, oracle_record = record(metric, layouts, torch.stack(real)[:, None]), record(metric, layouts, oracle)
    assert oracle_record["value"] == pytest.approx(real_record["value"], abs=0.08)
    for stat, share in oracle_record["in_range"].items():
        assert share > 0.9, stat


def test_colour_spread_is_one_for_the_true_process_and_zero_for_a_generator_that_ignores_its_noise(metric, layouts):
    layouts, real = layouts
    oracle = torch.stack([torch.stack([render(layout.labels, layout.instances, 100 * i + k) for k in range(4)])
                          for i, layout in enumerate(layouts)])   # a seed per sample, as runs draw them
    varied, frozen = record(metric, layouts, oracle), record(metric, layouts, oracle[:, :1].repeat(1, 4, 1, 1, 1))
    assert varied["colour_spread"] == pytest.approx(1, abs=0.15)
    assert all(0.7 < spread < 1.35 for spread in varied["colour_spread_per_class"].values())
    assert frozen["colour_spread"] == 0
    # a colour jitter a third of the process's: the spread follows it
    jitter = torch.randn(len(layouts), 4, 3, 1, 1, generator=torch.Generator().manual_seed(0)) * 14 / 3
    jittered = (oracle[:, :1].double() + jitter).clamp(0, 255).round().byte()
    assert 0.2 < record(metric, layouts, jittered)["colour_spread"] < 0.5
    assert record(metric, layouts, torch.stack(real)[:, None])["colour_spread"] is None   # one sample per layout


def test_texture_is_a_user_error_outside_shapes():
    with pytest.raises(UserError, match="shapes"):
        load_metric("texture").prepare(EvalContext(dataset="ade20k"))
