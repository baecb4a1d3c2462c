"""Why the `shapes` PITI base ignored its mask with GLIDE's plain attention, and what the token prior changes: how fast
a fresh base decoder learns to use a layout through each condition path. The same network (the shapes base config,
seed 0, batch 8, lr 2e-4 unless ``--lr``, condition dropout 0.2, t uniform over [``--tmin``, 1000)) trains from
scratch with the layout given

* ``encoder``: as PITI gives it, through the mask encoder's tokens (cross-attention k/v and the global embedding);
* ``ideal-tokens``: through the same token path, but with hand-made tokens that hold the answer: each of the 64
  tokens carries the class fractions of its 8x8 cell and a sinusoidal code of the cell's position, the global
  token the class fractions of the image (no encoder to learn);
* ``ideal-tokens+xy``: as ``ideal-tokens``, and the decoder's input also gets x, y (and x*y) coordinate channels,
  so that its queries know where they are (through the upsampler's low-res input hook);
* ``ideal-tokens+fourier``: the same with 16 sinusoidal channels of x and y (frequencies 1-4, the code the ideal
  tokens carry) instead: queries and keys can then match positions with a bilinear form;
* ``spatial``: the colour-coded mask concatenated to the decoder's input (the same hook): the layout arrives
  pixel-aligned, as SDM's SPADE gives it. Not PITI; the reference for what the data allows.

``--locality`` sets the decoder's token prior (``nn.attention.token_prior``): ``none`` is GLIDE/PITI's plain
attention, where the figures in the README's PITI section before the prior came from; by default the shapes
preset's value.

``--from-shipped`` starts the ``encoder`` path from the shipped base (prior + two-stage finetune) instead of random
weights, and goes on training it as stage 2 does (everything trains): does a longer finetune open the gap?

Every ``--every`` steps it prints the eps MSE on 16 val images at t = 300, 600, 900 with the true mask / the null
map / another image's mask. A decoder that uses the layout scores lower with the true mask.

Run: ``OMP_NUM_THREADS=1 python benchmarks/piti_condition_paths.py [--paths encoder,spatial] [--steps 400]
[--locality none|2] [--from-shipped]``.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

PATHS = ("encoder", "ideal-tokens", "ideal-tokens+xy", "ideal-tokens+fourier", "spatial")


def ideal_tokens(refs: torch.Tensor, num_classes: int, width: int) -> torch.Tensor:
    """Tokens ``[B, width, 65]`` that hold the layout of colour-coded masks ``refs`` (64x64): per 8x8 cell its class
    fractions (x3) and 16 sinusoidal position features, zero-padded to ``width``; last, the image's class fractions."""
    from semsynth.methods.piti.palette import colormap

    table = colormap(num_classes).float() / 127.5 - 1
    onehot = ((refs[:, None] - table[None, :, :, None, None]).abs().sum(2) < 1e-3).float()
    cells = F.avg_pool2d(onehot, refs.shape[-1] // 8).flatten(2)
    position = fourier_code(8).flatten(1)[None].expand(len(refs), -1, -1)
    tokens = torch.cat([3 * cells, position], 1)
    tokens = F.pad(tokens, (0, 0, 0, width - len(tokens[0])))
    pooled = F.pad(3 * onehot.mean((2, 3)), (0, width - num_classes))
    return torch.cat([tokens, pooled[..., None]], -1)


def fourier_code(size: int) -> torch.Tensor:
    """``[16, size, size]``: sin and cos of k * pi * x / size and k * pi * y / size for k = 1..4 (x, y the cell or
    pixel index), the position code of the ideal tokens and of the ``+fourier`` decoder input."""
    ys, xs = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    return torch.stack([f(k * math.pi * c / size) for k in (1, 2, 3, 4) for c in (xs, ys)
                        for f in (torch.sin, torch.cos)])


def coordinate_channels(path: str, size: int) -> torch.Tensor | None:
    """The decoder's extra input channels ``[1, C, size, size]`` of the ``+xy`` and ``+fourier`` paths (else None)."""
    if path.endswith("+xy"):
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        return torch.stack([xs, ys, xs * ys])[None]
    return fourier_code(size)[None] if path.endswith("+fourier") else None


def learn(path: str, steps: int, every: int, lr: float = 2e-4, from_shipped: bool = False, tmin: int = 0,
          locality: str = "preset") -> None:
    from semsynth import load_dataset
    from semsynth.diffusion.gaussian import GaussianProcess
    from semsynth.diffusion.schedules import named_betas
    from semsynth.methods.piti.model import PITIModel
    from semsynth.methods.piti.palette import colour_mask, to_ref
    from semsynth.methods.piti.presets import preset_for
    from semsynth.methods.piti.train import batch_inputs, diffusion_losses, downsample
    from semsynth.nn.unet import UNet

    preset = preset_for("shapes")
    config, size = preset.configs["base"], preset.base_size
    if locality != "preset":   # the decoder's token prior: "none" is GLIDE/PITI's plain attention
        config = {**config, "decoder": {**config["decoder"],
                                        "token_locality": None if locality == "none" else float(locality)}}
    torch.manual_seed(0)
    coordinates = coordinate_channels(path, size)
    extra_channels = 3 if path == "spatial" else 0 if coordinates is None else len(coordinates[0])
    net = PITIModel(config["decoder"], config["encoder"], upsample=extra_channels == 3)   # 3: the upsampler's hook
    width = net.encoder.final_ln.normalized_shape[0]
    if extra_channels not in (0, 3):   # a decoder with a wider input hook (the encoder's weights stay)
        net.decoder = UNet(**config["decoder"], low_res_channels=extra_channels, global_channels=width,
                           encoder_channels=width)
    if from_shipped:
        from semsynth import checkpoints, weights

        file = weights.path(preset.weights)
        checkpoints.load_into(net, checkpoints.load(file)[0], file)

    def forward(x: torch.Tensor, t: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        tokens = net.encode(refs) if path == "encoder" else ideal_tokens(refs, preset.num_classes, width)
        low_res = refs if path == "spatial" else None if coordinates is None else coordinates.expand(len(x), -1, -1, -1)
        return net.decode(x, t, tokens, low_res)

    process = GaussianProcess(named_betas(preset.schedules["base"], 1000), rescale_timesteps=True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    train, val = load_dataset("shapes", split="train"), load_dataset("shapes", split="val")
    probe = [val[index] for index in range(16)]
    x0 = downsample(torch.stack([example.image for example in probe]).float() / 127.5 - 1, size)
    refs = torch.stack([to_ref(colour_mask(example.layout.labels, preset.num_classes)) for example in probe])
    conditions = {"mask": refs, "null": torch.ones_like(refs), "other": refs.roll(1, 0)}
    generator, start = torch.Generator().manual_seed(0), time.time()

    def report(step: int, model: Callable) -> None:
        probe_noise = torch.Generator().manual_seed(1)
        cells = []
        with torch.no_grad():
            for t_value in (300, 600, 900):
                t = torch.full((len(x0),), t_value)
                noise = torch.randn(x0.shape, generator=probe_noise)
                x_t = process.add_noise(x0, t, noise)
                errors = [float(((model(x_t, process.model_time(t).float(), cond)[:, :3] - noise) ** 2).mean())
                          for cond in conditions.values()]
                cells.append(f"t{t_value} " + "/".join(f"{error:.4f}" for error in errors))
        print(f"{path:16s} step {step:5d}  eps MSE mask/null/other  {'  '.join(cells)}  ({time.time() - start:.0f} s)",
              flush=True)

    for step in range(steps + 1):
        if step % every == 0:
            report(step, forward)
        if step == steps:
            break
        examples = [train[step * 8 + index] for index in range(8)]
        target, _, batch_refs = batch_inputs(examples, preset, size, generator, 0.2, torch.device("cpu"))
        losses, _ = diffusion_losses(lambda x, t: forward(x, t, batch_refs), process, target, generator, tmin)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, from {', '.join(PATHS)}")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--lr", type=float, default=2e-4, help="AdamW learning rate (every parameter)")
    parser.add_argument("--tmin", type=int, default=0,
                        help="train on t in [tmin, 1000) only (where the layout matters most)")
    parser.add_argument("--locality", default="preset",
                        help="the decoder's token_locality: a number, 'none' (GLIDE/PITI's plain attention, as "
                             "every figure of this docstring before the token prior), or 'preset' (the shapes "
                             "preset's)")
    parser.add_argument("--from-shipped", action="store_true",
                        help="start the encoder path from the shipped shapes base (not random weights)")
    args = parser.parse_args()
    if args.from_shipped and args.paths != "encoder":
        raise SystemExit("--from-shipped applies to the encoder path only: add --paths encoder")
    print(f"torch threads {torch.get_num_threads()}")
    for path in args.paths.split(","):
        if path not in PATHS:
            raise SystemExit(f"unknown path '{path}'; use {', '.join(PATHS)}")
        learn(path, args.steps, args.every, lr=args.lr, from_shipped=args.from_shipped, tmin=args.tmin,
              locality=args.locality)


if __name__ == "__main__":
    main()
