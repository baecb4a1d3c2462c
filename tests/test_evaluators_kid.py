"""Seeded KID equals clean-fid's kernel_distance under the same seed; its state streams and merges exactly."""

import numpy as np
import pytest
import torch
from cleanfid.fid import kernel_distance as cleanfid_kernel_distance

from semsynth.evaluators.kid import KID, kernel_distance


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


@pytest.mark.parametrize("n_real, n_fake, subset_size", [(60, 40, 1000), (50, 70, 16)])
def test_kid_equals_cleanfid_with_the_same_seed(n_real, n_fake, subset_size):
    real, fake = _features(n_real, 32, 0), _features(n_fake, 32, 1, shift=0.2)
    np.random.seed(7)
    expected = cleanfid_kernel_distance(real, fake, num_subsets=20, max_subset_size=subset_size)
    ours = kernel_distance(real, fake, seed=7, subsets=20, subset_size=subset_size)
    assert ours == pytest.approx(expected, rel=1e-12)
    assert kernel_distance(real, fake, seed=7, subsets=20, subset_size=subset_size) == ours
    assert kernel_distance(real, fake, seed=8, subsets=20, subset_size=subset_size) != ours


def test_kid_state_is_independent_of_batching():
    metric = KID(seed=3, subsets=10)
    metric.reference_feats = torch.from_numpy(_features(30, 8, 2))
    fake = torch.from_numpy(_features(24, 8, 3, shift=0.5))
    whole = {"features": fake}
    parts = [{"features": chunk} for chunk in fake.split(5)]
    merged = parts[0]
    for part in parts[1:]:
        merged = metric.merge(merged, part)
    assert metric.compute(merged)["value"] == pytest.approx(metric.compute(whole)["value"], rel=1e-12)
    assert metric.compute(whole)["seed"] == 3
