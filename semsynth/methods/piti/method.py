"""The ``piti`` plugin: layout -> colour-coded mask -> mask encoder -> guided base diffusion at low resolution ->
8-bit hand-off -> super-resolution diffusion to the dataset's resolution (Wang et al. 2022, "Pretraining is All You
Need for Image-to-Image Translation")."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ... import checkpoints, weights
from ...diffusion.gaussian import GaussianProcess
from ...diffusion.projection import low_res_consistent
from ...diffusion.schedules import named_betas
from ...errors import MissingWeightsError, UserError
from ...registry import METHODS
from ...types import Layout
from ..base import Method
from ..sdm.method import to_uint8
from .model import PITIModel
from .palette import colour_mask, to_ref
from .presets import PRESETS, SETTING_TYPES
from .sampling import GUIDANCE_MODES, downsample, guided_model, kept_steps, quantise, sample_stage

BASE_STEPS = 1000


@METHODS.register_module(name="piti")
class PITI(Method):
    """PITI (Wang et al. 2022): a mask encoder over a pretrained diffusion decoder, then a diffusion upsampler.
    Settings: ``sampler``, ``steps``, ``guidance``, ``guidance_mode`` (official | normalized),
    ``guidance_t_max`` (guidance only at timesteps below it, of 1000; 1000: every step, official), ``eta``,
    ``up_sampler``, ``up_steps`` (27 with ddpm/ddim: official 'fast27'), ``up_temperature``, ``up_consistency``
    (back-projections of the upsampler's x0 onto its low-res input per step; 0: official), ``upsample_weights``
    (catalog name or file). Official (cocostuff): ddpm 250 steps, guidance 1.3, upsampler fast27, 0.997, no
    projection."""

    name = "piti"
    presets = PRESETS
    defaults = dict(PRESETS["shapes"].settings)
    setting_types = SETTING_TYPES

    def __init__(self, dataset: str = "shapes", checkpoint: str | Path | None = None, device: str = "cpu",
                 **overrides: Any) -> None:
        self._configure(dataset, device, overrides)
        missing: list[str] = []
        self.checkpoint = self._resolve(lambda: self.resolve_checkpoint(checkpoint), missing)
        self.upsample_checkpoint = self._resolve(lambda: _weights_file(self.settings["upsample_weights"]), missing)
        if missing:
            raise MissingWeightsError(missing[0] if len(missing) == 1 else
                                      f"piti needs {len(missing)} files: " + " AND ".join(missing))
        self._attach(self._load(self.checkpoint, "base"), self._load(self.upsample_checkpoint, "upsample"))

    def extra_weight_files(self) -> dict[str, Path]:
        """The upsampler's file (``upsample_weights``), held in the run identity beside the base checkpoint."""
        return {"upsample_weights": self.upsample_checkpoint} if self.upsample_checkpoint is not None else {}

    @staticmethod
    def _resolve(find: Callable[[], Path], missing: list[str]) -> Path | None:
        try:
            return find()
        except MissingWeightsError as error:
            missing.append(str(error))
            return None

    def _load(self, path: Path, kind: str) -> PITIModel:
        state, config = checkpoints.load(path)
        net = checkpoints.build(lambda: PITIModel(**(config or self.preset.configs[kind])), path)
        checkpoints.load_into(net, state, path)
        return net

    @classmethod
    def from_nets(cls, base: PITIModel, upsample: PITIModel, dataset: str = "shapes", device: str = "cpu",
                  **overrides: Any) -> "PITI":
        """A method around given networks (random weights in tests, networks being trained)."""
        method = cls.without_checkpoint(dataset, device, **overrides)
        method.upsample_checkpoint = None
        method._attach(base, upsample)
        return method

    @classmethod
    def train(cls, dataset: str, out_dir: str | Path, **options: Any) -> Path:
        """``bench train --method piti --set stage=prior|1|1b|2|upsample`` (``train.train``)."""
        from .train import train

        return train(dataset, Path(out_dir), **options)

    def _attach(self, base: PITIModel, upsample: PITIModel) -> None:
        if base.upsample or not upsample.upsample:
            raise UserError("piti needs a base model (checkpoint) and an upsampler (upsample_weights), in that order")
        self.base = base.to(self.device, torch.float32).eval().requires_grad_(False)
        self.upsampler = upsample.to(self.device, torch.float32).eval().requires_grad_(False)
        self.betas = {kind: named_betas(self.preset.schedules[kind], BASE_STEPS) for kind in ("base", "upsample")}

    # -- sampling ------------------------------------------------------------------------------------------

    def refs(self, layouts: Sequence[Layout]) -> torch.Tensor:
        """The colour-coded masks of validated layouts in [-1, 1], ``[B, 3, H, W]``."""
        for layout in layouts:
            self.check_layout(layout)
        return torch.stack([to_ref(colour_mask(layout.labels, self.preset.num_classes)) for layout in layouts]
                           ).to(self.device)

    def _process(self, kind: str, sampler: str, steps: int) -> GaussianProcess:
        """The chain a stage samples: full for DPM-Solver++, else respaced ('fast27' for 27 upsampler steps)."""
        if sampler == "dpm-solver++":
            return GaussianProcess(self.betas[kind], rescale_timesteps=True)
        spec = "fast27" if kind == "upsample" and steps == 27 else str(steps)
        return GaussianProcess.respaced(self.betas[kind], kept_steps(BASE_STEPS, spec), rescale_timesteps=True)

    def _noise(self, generators: Sequence[torch.Generator], size: tuple[int, int]) -> Callable[[], torch.Tensor]:
        """Draws ``[B, 3, *size]`` noise, each sample from its own generator."""
        return lambda: torch.stack([torch.randn((3, *size), generator=g) for g in generators]).to(self.device)

    @torch.no_grad()
    def _sample(self, refs: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        s = self.settings
        generators = [torch.Generator(device="cpu").manual_seed(self.check_seed(seed)) for seed in seeds]
        noise = self._noise(generators, (self.preset.base_size, self.preset.base_size))
        process = self._process("base", s["sampler"], s["steps"])
        null = self.base.encode(torch.ones_like(refs[:1])) if s["guidance"] > 1 else None
        model = guided_model(self.base, process, float(s["guidance"]), GUIDANCE_MODES[s["guidance_mode"]], null,
                             t_max=float(s["guidance_t_max"]))
        low = sample_stage(s["sampler"], process, model, noise(), self.base.encode(refs), noise,
                           s["steps"], float(s["eta"]))
        return self.upsample(quantise(low), refs, generators)

    @torch.no_grad()
    def upsample(self, low_res: torch.Tensor, refs: torch.Tensor, generators: Sequence[torch.Generator]
                 ) -> torch.Tensor:
        """The second stage alone: 8-bit ``low_res`` images in [-1, 1] and their masks -> images in [-1, 1] at the
        dataset's resolution, by the upsampler settings (also how ``benchmarks/piti_upsampler_ceiling.py`` feeds it
        true low-res images). With ``up_consistency`` the output, downsampled as in training, keeps ``low_res``."""
        s = self.settings
        process = self._process("upsample", s["up_sampler"], s["up_steps"])
        offset = self.upsampler.offset(low_res, self.resolution)
        model = low_res_consistent(guided_model(self.upsampler, process, 1.0,
                                                low_res=self.upsampler.hook_input(low_res, refs)),
                                   GaussianProcess(self.betas["upsample"], rescale_timesteps=True), low_res,
                                   downsample, int(s["up_consistency"]), offset)
        draw = self._noise(generators, self.resolution)
        detail = sample_stage(s["up_sampler"], process, model, draw() * float(s["up_temperature"]),
                              self.upsampler.encode(refs), draw, s["up_steps"], float(s["eta"]))
        return (detail + offset).clamp(-1, 1)

    def generate(self, layout: Layout, seed: int) -> torch.Tensor:
        return self.generate_batch([layout], [seed])[0]

    def generate_batch(self, layouts: Sequence[Layout], seeds: Sequence[int]) -> torch.Tensor:
        """On the CPU each sample runs alone (MKL-DNN picks batch-size-dependent kernels, so this keeps batches
        bit-exact with one-by-one generation); other devices run the batch at once."""
        self.check_batch(layouts, seeds)
        refs = self.refs(layouts)
        if self.device.type == "cpu":
            images = torch.cat([self._sample(refs[i:i + 1], seeds[i:i + 1]) for i in range(len(seeds))])
        else:
            images = self._sample(refs, seeds)
        return to_uint8(images)

    def describe(self) -> dict[str, Any]:
        """Name, dataset, settings and the upsampler file's sha256 (the base file's is the run's checkpoint)."""
        upsample = self.upsample_checkpoint
        return {**super().describe(), "upsample_sha256": weights.sha256(upsample) if upsample else None}

    def save(self, path: str | Path) -> None:
        """The base model as float32 safetensors with its config (loads back with ``checkpoint=path``)."""
        checkpoints.save(path, self.base.state_dict(), self.base.config)


def _weights_file(name: str) -> Path:
    """A catalog entry by name, or an explicit file path (anything with a path separator or a file suffix)."""
    if "/" in name or name.endswith((".pt", ".safetensors")):
        return weights.path(None, name)
    return weights.path(name)
