"""Reading and writing network weights: official torch files (loaded ``weights_only``) and the suite's safetensors
files, which may hold several networks under ``<name>.`` key prefixes and carry a JSON config in their metadata.

Checkpoints are untrusted input: nothing here unpickles objects, and a file that is not a plain tensor checkpoint
is refused with a ``UserError``.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import torch

from .errors import UserError

T = TypeVar("T")

CONFIG_KEY = "config"
# Files written before this module stored INADE's options under their own key; they must load unchanged.
LEGACY_CONFIG_KEYS = ("inade_options",)


def load(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Float32 tensors of a checkpoint and its stored config (None for official torch files). Torch files may hold
    the state_dict bare or under 'state_dict'/'model'; DataParallel's 'module.' prefixes are removed."""
    path = Path(path)
    config = None
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                state = {key: handle.get_tensor(key) for key in handle.keys()}
        except (SafetensorError, OSError) as error:
            raise UserError(f"cannot read weights file {path}: {error}") from None
        text = next((metadata[key] for key in (CONFIG_KEY, *LEGACY_CONFIG_KEYS) if key in metadata), None)
        config = json.loads(text) if text else None
    else:
        state = _load_torch(path)
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} holds no tensor state_dict; pass an official checkpoint or a semsynth .safetensors")
    return {key.removeprefix("module."): value.float() if value.is_floating_point() else value
            for key, value in state.items()}, config


def _load_torch(path: Path) -> Any:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path} is not a plain tensor checkpoint and is refused as unsafe (it would run code "
                        f"when unpickled); convert it to a state_dict of tensors or safetensors") from None
    except (RuntimeError, EOFError, OSError) as error:
        raise UserError(f"cannot read weights file {path}: {str(error).splitlines()[0]}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def split(state: Mapping[str, torch.Tensor], names: Sequence[str]) -> dict[str, dict[str, torch.Tensor]]:
    """The networks ``names`` of a multi-network state by their ``<name>.`` prefixes (absent ones empty). A state
    without any of the prefixes (an official single-network file) is all the first network's."""
    if not any(key.startswith(f"{name}.") for key in state for name in names):
        return {name: dict(state) if index == 0 else {} for index, name in enumerate(names)}
    return {name: {key[len(name) + 1:]: value for key, value in state.items() if key.startswith(f"{name}.")}
            for name in names}


def join(networks: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One state with each network's keys under its ``<name>.`` prefix (the inverse of ``split``)."""
    return {f"{name}.{key}": value for name, state in networks.items() for key, value in state.items()}


def save(path: str | Path, state: Mapping[str, torch.Tensor], config: Mapping[str, Any], half: bool = False) -> None:
    """Write ``state`` as safetensors (floating tensors as fp16 when ``half``, else float32) with ``config`` as JSON
    metadata."""
    from safetensors.torch import save_file

    dtype = torch.float16 if half else torch.float32
    tensors = {key: (value.to(dtype) if value.is_floating_point() else value).detach().contiguous().cpu()
               for key, value in state.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={CONFIG_KEY: json.dumps(dict(config), sort_keys=True, default=list)})


def load_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """``module.load_state_dict(state, strict=True)``, with a ``UserError`` naming ``source`` and the first missing,
    unexpected or misshapen keys when the file does not fit (a checkpoint of another method, dataset or config)."""
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    misshapen = sorted(key for key in set(expected) & set(state) if expected[key].shape != state[key].shape)
    if missing or unexpected or misshapen:
        raise UserError(f"{source} does not fit the {type(module).__name__} of this method and dataset: "
                        f"{len(missing)} missing keys (first: {missing[:2]}), {len(unexpected)} unexpected "
                        f"(first: {unexpected[:2]}), {len(misshapen)} of another shape (first: {misshapen[:2]}); "
                        f"pass a checkpoint trained for it")
    module.load_state_dict(state, strict=True)


def build(factory: Callable[[], T], source: str | Path) -> T:
    """``factory()`` (a network built from a stored config), with a ``UserError`` naming ``source`` when the config
    is not one of this network's (a file of another method)."""
    try:
        return factory()
    except (TypeError, KeyError, ValueError) as error:
        raise UserError(f"{source} holds a network config this method cannot build ({error}); pass a checkpoint "
                        f"of this method") from None
