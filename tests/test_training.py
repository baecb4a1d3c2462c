import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from semsynth.datasets.shapes import Shapes
from semsynth.errors import UserError
from semsynth.training import TrainConfig, Trainer, recompute_batchnorm


def _train(out_dir, steps, seed=0, resume=True):
    torch.manual_seed(0)
    net = nn.Conv2d(3, 10, 3, padding=1)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    config = TrainConfig(out_dir=out_dir, steps=steps, batch_size=4, seed=seed, log_every=1, ckpt_every=2,
                         ema_decay=0.9, quiet=True, resume=resume)
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


def test_a_checkpoint_is_refused_not_deleted_when_resume_is_off(tmp_path):
    _train(tmp_path, steps=2)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(UserError, match="already holds a checkpoint"):
        _train(tmp_path, steps=4, resume=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


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


# -- AMP, clipping, schedules ------------------------------------------------------------------------------------

def _regression(out_dir, steps, amp=None, grad_clip=None, schedule=False, lr=1e-2, lr_decay_steps=0):
    """A tiny model trained through ``Trainer.optimize``; returns the trainer and the gradient norms it saw."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    schedulers = {"net": torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)} if schedule else None
    config = TrainConfig(out_dir=out_dir, steps=steps, batch_size=4, log_every=1, ckpt_every=2, ema_decay=None,
                         quiet=True, amp=amp, grad_clip=grad_clip, lr_decay_steps=lr_decay_steps)
    trainer = Trainer({"net": net}, {"net": optimizer}, config, schedulers=schedulers)
    norms = []

    def step(examples, _step, trainer):
        x = torch.stack([e.image.float().mean((1, 2)).repeat(3)[:8] / 50 for e in examples])
        x = x + torch.randn(x.shape, generator=trainer.generator)
        loss = (trainer.modules["net"](x) - 100).pow(2).mean()
        trainer.optimize("net", loss)
        norms.append(float(torch.cat([p.grad.flatten() for p in net.parameters()]).norm()))
        return {"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]}

    trainer.fit(step, Shapes(split="train", length=10))
    return trainer, norms


def test_bf16_autocast_runs_and_resumes(tmp_path):
    whole, _ = _regression(tmp_path / "whole", steps=4, amp="bf16")
    _regression(tmp_path / "parts", steps=2, amp="bf16")
    resumed, _ = _regression(tmp_path / "parts", steps=4, amp="bf16")
    for key, value in whole.weights("net").items():
        assert torch.equal(resumed.weights("net")[key], value), key
    plain, _ = _regression(tmp_path / "fp32", steps=4)
    assert not all(torch.equal(plain.weights("net")[k], v) for k, v in whole.weights("net").items())  # bf16 acted
    with pytest.raises(UserError, match="amp"):
        _regression(tmp_path / "bad", steps=1, amp="fp8")


def test_fp16_scaler_state_is_checkpointed(tmp_path):
    trainer, _ = _regression(tmp_path, steps=2, amp="fp16")
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["scaler"]["scale"] == trainer.scaler.get_scale() and "_growth_tracker" in state["scaler"]


def test_gradient_clipping_bounds_the_norm(tmp_path):
    _, free = _regression(tmp_path / "free", steps=3, lr=1e-4)
    _, clipped = _regression(tmp_path / "clipped", steps=3, lr=1e-4, grad_clip=0.5)
    assert min(free) > 5                                    # the bound is active
    assert max(clipped) == pytest.approx(0.5, rel=1e-5)


def test_lr_schedule_resumes_at_the_right_lr(tmp_path):
    _regression(tmp_path / "whole", steps=6, schedule=True)
    _regression(tmp_path / "parts", steps=3, schedule=True)   # a new process resumes from its step-3 checkpoint
    resumed, _ = _regression(tmp_path / "parts", steps=6, schedule=True)
    assert resumed.schedulers["net"].get_last_lr() == [1e-2 * 0.5 ** 3]
    whole = [json.loads(line)["lr"] for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    parts = [json.loads(line)["lr"] for line in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert whole == [1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3] and parts == whole


def test_lr_tail_decay_added_on_resume_equals_having_it_from_the_start(tmp_path):
    whole, _ = _regression(tmp_path / "whole", steps=6, lr_decay_steps=4)
    _regression(tmp_path / "parts", steps=2)                               # a constant-LR run, checkpoint at 2
    resumed, _ = _regression(tmp_path / "parts", steps=6, lr_decay_steps=4)   # its tail, decayed
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([1e-2, 1e-2, 1e-2, 7.5e-3, 5e-3, 2.5e-3])
    parts = [json.loads(line)["lr"] for line in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert parts == lrs
    for key, value in whole.weights("net").items():
        assert torch.equal(resumed.weights("net")[key], value), key


# -- GAN step ----------------------------------------------------------------------------------------------------

def _gan(tmp_path, r1_weight=0.0, r1_every=1, step=0):
    torch.manual_seed(0)
    g = nn.Linear(4, 2 * 4 * 4)
    d = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Softplus(), nn.Flatten(), nn.Linear(16, 1))
    optimizers = {"G": torch.optim.SGD(g.parameters(), lr=0.1), "D": torch.optim.SGD(d.parameters(), lr=0.1)}
    config = TrainConfig(out_dir=tmp_path, steps=1, ema_decay=None, quiet=True)
    trainer = Trainer({"G": g, "D": d}, optimizers, config)
    trainer.step = step
    real, z = torch.randn(3, 2, 4, 4), torch.randn(3, 4)
    seen = {}

    def generator_losses():
        fake = trainer.modules["G"](z).view(3, 2, 4, 4)
        return {"G": nn.functional.softplus(-trainer.modules["D"](fake)).mean()}

    def discriminator_losses(real):
        seen["real"] = real
        seen["D_before"] = {k: v.clone() for k, v in d.state_dict().items()}
        seen["D_grad_after_G"] = [p.grad for p in d.parameters()]
        fake = seen["fake"] = trainer.modules["G"](z).view(3, 2, 4, 4).detach()
        logits = trainer.modules["D"](real)
        loss = nn.functional.softplus(trainer.modules["D"](fake)).mean() + nn.functional.softplus(-logits).mean()
        return {"D": loss}, [logits]

    losses = trainer.gan_step(generator_losses, discriminator_losses, real, r1_weight=r1_weight, r1_every=r1_every)
    return trainer, losses, seen, real


def test_gan_step_freezes_d_for_the_g_update(tmp_path):
    trainer, losses, seen, _ = _gan(tmp_path)
    assert set(losses) == {"G", "D"}
    assert all(grad is None for grad in seen["D_grad_after_G"])      # no D gradient from the G update
    assert all(p.requires_grad for p in trainer.unwrap("D").parameters())
    assert all(p.grad is not None for p in trainer.unwrap("G").parameters())
    assert not seen["real"].requires_grad                              # no R1 asked: real untouched


def test_r1_penalty_matches_a_hand_computation(tmp_path):
    trainer, losses, seen, real = _gan(tmp_path, r1_weight=10.0, r1_every=4)   # step 0: the lazy R1 is due
    d = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Softplus(), nn.Flatten(), nn.Linear(16, 1))
    d.load_state_dict(seen["D_before"])
    x = real.clone().requires_grad_(True)
    logits = d(x)
    (gradient,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    penalty = 10.0 / 2 * gradient.pow(2).sum((1, 2, 3)).mean() * 4
    assert seen["real"].requires_grad
    assert losses["R1"] == pytest.approx(float(penalty.detach()), rel=1e-5) and losses["R1"] > 1e-3
    hand = nn.functional.softplus(d(seen["fake"])).mean() + nn.functional.softplus(-logits).mean() + penalty
    hand.backward()                                                    # the D update used exactly these gradients
    for mine, theirs in zip(trainer.unwrap("D").parameters(), d.parameters()):
        assert torch.allclose(mine.grad, theirs.grad, rtol=1e-5, atol=1e-7)
    _, skipped, _, _ = _gan(tmp_path / "later", r1_weight=10.0, r1_every=4, step=1)   # lazy: only every 4th step
    assert "R1" not in skipped


# -- distributed: one writer ---------------------------------------------------------------------------------------

AUDITED_BENCH = """
import atexit, json, os, sys
from pathlib import Path

run, record = str(Path(sys.argv[1]).resolve()), Path(sys.argv[2]) / f"writes-{os.environ['RANK']}.json"
writes = []

def audit(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)):
        mode, flags = args[1] or "", args[2] or 0
        if not (set(mode) & set("wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
            return
    elif event not in ("os.rename", "os.mkdir", "os.remove"):
        return
    target = args[1] if event == "os.rename" else args[0]   # a rename writes its destination
    path = str(Path(os.fsdecode(target)).resolve()) if isinstance(target, (str, bytes, os.PathLike)) else ""
    if path.startswith(run):
        writes.append([event, path[len(run):]])

sys.addaudithook(audit)
atexit.register(lambda: record.write_text(json.dumps(writes)))
from semsynth.cli import main
raise SystemExit(main(["train", *sys.argv[3:], "--out", run]))
"""


def test_torchrun_two_rank_inade_training_writes_from_rank_0_only(tmp_path):
    """INADE under torchrun (gloo, 2 CPU ranks): every file of the run folder comes from rank 0 (audited with a
    Python audit hook on each rank), and the run logs, checkpoints and exports once."""
    script, run = tmp_path / "audited_bench.py", tmp_path / "run"
    script.write_text(AUDITED_BENCH)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(script), str(run), str(tmp_path), "--method", "inade", "--dataset", "shapes", "--steps", "2",
               "--batch-size", "1", "--set", "ngf=2", "--set", "ndf=4", "--set", "perceptual=none", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (json.loads((tmp_path / f"writes-{rank}.json").read_text()) for rank in (0, 1))
    assert rank1 == []
    written = {Path(path).name for event, path in rank0 if event in ("open", "os.rename")}
    assert {"options.json", "log.jsonl", "checkpoint.pt"} <= written       # the audit does see the writes
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [2]
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 2
    assert (run / "inade_shapes.safetensors").is_file()


def test_inade_trains_with_r1_and_bf16(tmp_path):
    """The real GAN through the helper: lazy R1 on the multi-scale discriminator under bf16 autocast."""
    from semsynth.methods.inade.train import train

    train("shapes", tmp_path, steps=1, batch_size=2, quiet=True, ckpt_every=1, ngf=2, ndf=4, perceptual="none",
          r1_weight=10.0, r1_every=1, amp="bf16", grad_clip=1.0)
    entry = json.loads((tmp_path / "log.jsonl").read_text())
    assert {"G_gan", "G_feat", "KLD", "D", "R1"} <= set(entry) and entry["R1"] > 0
    assert all(torch.isfinite(torch.tensor(value)) for value in entry.values())


def test_recompute_batchnorm_averages_the_batches_and_changes_nothing_else():
    """Running statistics become the plain average over the batches; weights, spectral-norm vectors, momentum and
    the train/eval mode stay as they were."""
    torch.manual_seed(0)
    conv = nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 4, 3, padding=1))
    net = nn.Sequential(conv, nn.BatchNorm2d(4)).train()
    before = {key: value.clone() for key, value in net.state_dict().items() if "running" not in key
              and "num_batches" not in key}
    batches = [(torch.randn(5, 3, 8, 8),) for _ in range(3)]
    with torch.no_grad():
        net.eval()
        features = [conv(x) for (x,) in batches]
        net.train()
    recompute_batchnorm(net, batches)
    norm = net[1]
    expected_mean = torch.stack([f.mean(dim=(0, 2, 3)) for f in features]).mean(0)
    expected_var = torch.stack([f.transpose(0, 1).flatten(1).var(dim=1) for f in features]).mean(0)
    assert torch.allclose(norm.running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(norm.running_var, expected_var, atol=1e-5)
    assert int(norm.num_batches_tracked) == 3 and norm.momentum == 0.1 and net.training and norm.training
    after = net.state_dict()
    assert all(torch.equal(value, after[key]) for key, value in before.items())
