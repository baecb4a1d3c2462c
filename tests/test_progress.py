"""Per-step progress of diffusion sampling: each sampler call restarts a step bar that advances once per model
call; nothing is written when stderr is not a terminal or with quiet."""

from __future__ import annotations

import io

import pytest
import torch

from semsynth.diffusion.gaussian import GaussianProcess
from semsynth.diffusion.samplers import ddim, ddpm, dpm_solver_pp
from semsynth.diffusion.schedules import linear_betas
from semsynth.progress import step_progress


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def denoiser(x: torch.Tensor, t: torch.Tensor, cond) -> torch.Tensor:
    return torch.zeros_like(x)


@pytest.mark.parametrize("sampler, calls", [("ddpm", 12), ("ddim", 12), ("dpm-solver++", 5)])
def test_every_sampler_step_advances_the_bar(sampler, calls):
    process = GaussianProcess(linear_betas(1000 if sampler == "dpm-solver++" else 12), variance="fixed_small")
    x_T = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)
    noise = lambda: torch.randn(2, 3, 4, 4, generator=generator)  # noqa: E731
    stream = Terminal()
    with step_progress("sampling", file=stream):
        for _ in range(2):                                         # two batches: the bar starts again at 0
            if sampler == "ddpm":
                ddpm(process, denoiser, x_T, None, noise)
            elif sampler == "ddim":
                ddim(process, denoiser, x_T, None, noise)
            else:
                dpm_solver_pp(process, denoiser, x_T, None, steps=5)
    text = stream.getvalue()
    assert f"{calls}/{calls}" in text and f"0/{calls}" in text and text.count(f"{calls}/{calls}") >= 1

    short = GaussianProcess(linear_betas(12), variance="fixed_small")
    for quiet, quiet_stream in ((False, io.StringIO()), (True, Terminal())):    # a log file, or --quiet
        with step_progress("sampling", quiet=quiet, file=quiet_stream):
            ddim(short, denoiser, x_T, None, noise)
        assert quiet_stream.getvalue() == ""
