import json

import torch
from torch import nn

from semsynth.datasets.shapes import Shapes
from semsynth.training import TrainConfig, Trainer


def _train(out_dir, steps, seed=0):
    torch.manual_seed(0)
    net = nn.Conv2d(3, 10, 3, padding=1)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    config = TrainConfig(out_dir=out_dir, steps=steps, batch_size=4, seed=seed, log_every=1, ckpt_every=2,
                         ema_decay=0.9, quiet=True)
    trainer = Trainer({"net": net}, {"net": optimizer}, config, ema=("net",))

    def step(examples, _step, trainer):
        images = torch.stack([e.image for e in examples]).float() / 127.5 - 1
        images = images + 0.1 * torch.randn(images.shape, generator=trainer.generator)   # step randomness
        labels = torch.stack([e.layout.labels for e in examples])
        loss = nn.functional.cross_entropy(trainer.modules["net"](images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    trainer.fit(step, Shapes(split="train", length=10))
    return trainer


def test_resumed_training_equals_uninterrupted(tmp_path):
    whole = _train(tmp_path / "whole", steps=6)
    _train(tmp_path / "parts", steps=4)               # stops after a checkpoint at step 4
    resumed = _train(tmp_path / "parts", steps=6)     # a new process would do exactly this
    assert resumed.step == 6
    for key, value in whole.weights("net").items():
        assert torch.equal(resumed.weights("net")[key], value), key
    for key, value in whole.weights("net", ema=False).items():
        assert torch.equal(resumed.weights("net", ema=False)[key], value), key
    losses = [json.loads(line)["loss"] for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    resumed_losses = [json.loads(line)["loss"] for line in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert resumed_losses == losses


def test_checkpoint_loads_with_weights_only(tmp_path):
    _train(tmp_path, steps=2)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 2 and set(state["modules"]) == {"net"} and set(state["ema"]) == {"net"}


def test_data_order_is_seeded_and_covers_each_epoch(tmp_path):
    trainer = _train(tmp_path, steps=1)
    first_epoch = [i for step in range(3) for i in trainer._indices(step, 12)]   # 3 steps x 4 = one epoch
    assert sorted(first_epoch) == list(range(12))
    assert first_epoch == [i for step in range(3) for i in trainer._indices(step, 12)]
