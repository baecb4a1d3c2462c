"""LPIPS-AlexNet from our weights store equals the lpips package loading the same trunk through torchvision;
the diversity metric's two pairings, streaming and batch-size independence."""

import itertools
import shutil

import pytest
import torch

from tests import standins
from semsynth.backbones.base import per_image
from semsynth.evaluators.base import EvalBatch
from semsynth.evaluators.lpips_diversity import LPIPSDiversity, random_group_pairs
from semsynth.backbones.lpips_alex import LPIPSAlex


@pytest.fixture(scope="module")
def trunk(tmp_path_factory):
    return standins.alexnet(tmp_path_factory.mktemp("weights") / "alexnet-owt-7be5be79.pth", seed=1)


@pytest.fixture(scope="module")
def ours(trunk):
    return LPIPSAlex(checkpoint=trunk)


def _images(n: int, seed: int, size: int = 64) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_lpips_equals_the_package_with_the_same_trunk(ours, trunk, tmp_path, monkeypatch):
    import lpips

    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(trunk, hub / trunk.name)       # the package's own torchvision download path, pre-filled
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval()
    a, b = _images(3, 0), _images(3, 1)
    with torch.no_grad():
        expected = reference(a.float() / 127.5 - 1, b.float() / 127.5 - 1).reshape(-1).double()
    torch.testing.assert_close(ours.distance(a, b), expected, rtol=1e-6, atol=1e-7)


def test_lpips_is_independent_of_batch_size(ours):
    a, b = _images(4, 2), _images(4, 3)
    single = torch.cat([ours.distance(a[i:i + 1], b[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(ours.distance(a, b), single, rtol=1e-6, atol=1e-7)


def _metric(ours, **options) -> LPIPSDiversity:
    metric = LPIPSDiversity(**options)
    metric.distance = ours
    return metric


def _batch(samples: torch.Tensor) -> EvalBatch:
    return EvalBatch(images=samples, labels=torch.zeros(samples.shape[0], 8, 8, dtype=torch.long))


def test_random_groups_scores_random_pairs_of_groups(ours):
    samples = torch.stack([_images(4, 10 + layout, size=48) for layout in range(3)])   # [3 layouts, K=4, ...]
    metric = _metric(ours, pairing="random-groups", pairs=5, seed=4)
    state = metric.new_state()
    metric.update(state, _batch(samples))
    record = metric.compute(state)
    pairs = random_group_pairs(4, 5, 4)
    assert record["pairs"] == [list(p) for p in pairs] and record["seed"] == 4
    assert all(i != j for i, j in pairs)
    # INADE's definition: each pair of groups scores the mean distance over layouts; the value averages the scores
    scores = [per_image(ours.distance, samples[:, i], samples[:, j]).mean() for i, j in pairs]   # one pair at a time
    assert record["value"] == pytest.approx(torch.stack(scores).mean().item(), rel=1e-9)


def test_diversity_streams_over_layouts_in_any_batch_size(ours):
    samples = torch.stack([_images(3, 20 + layout, size=48) for layout in range(4)])
    for pairing in ("all-pairs", "random-groups"):
        metric = _metric(ours, pairing=pairing, pairs=4, seed=0)
        whole, streamed = metric.new_state(), metric.new_state()
        metric.update(whole, _batch(samples))
        for start in range(0, 4, 3):
            metric.update(streamed, _batch(samples[start:start + 3]))
        assert metric.compute(streamed)["value"] == pytest.approx(metric.compute(whole)["value"], rel=1e-6)
    all_pairs = _metric(ours)
    state = all_pairs.new_state()
    all_pairs.update(state, _batch(samples))
    expected = torch.stack([per_image(ours.distance, samples[:, i], samples[:, j]) for i, j in
                            itertools.combinations(range(3), 2)]).mean()
    assert all_pairs.compute(state) == {"value": pytest.approx(expected.item(), rel=1e-9), "backbone": "lpips-alex",
                                        "pairing": "all-pairs", "n_layouts": 4}
