"""Training of the ``shapes`` network as a segmenter (``bench train --segmenter shapes-segnet``)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ...backbones.shapes_net import ShapesSegNet


def train(out: str | Path, steps: int = 1000, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
          device: str = "cpu", quiet: bool = False) -> Path:
    """Train the network on ``shapes`` train with the shared Trainer; writes ``out`` (safetensors, weights only)."""
    from ... import load_dataset
    from ...store import save_tensors_atomic
    from ...training import TrainConfig, Trainer

    torch.manual_seed(seed)
    net = ShapesSegNet()
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    out = Path(out)
    config = TrainConfig(out_dir=out.parent / f".{out.stem}-run", steps=steps, batch_size=batch_size, seed=seed,
                         log_every=50, ckpt_every=250, device=device, ema_decay=None, quiet=quiet)
    trainer = Trainer({"net": net}, {"net": optimizer}, config)
    for _ in range(trainer.step):
        schedule.step()

    def step(examples, _step, trainer: Trainer) -> dict[str, float]:
        images = torch.stack([e.image for e in examples]).to(trainer.device)
        labels = torch.stack([e.layout.labels for e in examples]).to(trainer.device)
        loss = F.cross_entropy(trainer.modules["net"](ShapesSegNet.normalise(images)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return {"loss": loss.item()}

    trainer.fit(step, load_dataset("shapes", split="train"))
    save_tensors_atomic(out, trainer.weights("net", ema=False))
    return out
