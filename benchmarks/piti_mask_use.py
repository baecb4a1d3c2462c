"""How much a PITI ``shapes`` network uses its mask: eps MSE on the first 16 ``shapes`` val images with the true
colour-coded mask and with the null (all-ones) map, at t = 100, 300, 500 and 700. Equal columns mean the decoder
ignores the mask (a base with GLIDE's plain attention did, the shipped one with the token prior does not; the first
shipped upsampler, fed the true 8-bit 32x32 image, did: README, PITI section).

Run: ``python benchmarks/piti_mask_use.py [--stage upsample] [FILE ...]`` (default: the shipped file of the stage).
"""

from __future__ import annotations

import argparse

import torch


def mask_use(path: str | None, stage: str = "base", count: int = 16) -> list[tuple[int, float, float]]:
    """(t, eps MSE with the mask, eps MSE with the null map) for the ``stage`` network in ``path``."""
    from semsynth.datasets.shapes import Shapes
    from semsynth.diffusion.gaussian import GaussianProcess
    from semsynth.methods.piti import PITI
    from semsynth.methods.piti.sampling import downsample, quantise

    upsample = stage == "upsample"
    method = PITI("shapes", **({"upsample_weights": path} if upsample and path else {"checkpoint": path}))
    net = method.upsampler if upsample else method.base
    examples = [Shapes(split="val")[index] for index in range(count)]
    process = GaussianProcess(method.betas[stage], rescale_timesteps=True)
    images = torch.stack([example.image for example in examples]).float() / 127.5 - 1
    if upsample:   # a residual upsampler's diffusion runs on the image minus its offset
        low_res = quantise(downsample(images, method.preset.base_size))
        x0 = images - net.offset(low_res, tuple(images.shape[-2:]))
    else:
        low_res, x0 = None, downsample(images, method.preset.base_size)
    refs = method.refs([example.layout for example in examples])
    # the null map replaces the mask wherever the network reads it: tokens, and beside low_res with layout_input
    conditions = [(net.encode(ref), net.hook_input(low_res, ref)) for ref in (refs, torch.ones_like(refs))]
    generator, rows = torch.Generator().manual_seed(0), []
    for step in (100, 300, 500, 700):
        t = torch.full((count,), step)
        noise = torch.randn(x0.shape, generator=generator)
        x_t = process.add_noise(x0, t, noise)
        with torch.no_grad():
            errors = [((net.decode(x_t, process.model_time(t).float(), tokens, hook)[:, :3] - noise) ** 2).mean()
                      for tokens, hook in conditions]
        rows.append((step, float(errors[0]), float(errors[1])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=("base", "upsample"), default="base")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    for path in args.files or [None]:
        figures = " ".join(f"t{t} {masked:.5f}/{null:.5f}" for t, masked, null in mask_use(path, args.stage))
        print(f"{path or 'shipped ' + args.stage}: eps MSE mask/null {figures}")


if __name__ == "__main__":
    main()
