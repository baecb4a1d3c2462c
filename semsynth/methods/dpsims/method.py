"""The ``dpsims`` method: one generator forward pass per sample.

Weights format (no official one exists): a safetensors file with the generator's ``state_dict`` under ``G.`` (torch
spectral-norm parametrization keys, fp16 or fp32) and a JSON config ``{"generator": GeneratorConfig, "instances":
bool, "num_classes": N, ...}`` (``semsynth.checkpoints.save``). Sample ``seed`` draws ``z`` (``z_dim`` values) from
``torch.Generator("cpu").manual_seed(seed)``; the input is the one-hot label map, plus the instance-edge channel
when the config's ``instances`` is true. A generator with ``segment_noise`` C then draws, from the same stream, one
C-vector per segment (``segment_ids``: the instance map's ids in increasing order, or the classes' without one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch.nn.utils import parametrize
from torch.nn.utils.rnn import pad_sequence

from ... import checkpoints
from ...datasets.conventions import renumber_instances
from ...errors import UserError
from ...registry import METHODS
from ...types import Layout
from ..base import Method
from ..inputs import semantics
from .generator import Generator, GeneratorConfig
from .presets import PRESETS


def label_map(layouts: Sequence[Layout], num_classes: int, instances: bool) -> torch.Tensor:
    """Generator input ``[B, num_classes (+1), H, W]``: one-hot classes, plus the instance-edge map when
    ``instances`` (layouts without instance maps take the edges of their label map)."""
    labels = torch.stack([layout.labels for layout in layouts])
    edges = None
    if instances:
        edges = torch.stack([layout.instances if layout.instances is not None else layout.labels
                             for layout in layouts])
    return semantics(labels, edges, num_classes, layouts[0].label_space.ignore_index)


def segment_ids(layout: Layout) -> torch.Tensor:
    """The layout's segments as ids 0..K-1 ``[H, W]``, in increasing instance id (class id without instances)."""
    return renumber_instances(layout.instances if layout.instances is not None else layout.labels)[0]


def segment_noise(ids: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """The noise map ``[B, C, H, W]``: each pixel of segment k of ``ids`` ``[B, H, W]`` takes ``vectors[b, k]``
    (``vectors`` ``[B, K, C]``)."""
    rows = torch.arange(ids.shape[0], device=ids.device)[:, None, None]
    return vectors[rows, ids].permute(0, 3, 1, 2)


def write_weights(path: str | Path, state: Mapping[str, torch.Tensor], record: Mapping[str, Any],
                  half: bool = True) -> None:
    """A generator ``state_dict`` and its config ``record`` (with ``generator``: its ``GeneratorConfig`` dict) as
    one safetensors file (fp16 when ``half``)."""
    checkpoints.save(path, checkpoints.join({"G": state}), {**record, "format": "dpsims-1"}, half=half)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output -> uint8: clamp to [-1, 1] (the paper drops the tanh), ``(x + 1) * 127.5``, rounded."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


@METHODS.register_module(name="dpsims")
class DPSIMS(Method):
    """DP-SIMS (Berrada et al., CVPR 2024): a GAN trained against a frozen pretrained-backbone discriminator."""

    name = "dpsims"
    presets = PRESETS
    defaults: dict[str, Any] = {}

    def __init__(self, dataset: str = "shapes", checkpoint: str | Path | None = None, device: str = "cpu",
                 **overrides: Any) -> None:
        super().__init__(dataset, checkpoint, device, **overrides)
        state, config = checkpoints.load(self.checkpoint)
        if not config or config.get("format") != "dpsims-1":
            raise UserError(f"{self.checkpoint} is not a DP-SIMS weights file (no dpsims-1 config); train one with "
                            f"`bench train --method dpsims --dataset {dataset}`")
        self._attach(config, checkpoints.split(state, ("G",))["G"])

    @classmethod
    def from_generator(cls, generator: Generator, instances: bool, dataset: str = "shapes", device: str = "cpu",
                       **overrides: Any) -> "DPSIMS":
        """A method around a given generator (tests, training previews)."""
        method = cls.without_checkpoint(dataset, device, **overrides)
        method._attach({"generator": generator.config.to_dict(), "instances": instances}, generator.state_dict())
        return method

    @classmethod
    def train(cls, dataset: str, out_dir: str | Path, **options: Any) -> Path:
        """``bench train --method dpsims``: ``train.train``."""
        from .train import train

        return train(dataset, Path(out_dir), **options)

    def _attach(self, config: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> None:
        self.config = dict(config)
        source = self.checkpoint or "the given generator"
        generator_config = checkpoints.build(lambda: GeneratorConfig.from_dict(self.config["generator"]), source)
        expected = self.label_space.num_classes + int(self.config["instances"])
        if generator_config.label_channels != expected or tuple(generator_config.resolution) != self.resolution:
            raise UserError(f"{source} is a DP-SIMS generator for {generator_config.label_channels} input channels "
                            f"at {tuple(generator_config.resolution)}; dataset '{self.dataset}' needs {expected} at "
                            f"{self.resolution}")
        self.net = Generator(generator_config)
        checkpoints.load_into(self.net, state, source)
        self._state = {key: value.detach().cpu() for key, value in state.items()}
        self.net.eval()
        for module in self.net.modules():   # bake the spectral norms (eval mode: stored u, v) into plain weights
            for name in list(getattr(module, "parametrizations", {}) or {}):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        self.net.to(self.device).requires_grad_(False)

    def draw(self, seed: int, segments: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The noise vector ``[z_dim]`` of ``seed`` and, after it, the ``[segments, segment_noise]`` per-segment
        vectors (CPU draws)."""
        generator = torch.Generator(device="cpu").manual_seed(self.check_seed(seed))
        z = torch.randn(self.net.config.z_dim, generator=generator)
        return z, torch.randn(segments, self.net.config.segment_noise, generator=generator)

    def generate(self, layout: Layout, seed: int) -> torch.Tensor:
        return self.generate_batch([layout], [seed])[0]

    def generate_batch(self, layouts: Sequence[Layout], seeds: Sequence[int]) -> torch.Tensor:
        """One forward pass per batch; on the CPU one per layout, because MKL-DNN kernels depend on the batch size
        and batches must equal one-by-one generation bit for bit."""
        self.check_batch(layouts, seeds)
        for layout in layouts:
            self.check_layout(layout)
        if self.device.type == "cpu" and len(layouts) > 1:
            return torch.cat([self.generate_batch([layout], [seed]) for layout, seed in zip(layouts, seeds)])
        inputs = label_map(layouts, self.label_space.num_classes, self.config["instances"]).to(self.device)
        ids = torch.stack([segment_ids(layout) for layout in layouts])
        draws = [self.draw(seed, int(segments.max()) + 1) for seed, segments in zip(seeds, ids)]
        z = torch.stack([z for z, _ in draws]).to(self.device)
        noise_map = None
        if self.net.config.segment_noise:
            vectors = pad_sequence([vectors for _, vectors in draws], batch_first=True)   # zeros past a layout's K
            noise_map = segment_noise(ids, vectors).to(self.device)
        with torch.no_grad():
            return to_uint8(self.net(inputs, z, False, noise_map))

    def save(self, path: str | Path) -> None:
        write_weights(path, self._state, self.config)
