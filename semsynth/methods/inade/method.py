"""The ``inade`` method: one-shot sampling with per-instance noise, plus INADE's control API.

Every sample draws, from ``torch.Generator("cpu").manual_seed(seed)``, first the per-instance noise
``[K, 2, noise_nc]`` (K = instances of the re-numbered instance map), then the 256-d (``z_dim``) input vector.
Control API beyond ``generate``:

* ``resample(layout, seed, base_seed, region)``: the image of ``base_seed`` with the noise of one class
  (``{"class": c}``: every instance of class c) or one instance (``{"instance": id}``, an id of
  ``layout.instances``) replaced by the draw of ``seed``; everything else, the input vector included, stays.
* ``generate_with_style(layout, seed, reference_image, reference_layout, instances)``: prior noise remapping;
  the chosen instances take the encoder's per-instance statistics of the reference image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch.nn.utils.rnn import pad_sequence

from ... import checkpoints
from ... import weights as catalog
from ...datasets.conventions import apply_convention
from ...errors import MissingWeightsError, UserError
from ...registry import METHODS
from ...types import Layout
from ..base import Method
from ..inputs import instance_onehot, semantics
from .model import INADEEncoder, INADEGenerator
from .presets import CONVENTION, PRESETS

NETWORKS = ("G", "E")   # the key prefixes of the generator and the encoder in a suite weights file


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8 as the official ``tensor2im``: ``(x + 1) / 2 * 255`` clipped, then truncated."""
    return ((images.float() + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).cpu()


def layout_instances(layout: Layout) -> torch.Tensor:
    """The layout's instance map re-numbered to 0..K-1 (official ``make_instances.py`` re-id); without one, each
    present class is one instance (official rule for ADE20K, CelebAMask-HQ and DeepFashion). Re-numbering keeps
    the edges, so this map is also the edge source of ``semantics``."""
    return apply_convention(layout, CONVENTION)[1]


@METHODS.register_module(name="inade")
class INADE(Method):
    """INADE (Tan et al., CVPR 2021): ILADE-normalised SPADE generator with instance-adaptive noise."""

    name = "inade"
    presets = PRESETS
    defaults: dict[str, Any] = {}

    def __init__(self, dataset: str = "shapes", checkpoint: str | Path | None = None, device: str = "cpu",
                 **overrides: Any) -> None:
        super().__init__(dataset, checkpoint, device, **overrides)
        state, options = checkpoints.load(self.checkpoint)
        networks = checkpoints.split(state, NETWORKS)
        self._attach(options or self.preset.options, networks["G"], networks["E"] or None)

    @classmethod
    def from_networks(cls, generator: INADEGenerator, encoder: INADEEncoder | None, options: Mapping[str, Any],
                      dataset: str = "shapes", device: str = "cpu", **overrides: Any) -> "INADE":
        """A method around given networks (tests, training previews); ``options`` are their official options."""
        method = cls.without_checkpoint(dataset, device, **overrides)
        method._attach(options, generator.state_dict(), encoder.state_dict() if encoder is not None else None)
        return method

    @classmethod
    def train(cls, dataset: str, out_dir: str | Path, **options: Any) -> Path:
        """``bench train --method inade``: ``train.train`` (the official losses and optimisers)."""
        from .train import train

        return train(dataset, Path(out_dir), **options)

    def _attach(self, options: Mapping[str, Any], generator_state: Mapping[str, torch.Tensor],
                encoder_state: Mapping[str, torch.Tensor] | None) -> None:
        self.options = dict(options)
        source = self.checkpoint or "the given generator"
        self.net = checkpoints.build(lambda: INADEGenerator.from_official_config(self.options), source)
        if self.net.label_nc != self.label_space.num_classes:
            raise UserError(f"INADE options have {self.net.label_nc} class channels but dataset "
                            f"'{self.dataset}' has {self.label_space.num_classes} classes")
        checkpoints.load_into(self.net, generator_state, source)
        self.net.to(self.device).eval()
        if self.net.output_size != self.resolution:
            raise UserError(f"INADE options give {self.net.output_size} images, dataset '{self.dataset}' needs "
                            f"{self.resolution}")
        self.encoder: INADEEncoder | None = None
        if encoder_state is not None:
            self._load_encoder(encoder_state, self.checkpoint or "the given encoder")

    def _load_encoder(self, state: Mapping[str, torch.Tensor], source: Path | str) -> INADEEncoder:
        self.encoder = INADEEncoder.from_official_config(self.options)
        checkpoints.load_into(self.encoder, state, source)
        self.encoder.to(self.device).eval()
        return self.encoder

    def _encoder(self) -> INADEEncoder:
        """The remapping encoder, loaded on first use: the official best_net_E.pth (or best_net_IE.pth) next to the
        generator file, else the catalog's encoder for the dataset (only for a method loaded from a file)."""
        if self.encoder is not None:
            return self.encoder
        if self.checkpoint is None:
            raise MissingWeightsError("this INADE method was built without an encoder, which reference-guided style "
                                      "needs; pass one to from_networks")
        siblings = [self.checkpoint.parent / name for name in ("best_net_E.pth", "best_net_IE.pth")]
        found = next((file for file in siblings if file.is_file()), None)
        if found is None and self.preset.encoder_weights is None:
            raise MissingWeightsError("this INADE checkpoint has no encoder, which reference-guided style needs; "
                                      "put the official best_net_E.pth (or best_net_IE.pth) next to it")
        file = found or catalog.path(self.preset.encoder_weights)
        encoder_state = checkpoints.split(checkpoints.load(file)[0], ("E", "G"))["E"]   # bare official file: all E
        return self._load_encoder(encoder_state, file)

    # -- noise ------------------------------------------------------------------------------------------

    def draw(self, seed: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-instance noise ``[count, 2, noise_nc]`` and the input vector ``[z_dim]`` of ``seed`` (CPU draws)."""
        generator = torch.Generator(device="cpu").manual_seed(self.check_seed(seed))
        noise = torch.randn(count, 2, self.net.noise_nc, generator=generator)
        return noise, torch.randn(self.net.z_dim, generator=generator)

    def _run(self, layouts: Sequence[Layout], noises: Sequence[torch.Tensor], vectors: Sequence[torch.Tensor]
             ) -> torch.Tensor:
        """Layouts with their per-instance noise and input vectors -> uint8 images. On the CPU every layout gets its
        own network call with the inputs of one-by-one generation, because MKL-DNN convolutions and MKL matrix
        products pick batch-size-dependent kernels; so batches are bit-exact with it. Other devices run the batch
        in one call."""
        if self.device.type == "cpu" and len(layouts) > 1:
            return torch.cat([self._run([layout], [noise], [vector])
                              for layout, noise, vector in zip(layouts, noises, vectors)])
        instances = torch.stack([layout_instances(layout) for layout in layouts])
        labels = torch.stack([layout.labels for layout in layouts])
        count = int(instances.max()) + 1
        noise = pad_sequence(list(noises), batch_first=True)     # zeros past a layout's own instances
        segmap = semantics(labels, instances, self.net.label_nc, self.label_space.ignore_index)
        with torch.no_grad():
            images = self.net(segmap.to(self.device), instance_onehot(instances, count).to(self.device),
                              noise.to(self.device), torch.stack(list(vectors)).to(self.device))
        return to_uint8(images)

    @staticmethod
    def _count(layout: Layout) -> int:
        return int(layout_instances(layout).max()) + 1

    # -- sampling ---------------------------------------------------------------------------------------

    def generate(self, layout: Layout, seed: int) -> torch.Tensor:
        return self.generate_batch([layout], [seed])[0]

    def generate_batch(self, layouts: Sequence[Layout], seeds: Sequence[int]) -> torch.Tensor:
        self.check_batch(layouts, seeds)
        for layout in layouts:
            self.check_layout(layout)
        draws = [self.draw(seed, self._count(layout)) for layout, seed in zip(layouts, seeds)]
        return self._run(layouts, [noise for noise, _ in draws], [vector for _, vector in draws])

    def region_instances(self, layout: Layout, region: Mapping[str, int]) -> torch.Tensor:
        """The re-numbered instance ids covering ``region`` (sorted, int64)."""
        return torch.unique(layout_instances(layout)[layout.region_mask(region)])

    def resample(self, layout: Layout, seed: int, base_seed: int, region: Mapping[str, int]) -> torch.Tensor:
        """The ``base_seed`` image with the noise of ``region`` (``{"class": c}`` or ``{"instance": id}``) drawn
        from ``seed`` instead; uint8 ``[3, H, W]``."""
        self.check_layout(layout)
        count = self._count(layout)
        noise, vector = self.draw(base_seed, count)
        fresh, _ = self.draw(seed, count)
        chosen = self.region_instances(layout, region)
        noise[chosen] = fresh[chosen]
        return self._run([layout], [noise], [vector])[0]

    def encode_style(self, image: torch.Tensor, layout: Layout) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-instance (re-numbered) noise means ``[K, 2, noise_nc]`` and standard deviations of a uint8 image."""
        self.check_layout(layout)
        if image.dtype != torch.uint8 or tuple(image.shape) != (3, *self.resolution):
            raise UserError(f"reference image must be uint8 [3, {self.resolution[0]}, {self.resolution[1]}]")
        onehot = instance_onehot(layout_instances(layout)[None]).to(self.device)
        pixels = (image[None].float().to(self.device) / 255 - 0.5) / 0.5
        with torch.no_grad():
            scale_mu, scale_logvar, bias_mu, bias_logvar = self._encoder()(pixels, onehot)
        mean = torch.stack([scale_mu[0], bias_mu[0]], dim=1).cpu()
        std = torch.stack([torch.exp(0.5 * scale_logvar[0]), torch.exp(0.5 * bias_logvar[0])], dim=1).cpu()
        return mean, std

    def generate_with_style(self, layout: Layout, seed: int, reference_image: torch.Tensor,
                            reference_layout: Layout, instances: Mapping[int, int] | Sequence[int]) -> torch.Tensor:
        """Reference-guided synthesis: for each ``target -> reference`` instance id pair (a sequence means the same
        ids in both layouts; without instance maps ids are class ids) the seed's noise is remapped with the
        reference instance's encoded statistics, ``noise * std + mean``; other instances keep N(0, 1) noise."""
        self.check_layout(layout)
        pairs = dict(instances) if isinstance(instances, Mapping) else {i: i for i in instances}
        mean, std = self.encode_style(reference_image, reference_layout)
        noise, vector = self.draw(seed, self._count(layout))
        for target, source in pairs.items():
            target_ids = self.region_instances(layout, self._instance_region(layout, target))
            source_id = self.region_instances(reference_layout, self._instance_region(reference_layout, source))
            noise[target_ids] = noise[target_ids] * std[source_id] + mean[source_id]
        return self._run([layout], [noise], [vector])[0]

    @staticmethod
    def _instance_region(layout: Layout, identifier: int) -> dict[str, int]:
        return {"instance": identifier} if layout.instances is not None else {"class": identifier}

    def save(self, path: str | Path) -> None:
        write_weights(path, self.net, self.encoder, self.options)


def write_weights(path: str | Path, generator: torch.nn.Module, encoder: torch.nn.Module | None,
                  options: Mapping[str, Any]) -> None:
    """Generator and encoder as one float32 safetensors file with the options as metadata (loads back with
    ``checkpoint=path``)."""
    networks = {"G": generator.state_dict(), **({"E": encoder.state_dict()} if encoder is not None else {})}
    checkpoints.save(path, checkpoints.join(networks), options)
