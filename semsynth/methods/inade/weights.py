"""INADE's files in the weights catalog and reading/writing INADE checkpoints (official ``.pth`` or suite
``.safetensors`` with ``G.``/``E.`` prefixes and the network options in the metadata)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ... import weights
from ...errors import UserError
from ...weights import WeightSpec

_SOURCE = ("https://github.com/tzt101/INADE (README 'Generating Images Using Pretrained Model': OneDrive folder "
           "checkpoints/inade_<dataset>/)")
_LICENCE = "no licence file in tzt101/INADE; the code derives from NVlabs/SPADE (CC BY-NC-SA 4.0)"

for _dataset, _folder in (("ade20k", "inade_ade20k"), ("cityscapes", "inade_cityscapes"), ("celeba", "inade_celeba")):
    weights.register(WeightSpec(name=f"inade-{_dataset}-G", file=f"{_folder}/best_net_G.pth", url=_SOURCE,
                                licence=_LICENCE, users=("inade",), note="official INADE generator"))
    weights.register(WeightSpec(name=f"inade-{_dataset}-E", file=f"{_folder}/best_net_E.pth", url=_SOURCE,
                                licence=_LICENCE, users=("inade",), aliases=(f"{_folder}/best_net_IE.pth",),
                                note="official INADE remapping encoder (README: rename best_net_IE.pth)"))

weights.register(WeightSpec(
    name="inade-shapes", file="inade_shapes.safetensors", url="shipped with semsynth-bench", licence="MIT",
    users=("inade",), shipped=True, sha256="ec82b2250bf91d392445c52996b398cfdb3154fb8b13e7304fef5a2260f6d83d",
    note="small INADE (generator + encoder, ngf 6) trained on shapes with semsynth/methods/inade/train.py: 2700 "
         "steps of batch 8, lr 4e-4, shapes-segnet perceptual loss, one CPU thread, 12 min (command in train.py)"))

VGG19 = weights.register(WeightSpec(
    name="vgg19-torchvision", file="vgg19-dcbc6f2e.pth", url="https://download.pytorch.org/models/vgg19-dcbc6f2e.pth",
    licence="BSD-3-Clause (torchvision); VGG weights CC BY 4.0", users=("inade/train perceptual loss",),
    note="torchvision VGG19 IMAGENET1K_V1, the perceptual network of INADE training on real datasets"))

OPTIONS_KEY = "inade_options"


def read_state(file: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """A checkpoint's tensors and, for suite files, the network options stored with them."""
    file = Path(file)
    if file.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(file), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
        options = json.loads(metadata[OPTIONS_KEY]) if OPTIONS_KEY in metadata else None
        return state, options
    state = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise UserError(f"{file} is not an INADE state_dict (found {type(state).__name__})")
    return state, None


def split_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Generator and encoder tensors: ``G.``/``E.``-prefixed suite files, or a bare official generator file."""
    if not any(key.startswith("G.") for key in state):
        return dict(state), {}
    generator = {key[2:]: value for key, value in state.items() if key.startswith("G.")}
    encoder = {key[2:]: value for key, value in state.items() if key.startswith("E.")}
    return generator, encoder


def write_state(file: str | Path, generator: torch.nn.Module, encoder: torch.nn.Module | None,
                options: dict[str, Any]) -> None:
    """Save both networks (float32, contiguous) as one safetensors file with the options in its metadata."""
    from safetensors.torch import save_file

    tensors = {f"G.{key}": value for key, value in generator.state_dict().items()}
    if encoder is not None:
        tensors.update({f"E.{key}": value for key, value in encoder.state_dict().items()})
    tensors = {key: (value.float() if value.is_floating_point() else value).detach().cpu().contiguous()
               for key, value in tensors.items()}
    Path(file).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(file), metadata={OPTIONS_KEY: json.dumps(options, sort_keys=True)})
