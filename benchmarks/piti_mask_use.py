"""How much a PITI base network uses its mask: eps MSE on the first 16 ``shapes`` val images with the true
colour-coded mask and with the null (all-ones) map, at t = 100, 300, 500 and 700. Equal columns mean the decoder
ignores the mask (a base with GLIDE's plain attention did, the shipped one with the token prior does not: README,
PITI section).

Run: ``python benchmarks/piti_mask_use.py [BASE_FILE ...]`` (default: the shipped ``piti-shapes-base``).
"""

from __future__ import annotations

import sys

import torch


def mask_use(path: str | None, count: int = 16) -> list[tuple[int, float, float]]:
    """(t, eps MSE with the mask, eps MSE with the null map) for the base network in ``path``."""
    from semsynth.datasets.shapes import Shapes
    from semsynth.diffusion.gaussian import GaussianProcess
    from semsynth.methods.piti import PITI
    from semsynth.methods.piti.train import downsample

    method = PITI("shapes", checkpoint=path)
    examples = [Shapes(split="val")[index] for index in range(count)]
    process = GaussianProcess(method.betas["base"], rescale_timesteps=True)
    x0 = downsample(torch.stack([example.image for example in examples]).float() / 127.5 - 1,
                    method.preset.base_size)
    refs = method.refs([example.layout for example in examples])
    tokens, null = method.base.encode(refs), method.base.encode(torch.ones_like(refs))
    generator, rows = torch.Generator().manual_seed(0), []
    for step in (100, 300, 500, 700):
        t = torch.full((count,), step)
        noise = torch.randn(x0.shape, generator=generator)
        x_t = process.add_noise(x0, t, noise)
        with torch.no_grad():
            errors = [((method.base.decode(x_t, process.model_time(t).float(), cond)[:, :3] - noise) ** 2).mean()
                      for cond in (tokens, null.expand(count, -1, -1))]
        rows.append((step, float(errors[0]), float(errors[1])))
    return rows


def main() -> None:
    for path in sys.argv[1:] or [None]:
        figures = " ".join(f"t{t} {masked:.4f}/{null:.4f}" for t, masked, null in mask_use(path))
        print(f"{path or 'piti-shapes-base'}: eps MSE mask/null {figures}")


if __name__ == "__main__":
    main()
