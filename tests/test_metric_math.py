import numpy as np
import pytest
import torch

from semsynth.evaluators.base import EvalBatch
from semsynth.evaluators.lpips_diversity import all_pairs_mean
from semsynth.evaluators.fid import mean_cov, new_stats, update_stats
from semsynth.evaluators.miou import confusion_matrix, scores


def test_confusion_matrix_counts_and_ignores():
    target = torch.tensor([[0, 1, 1, 255]])
    pred = torch.tensor([[0, 1, 0, 2]])
    matrix = confusion_matrix(pred, target, num_classes=3, ignore_index=255)
    assert matrix.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3, 255)


def test_miou_excludes_classes_absent_everywhere():
    matrix = torch.tensor([[2, 0, 0], [1, 1, 0], [0, 0, 0]])
    result = scores(matrix)
    # class 0: 2 / (2 + 1) ; class 1: 1 / 2 ; class 2 absent from both -> not averaged
    assert result["value"] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert result["pixel_accuracy"] == pytest.approx(75.0)
    assert result["per_class"][2] is None and result["n_classes_scored"] == 2


def test_dataset_wide_confusion_differs_from_per_image_average():
    a = confusion_matrix(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1]), 2)
    b = confusion_matrix(torch.tensor([1]), torch.tensor([1]), 2)
    merged = scores(a + b)["value"]
    per_image = (scores(a)["value"] + scores(b)["value"]) / 2
    assert merged != pytest.approx(per_image)
    assert merged == pytest.approx(100 * (3 / 4 + 1 / 2) / 2)


def test_streamed_stats_equal_numpy_and_merge():
    features = torch.randn(37, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3 + 1
    whole = new_stats(5)
    update_stats(whole, features)
    mu, cov = mean_cov(whole)
    np.testing.assert_allclose(mu, features.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(features.numpy(), rowvar=False), rtol=1e-10, atol=1e-12)
    a, b = new_stats(5), new_stats(5)
    update_stats(a, features[:10])
    update_stats(b, features[10:])
    merged = {k: a[k] + b[k] for k in a}
    for key in whole:
        torch.testing.assert_close(merged[key], whole[key], rtol=1e-12, atol=1e-12)


class _L1:
    name = "l1"

    def distance(self, a, b):
        return (a.double() - b.double()).abs().mean((1, 2, 3))


def test_all_pairs_mean_averages_every_unordered_pair():
    samples = torch.zeros(1, 3, 3, 2, 2, dtype=torch.uint8)
    samples[0, 1] = 10
    samples[0, 2] = 40
    # pairs (0,1)=10, (0,2)=40, (1,2)=30
    assert all_pairs_mean(_L1(), samples).tolist() == [pytest.approx(80 / 3)]
    batch = EvalBatch(images=samples, labels=torch.zeros(1, 2, 2, dtype=torch.long))
    assert torch.equal(batch.first_samples(), samples[:, 0])
