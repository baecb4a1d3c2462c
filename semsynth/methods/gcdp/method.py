"""The ``gcdp`` plugin: layout -> image by GCDP's cross-modal outpainting (the label map known everywhere, the
image generated; official resampling count), an optional text prompt (the learned null text when none); joint
generation of (image, layout) and layout from image (the reverse outpainting).

Text: a model file that holds a caption encoder (the shipped ``shapes`` model) uses it; any other (the official
Cityscapes/CelebA files) uses the official T5-large encoder from the weights folder ``t5-large``, made once on a
machine with network (``hf download google-t5/t5-large config.json model.safetensors spiece.model --local-dir
t5-large``) and put into ``$SEMSYNTH_WEIGHTS`` or ``~/.cache/semsynth/weights``, or passed as ``t5_folder``; it needs
``pip install 'semsynth-bench[gcdp-t5]'``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ... import checkpoints
from ...diffusion.categorical import CategoricalProcess
from ...errors import UserError
from ...registry import METHODS
from ...types import Layout
from ..base import Method
from ..sdm.method import to_uint8
from .checkpoint import read_official
from .model import JointUNet
from .presets import PRESETS, SETTING_TYPES
from .sampling import guided, lowres_condition, outpaint, pack_text, processes, sample_joint
from .text import T5Encoder, TextEncoder, layout_caption
from .train import JointModel

Prompts = Sequence[str | None] | None
Noise = Callable[[], torch.Tensor]


@dataclass
class Stage:
    """One network of the cascade: its output ``size``, its stored sample-schedule buffers, whether guidance
    applies (the official SR stage samples with scale 1)."""

    net: JointUNet
    size: tuple[int, int]
    label_buffers: dict[str, torch.Tensor] | None
    guided: bool = True


def resized(value: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """An image ``[B, 3, H, W]`` or label map ``[B, H, W]`` at ``size`` by nearest neighbour (official resize)."""
    if tuple(value.shape[-2:]) == tuple(size):
        return value
    if value.dim() == 3:
        return torch.nn.functional.interpolate(value[:, None].float(), size, mode="nearest")[:, 0].long()
    return torch.nn.functional.interpolate(value, size, mode="nearest")


def _load(path: Path, net_config: dict[str, Any], ema: bool
          ) -> tuple[JointModel, dict[str, torch.Tensor] | None, CategoricalProcess | None]:
    """A model from our safetensors (net + text encoder) or an official file (EMA weights by default), its stored
    sample-schedule buffers and its low-res label chain (official files only)."""
    if checkpoints.file_format(checkpoints.read_head(path)) == "safetensors":
        state, config = checkpoints.load(path)
        model = checkpoints.build(lambda: JointModel.from_config(config), path)
        checkpoints.load_into(model, state, path)
        return model, None, None
    official = read_official(path, ema=ema)
    model = JointModel(JointUNet(**net_config))
    checkpoints.load_into(model.net, official.unet, path)
    lowres = None if official.lowres_buffers is None else \
        CategoricalProcess(net_config["num_classes"], official.lowres_buffers)
    return model, official.label_buffers, lowres


@METHODS.register_module(name="gcdp")
class GCDP(Method):
    """Gaussian-categorical diffusion (Park et al., ICCV 2023), layout -> image by cross-modal outpainting.
    Settings: ``steps``, ``resample`` (outpainting passes per step), ``guidance`` (with a prompt), ``caption`` (a
    layout without a prompt gets the caption of its classes, as the shapes model was trained), ``known_level`` and
    ``layout_guidance`` (departures that make the image follow the layout; 1 and 0 are official). ``t5_folder``: the
    T5 folder for prompts when the model file has no caption encoder (default: the catalog folder ``t5-large``)."""

    name = "gcdp"
    presets = PRESETS
    defaults = dict(PRESETS["shapes"].settings)
    setting_types = SETTING_TYPES
    t5_folder: str | Path | None = None

    def __init__(self, dataset: str = "shapes", checkpoint: str | Path | None = None, device: str = "cpu",
                 ema: bool = True, sr_checkpoint: str | Path | None = None, t5_folder: str | Path | None = None,
                 **overrides: Any) -> None:
        super().__init__(dataset=dataset, checkpoint=checkpoint, device=device, **overrides)
        self.t5_folder = t5_folder
        model, label_buffers, _ = _load(self.checkpoint, self.preset.net_config(), ema)
        self._attach(model, label_buffers)
        if self.preset.sr_config is not None:
            from ... import weights

            path = weights.path(self.preset.sr_weights, sr_checkpoint)
            sr, sr_buffers, lowres = _load(path, dict(self.preset.sr_config, num_classes=self.preset.num_classes),
                                           ema)
            self.attach_super_resolution(sr.net, sr_buffers, lowres)

    @classmethod
    def from_model(cls, model: JointModel, dataset: str = "shapes", device: str = "cpu",
                   t5_folder: str | Path | None = None, **overrides: Any) -> "GCDP":
        """A method around an existing model (random weights in tests, a model being trained)."""
        method = cls.without_checkpoint(dataset, device, **overrides)
        method.t5_folder = t5_folder
        method._attach(model, None)
        return method

    @classmethod
    def train(cls, dataset: str, out_dir: str | Path, **options: Any) -> Path:
        """``bench train --method gcdp``: ``train.train`` (options override the preset)."""
        from .train import train

        return train(dataset, Path(out_dir), **options)

    def _attach(self, model: JointModel, label_buffers: dict[str, torch.Tensor] | None) -> None:
        if model.net.num_classes != self.preset.num_classes:
            raise UserError(f"GCDP network has {model.net.num_classes} label classes but {self.dataset} needs "
                            f"{self.preset.num_classes}; use a checkpoint trained for {self.dataset}")
        self.model = model.to(self.device).eval().requires_grad_(False)
        self._text: TextEncoder | None = model.text
        self.stages = [Stage(self.model.net, tuple(self.preset.base_size), label_buffers)]

    def attach_super_resolution(self, net: JointUNet, label_buffers: dict[str, torch.Tensor] | None,
                                lowres_label: CategoricalProcess | None = None) -> None:
        """Add the cascade's super-resolution stage (to the dataset resolution; guidance 1 as the official SR
        script); ``lowres_label`` is the checkpoint's 1000-step chain that noises the low-res labels."""
        net = net.to(self.device).eval().requires_grad_(False)
        self.stages = self.stages[:1] + [Stage(net, tuple(self.resolution), label_buffers, guided=False)]
        self.lowres_label = lowres_label or CategoricalProcess.from_log_snr(self.preset.num_classes, "linear", 1000)

    # -- conditions -----------------------------------------------------------------------------------------

    def text_encoder(self) -> TextEncoder:
        """The model file's caption encoder, else T5 from ``t5_folder`` or the catalog folder ``t5-large`` (loaded at
        the first prompt; its width must be the network's text width)."""
        if self._text is None:
            from ... import weights

            folder = weights.path("t5-large", self.t5_folder)
            encoder = T5Encoder(folder, device=self.device)
            if encoder.dim != self.model.net.text_embed_dim:
                raise UserError(f"the T5 encoder in {folder} gives {encoder.dim}-d embeddings but this GCDP network "
                                f"takes {self.model.net.text_embed_dim}-d text; use the T5 it was trained with "
                                f"(t5-large: 1024-d)")
            self._text = encoder
        return self._text

    def conditions(self, prompts: Sequence[str | None]) -> torch.Tensor:
        """Packed text conditions: each prompt's embeddings, or the null text (dropped) where None."""
        width = self.model.net.text_embed_dim
        given = [prompt for prompt in prompts if prompt is not None]
        encoded = iter(zip(*self.text_encoder().encode(given))) if given else iter(())
        rows = [next(encoded) if prompt is not None else (torch.zeros(1, width, device=self.device),
                                                          torch.zeros(1, dtype=torch.bool, device=self.device))
                for prompt in prompts]
        length = max(embeds.shape[0] for embeds, _ in rows)
        embeds = torch.stack([torch.nn.functional.pad(e.to(self.device), (0, 0, 0, length - e.shape[0]))
                              for e, _ in rows])
        mask = torch.stack([torch.nn.functional.pad(m.to(self.device), (0, length - m.shape[0])) for _, m in rows])
        keep = torch.tensor([prompt is not None for prompt in prompts], device=self.device)
        return pack_text(embeds, mask, keep)

    def _noises(self, seeds: Sequence[int]) -> Callable[[tuple[int, int]], tuple[Noise, Noise]]:
        """Per stage size: Gaussian ``[B, 3, H, W]`` and uniform ``[B, K, H, W]`` noise, each sample's from its own
        generator (one generator per sample through all stages)."""
        generators = [torch.Generator(device="cpu").manual_seed(self.check_seed(seed)) for seed in seeds]
        classes = self.preset.num_classes

        def at(size: tuple[int, int]) -> tuple[Noise, Noise]:
            return (lambda: torch.stack([torch.randn((3, *size), generator=g) for g in generators]).to(self.device),
                    lambda: torch.stack([torch.rand((classes, *size), generator=g) for g in generators])
                    .to(self.device))

        return at

    def _cascade(self, sampler: Callable, cond: torch.Tensor, scale: float, seeds: Sequence[int],
                 known: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Every stage in turn: ``sampler(model, pair, cond, noises, **known)`` at the stage's size (known maps
        resized by nearest neighbour), the SR stage conditioned on the noised previous output."""
        noises = self._noises(seeds)
        steps = int(self.settings["steps"])
        image = labels = None
        for index, stage in enumerate(self.stages):
            pair = processes(self.preset.num_classes, self.preset.schedule if index == 0 else "linear", steps,
                             stage.label_buffers, self.preset.label_schedule if index == 0 else "linear")
            lowres = None if index == 0 else lowres_condition(image, labels, stage.size, self.lowres_label,
                                                              noises(stage.size))
            model = guided(stage.net, pair, scale if stage.guided else 1.0, lowres)
            image, labels = sampler(model, pair, cond, noises(stage.size),
                                    **{key: resized(value, stage.size) for key, value in known.items()})
        return image, labels

    def _run(self, sampler: Callable, prompts: Sequence[str | None], seeds: Sequence[int], **known: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cascade sample by sample on the CPU, text encoding included (bit-exact batches: MKL-DNN kernels and
        multi-threaded reductions depend on the batch size and the padded text length), the whole batch elsewhere;
        guidance only where a prompt is given."""
        if self.stages[-1].size != tuple(self.resolution):
            raise UserError(f"gcdp on {self.dataset} samples at {self.stages[-1].size} and needs the "
                            f"super-resolution stage for {self.resolution}: pass sr_checkpoint")
        scales = [float(self.settings["guidance"]) if prompt is not None else 1.0 for prompt in prompts]
        if self.device.type != "cpu" and len(set(scales)) == 1:
            return self._cascade(sampler, self.conditions(prompts), scales[0], seeds, known)
        outputs = [self._cascade(sampler, self.conditions([prompt]), scale, [seed],
                                 {k: v[i:i + 1] for k, v in known.items()})
                   for i, (prompt, scale, seed) in enumerate(zip(prompts, scales, seeds))]
        return torch.cat([image for image, _ in outputs]), torch.cat([labels for _, labels in outputs])

    def _model_labels(self, layouts: Sequence[Layout]) -> torch.Tensor:
        for layout in layouts:
            self.check_layout(layout)
        return torch.stack([self.preset.model_labels(layout.labels) for layout in layouts]).to(self.device)

    # -- the method contract and GCDP's other directions ------------------------------------------------------

    def _outpainting(self) -> dict[str, Any]:
        return {"resample": int(self.settings["resample"]), "known_level": float(self.settings["known_level"]),
                "layout_guidance": float(self.settings["layout_guidance"])}

    def generate(self, layout: Layout, seed: int, prompt: str | None = None) -> torch.Tensor:
        return self.generate_batch([layout], [seed], [prompt])[0]

    @torch.no_grad()
    def generate_batch(self, layouts: Sequence[Layout], seeds: Sequence[int], prompts: Prompts = None
                       ) -> torch.Tensor:
        self.check_batch(layouts, seeds)
        prompts = list(prompts) if prompts is not None else [None] * len(layouts)
        labels = self._model_labels(layouts)
        if self.settings["caption"]:
            names = self.label_space.class_names
            prompts = [layout_caption(sample, names) if prompt is None else prompt
                       for prompt, sample in zip(prompts, labels.cpu())]
        image, _ = self._run(lambda *args, labels: outpaint(*args, labels=labels, **self._outpainting()), prompts,
                             seeds, labels=labels)
        return to_uint8(image)

    @torch.no_grad()
    def generate_joint(self, seed: int, prompt: str | None = None) -> tuple[torch.Tensor, Layout]:
        """An (image uint8 ``[3, H, W]``, layout in the dataset's ids) pair from noise, text-conditioned when
        ``prompt`` is given."""
        image, labels = self._run(sample_joint, [prompt], [self.check_seed(seed)])
        return to_uint8(image)[0], Layout(self.preset.dataset_labels(labels[0].cpu()), self.label_space)

    @torch.no_grad()
    def layout_from_image(self, image: torch.Tensor, seed: int, prompt: str | None = None) -> Layout:
        """The reverse outpainting: the image known everywhere, the label map generated."""
        if image.dtype != torch.uint8 or tuple(image.shape) != (3, *self.resolution):
            raise UserError(f"layout_from_image needs a uint8 image of shape [3, {self.resolution[0]}, "
                            f"{self.resolution[1]}]")
        known = image[None].to(self.device).float() / 127.5 - 1
        _, labels = self._run(lambda *args, image: outpaint(*args, image=image, **self._outpainting()), [prompt],
                              [self.check_seed(seed)], image=known)
        return Layout(self.preset.dataset_labels(labels[0].cpu()), self.label_space)

    def save(self, path: str | Path) -> None:
        """Float32 safetensors with the config as metadata (loads back with ``checkpoint=path``)."""
        checkpoints.save(path, self.model.state_dict(), self.model.config())
