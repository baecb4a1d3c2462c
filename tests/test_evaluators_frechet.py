"""frechet_distance against an independent float64 reference, on full-rank and singular (n < d) covariances."""

import numpy as np
import pytest
from scipy import linalg

from semsynth.evaluators.fid import frechet_distance, mean_cov, new_stats, stats_distance, update_stats


def _reference(x1: np.ndarray, x2: np.ndarray) -> float:
    """FID from the feature sets: with S_i = A_i A_i^T, tr sqrt(S1 S2) is the nuclear norm of A1^T A2."""
    a1 = (x1 - x1.mean(0)).T / np.sqrt(len(x1) - 1)
    a2 = (x2 - x2.mean(0)).T / np.sqrt(len(x2) - 1)
    diff = x1.mean(0) - x2.mean(0)
    nuclear = np.linalg.svd(a1.T @ a2, compute_uv=False).sum()
    return float(diff @ diff + (a1 * a1).sum() + (a2 * a2).sum() - 2 * nuclear)


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mixing + shift


@pytest.mark.parametrize("n1, n2, d", [(400, 300, 24), (20, 30, 64), (5, 5, 128)])
def test_frechet_matches_float64_reference(n1, n2, d):
    x1, x2 = _features(n1, d, 0), _features(n2, d, 1, shift=0.3)
    mu1, sigma1, mu2, sigma2 = x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(_reference(x1, x2), rel=1e-6)


def test_frechet_matches_scipy_sqrtm_when_full_rank():
    x1, x2 = _features(500, 16, 2), _features(400, 16, 3, shift=-0.5)
    mu1, sigma1, mu2, sigma2 = x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False)
    root = linalg.sqrtm(sigma1 @ sigma2).real
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)


def test_identical_sets_give_zero_and_streaming_equals_one_shot():
    x1, x2 = _features(30, 40, 4), _features(25, 40, 5, shift=1.0)
    one_shot, streamed = new_stats(40), new_stats(40)
    import torch

    update_stats(one_shot, torch.from_numpy(x1))
    for chunk in np.array_split(x1, 7):
        update_stats(streamed, torch.from_numpy(chunk))
    other = new_stats(40)
    update_stats(other, torch.from_numpy(x2))
    assert stats_distance(streamed, other) == pytest.approx(stats_distance(one_shot, other), rel=1e-9)
    assert stats_distance(streamed, other) == pytest.approx(_reference(x1, x2), rel=1e-6)
    mu, sigma = mean_cov(one_shot)   # rank 29 < 40: only eigenvalue round-off remains
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6 * np.trace(sigma)
