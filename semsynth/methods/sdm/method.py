"""The ``sdm`` plugin: layouts -> SDM's one-hot(+edge) input -> guided sampling (DDPM, DDIM or DPM-Solver++) ->
uint8 images; RePaint-style semantic editing (paper section IV-G, Eq. 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ... import checkpoints
from ...diffusion.gaussian import GaussianProcess
from ...diffusion.guidance import classifier_free
from ...diffusion.inpainting import repaint
from ...diffusion.process import Model
from ...diffusion.respacing import space_timesteps
from ...diffusion.samplers import ddim, ddpm, dpm_solver_pp
from ...diffusion.schedules import linear_betas
from ...errors import UserError
from ...registry import METHODS
from ...types import Layout
from ..base import Method
from .model import SDMUNet
from .presets import BASE_STEPS, DTYPES, PRESETS, SETTING_TYPES


def kept_steps(sampler: str, steps: int) -> list[int]:
    """Original steps a respaced sampler visits: DDIM takes the official 'ddimN' stride when one gives exactly
    ``steps`` (else even spacing); DDPM takes evenly spaced sections ('N'); 1000 keeps the full chain."""
    if not 1 <= steps <= BASE_STEPS:
        raise UserError(f"steps must be between 1 and {BASE_STEPS}, got {steps}")
    if sampler == "ddim":
        try:
            return space_timesteps(BASE_STEPS, f"ddim{steps}")
        except UserError:
            pass
    return space_timesteps(BASE_STEPS, str(steps))


@METHODS.register_module(name="sdm")
class SDM(Method):
    """Semantic Diffusion Model. Settings: ``sampler`` (ddpm | ddim | dpm-solver++), ``steps``, ``guidance``
    (classifier-free scale s; <= 1 means one conditional pass), ``eta`` (DDIM), ``dtype`` of the network
    (float32 | bfloat16 | float16). Defaults: the paper's per-dataset settings (shapes: DPM-Solver++ 10 steps,
    no guidance)."""

    name = "sdm"
    presets = PRESETS
    defaults = dict(PRESETS["shapes"].settings)
    setting_types = SETTING_TYPES

    def __init__(self, dataset: str = "shapes", checkpoint: str | Path | None = None, device: str = "cpu",
                 **overrides: Any) -> None:
        super().__init__(dataset=dataset, checkpoint=checkpoint, device=device, **overrides)
        state, config = checkpoints.load(self.checkpoint)
        net = checkpoints.build(lambda: SDMUNet(**(config or self.preset.net_config())), self.checkpoint)
        checkpoints.load_into(net, state, self.checkpoint)
        self._attach(net)

    @classmethod
    def from_net(cls, net: SDMUNet, dataset: str = "shapes", device: str = "cpu", **overrides: Any) -> "SDM":
        """A method around an existing network (random weights in tests, a network being trained)."""
        method = cls.without_checkpoint(dataset, device, **overrides)
        method._attach(net)
        return method

    @classmethod
    def train(cls, dataset: str, out_dir: str | Path, **options: Any) -> Path:
        """``bench train --method sdm``: ``train.train`` (the paper's recipe; options override the preset)."""
        from .train import train

        return train(dataset, Path(out_dir), **options)

    def _attach(self, net: SDMUNet) -> None:
        if net.num_classes != self.preset.cond_channels:
            raise UserError(f"SDM network takes {net.num_classes} layout channels but {self.dataset} needs "
                            f"{self.preset.cond_channels}; use a checkpoint trained for {self.dataset}")
        self.net = net.to(self.device, DTYPES[self.settings["dtype"]]).eval().requires_grad_(False)
        self.base_betas = linear_betas(BASE_STEPS)

    # -- sampling ------------------------------------------------------------------------------------------

    def conditions(self, layouts: Sequence[Layout]) -> torch.Tensor:
        """SDM inputs ``[B, C, H, W]`` of validated layouts."""
        for layout in layouts:
            self.check_layout(layout)
        return torch.stack([self.preset.channels(layout) for layout in layouts]).to(self.device)

    def _model(self, process: GaussianProcess) -> Model:
        """The guided network. On the CPU every sample gets its own (conditional + null) forward: MKL-DNN picks
        batch-size-dependent kernels for some convs and linears, so this keeps batches bit-exact with
        one-by-one generation; other devices run the whole batch at once."""
        def call(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
            return self.net(x, t, cond).float()

        guided = classifier_free(call, process, float(self.settings["guidance"]))
        if self.device.type != "cpu":
            return guided
        return lambda x, t, cond: torch.cat([guided(x[i:i + 1], t[i:i + 1], cond[i:i + 1]) for i in range(len(x))])

    def _noise(self, seeds: Sequence[int]) -> Callable[[], torch.Tensor]:
        """Standard noise ``[B, 3, H, W]``, each sample's drawn from its own CPU generator seeded with its seed."""
        generators = [torch.Generator(device="cpu").manual_seed(self.check_seed(seed)) for seed in seeds]
        shape = (3, *self.resolution)
        return lambda: torch.stack([torch.randn(shape, generator=g) for g in generators]).to(self.device)

    @torch.no_grad()
    def _sample(self, cond: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        sampler, steps = self.settings["sampler"], int(self.settings["steps"])
        noise = self._noise(seeds)
        x_T = noise()
        if sampler == "dpm-solver++":
            process = GaussianProcess(self.base_betas)
            return dpm_solver_pp(process, self._model(process), x_T, cond, steps)
        process = GaussianProcess.respaced(self.base_betas, kept_steps(sampler, steps))
        if sampler == "ddim":
            return ddim(process, self._model(process), x_T, cond, noise, eta=float(self.settings["eta"]))
        return ddpm(process, self._model(process), x_T, cond, noise)

    def generate(self, layout: Layout, seed: int) -> torch.Tensor:
        return self.generate_batch([layout], [seed])[0]

    def generate_batch(self, layouts: Sequence[Layout], seeds: Sequence[int]) -> torch.Tensor:
        self.check_batch(layouts, seeds)
        return to_uint8(self._sample(self.conditions(layouts), seeds))

    @torch.no_grad()
    def edit(self, image: torch.Tensor, layout: Layout, region_mask: torch.Tensor, seed: int,
             resample: int = 1) -> torch.Tensor:
        """Regenerate ``region_mask`` (bool ``[H, W]``, True = edit) of ``image`` (uint8) under ``layout``, keeping
        the rest: ancestral sampling on the respaced chain of ``steps`` where the kept pixels follow the
        forward-noised original (RePaint; ``resample`` > 1 repeats each step)."""
        cond = self.conditions([layout])
        if image.dtype != torch.uint8 or tuple(image.shape) != (3, *self.resolution):
            raise UserError(f"edit needs a uint8 image of shape [3, {self.resolution[0]}, {self.resolution[1]}]")
        if tuple(region_mask.shape) != self.resolution:
            raise UserError(f"region_mask must be [H, W] = {list(self.resolution)}, got {list(region_mask.shape)}")
        known = image[None].to(self.device).float() / 127.5 - 1
        mask = region_mask.to(self.device, torch.bool)[None, None]
        process = GaussianProcess.respaced(self.base_betas, kept_steps("ddpm", int(self.settings["steps"])))
        noise = self._noise([seed])
        out = repaint(process, self._model(process), noise(), cond, known, mask, noise, resample=resample)
        return to_uint8(out)[0]

    def save(self, path: str | Path) -> None:
        """Float32 safetensors with the network config as metadata (loads back with ``checkpoint=path``)."""
        checkpoints.save(path, self.net.state_dict(), self.net.config)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images -> uint8 on the CPU, rounded as the official ``save_image`` of ``(x + 1) / 2``."""
    return ((images.float() + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).cpu()
