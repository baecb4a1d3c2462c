"""Reading GCDP weights: the suite's safetensors (``net.`` + ``text.`` with the config in the metadata), a bare
``JointImagen`` state_dict (``unets.{i}.*`` + label-schedule buffers), or the official trainer file
(``{'model': JointImagen state, 'ema': ema-pytorch EMA modules '{i}.ema_model.*', ...}``), whose EMA weights are
taken by default as the official sampler does. Loaded with ``weights_only`` (checkpoints are untrusted)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ... import checkpoints
from ...diffusion.categorical import BUFFERS
from ...errors import UserError

SAMPLE_SCHEDULE = "noise_schedulers_lbl_sample.{}."


@dataclass
class OfficialWeights:
    """One stage's UNet state (official key names, no prefix), its stored 100-step label-schedule buffers and,
    for a super-resolution stage, the 1000-step chain that noises the low-res labels."""

    unet: dict[str, torch.Tensor]
    label_buffers: dict[str, torch.Tensor] | None
    lowres_buffers: dict[str, torch.Tensor] | None = None


def _read(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        checkpoints.read_torch(path)   # raises the suite's one-line UserError for unreadable or unsafe files
        raise


def _stage(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value.float() if value.is_floating_point() else value
            for key, value in state.items() if key.startswith(prefix)}


def _real_stages(model: dict[str, torch.Tensor]) -> list[int]:
    """Indices of the cascade's UNets, without the NullUnet placeholders (a lone ``dummy_parameter``)."""
    indices = sorted({int(key.split(".")[1]) for key in model if key.startswith("unets.")})
    return [i for i in indices if set(_stage(model, f"unets.{i}.")) != {"dummy_parameter"}]


def read_official(path: str | Path, stage: int | None = None, ema: bool = True) -> OfficialWeights:
    """The UNet of cascade ``stage`` (default: the first real one) from an official trainer file or a bare
    JointImagen state_dict; ``ema`` picks the EMA copy when the file has one."""
    path = Path(path)
    content = _read(path)
    if not isinstance(content, dict):
        raise UserError(f"{path} holds no GCDP state_dict")
    model = content.get("model", content)
    if not isinstance(model, dict) or not any(str(key).startswith("unets.") for key in model):
        raise UserError(f"{path} is not a GCDP JointImagen checkpoint (no 'unets.' keys)")
    stages = _real_stages(model)
    index = stages[0] if stage is None else stage
    if index not in stages:
        raise UserError(f"{path} has no joint UNet at cascade stage {index}; it has {stages}")
    unet = _stage(model, f"unets.{index}.")
    if ema and isinstance(content.get("ema"), dict):
        ema_state = _stage(content["ema"], f"{index}.ema_model.")
        if ema_state:
            unet = ema_state
    buffers = _stage(model, SAMPLE_SCHEDULE.format(index))
    lowres = _stage(model, "lowres_noise_schedule_lbl.")
    return OfficialWeights(unet, buffers if all(name in buffers for name in BUFFERS) else None,
                           lowres if index > 0 and all(name in lowres for name in BUFFERS) else None)
