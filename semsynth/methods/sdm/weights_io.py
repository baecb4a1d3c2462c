"""Reading and writing SDM weights: official raw state_dicts (.pt, loaded weights_only) and our safetensors files,
which carry the network config as metadata; fp16 files are cast to float32 on load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ...errors import UserError


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Float32 state_dict from a safetensors or torch file (a raw state_dict, or one under 'state_dict'/'model')."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} is not an SDM state_dict; pass the official .pt file or a semsynth .safetensors")
    return {key.removeprefix("module."): value.float() if value.is_floating_point() else value
            for key, value in state.items()}


def stored_config(path: str | Path) -> dict[str, Any] | None:
    """The network config stored in a semsynth safetensors file, or None (official files carry none)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        text = (handle.metadata() or {}).get("config")
    return json.loads(text) if text else None


def save_state(state: dict[str, torch.Tensor], path: str | Path, config: dict[str, Any], half: bool = True) -> None:
    """Write ``state`` as safetensors (fp16 when ``half``) with ``config`` as JSON metadata."""
    from safetensors.torch import save_file

    tensors = {key: (value.half() if half and value.is_floating_point() else value).contiguous().cpu()
               for key, value in state.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(config, default=list)})
