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
HEAD_BYTES = 64                       # enough of a file's start to tell its format
SAFETENSORS_HEADER_MAX = 100 << 20    # the safetensors library's own limit on the JSON header
# Files written before this module stored INADE's options under their own key; they must load unchanged.
LEGACY_CONFIG_KEYS = ("inade_options",)


def file_format(head: bytes) -> str | None:
    """What the first bytes of a file say it is: 'safetensors', 'torch' (torch.save's zip or legacy pickle
    format), 'html' (a web page saved in place of a download, e.g. a Google Drive warning page) or None."""
    if head.startswith(b"PK\x03\x04") or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"):
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= SAFETENSORS_HEADER_MAX:
        return "safetensors"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<?xml")):
        return "html"
    return None


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of ``path``; a ``UserError`` when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError as error:
        raise UserError(f"cannot read weights file {path}: {error.strerror or error}") from None


def load(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Float32 tensors of a checkpoint and its stored config (None for official torch files). The format is read
    from the file's first bytes, not its name. Torch files may hold the state_dict bare or under
    'state_dict'/'model'; DataParallel's 'module.' prefixes are removed."""
    path = Path(path)
    kind = file_format(read_head(path))
    if kind == "safetensors":
        state, config = _load_safetensors(path)
    elif kind == "torch":
        state, config = read_torch(path), None
    else:
        raise UserError(f"{path} is not a checkpoint: {describe_non_checkpoint(path, kind)}; pass a torch "
                        f"state_dict file or a semsynth .safetensors")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} holds no tensor state_dict; pass an official checkpoint or a semsynth .safetensors")
    return {key.removeprefix("module."): value.float() if value.is_floating_point() else value
            for key, value in state.items()}, config


def describe_non_checkpoint(path: Path, kind: str | None) -> str:
    """Why ``path`` (of ``file_format`` ``kind``) is no checkpoint, for an error message."""
    if path.stat().st_size == 0:
        return "the file is empty"
    if kind == "html":
        return "it is an HTML page (a failed or blocked download?)"
    return "neither a torch file nor safetensors"


def _load_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, RuntimeError) as error:
        raise UserError(f"cannot read weights file {path}: {_first_line(error)}") from None
    text = next((metadata[key] for key in (CONFIG_KEY, *LEGACY_CONFIG_KEYS) if key in metadata), None)
    if not text:
        return state, None
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        config = None
    if not isinstance(config, dict):
        raise UserError(f"{path} holds a network config that is not a JSON object; pass a checkpoint written by "
                        f"semsynth (or an official state_dict)")
    return state, config


CONTAINER_KEYS = ("state_dict", "model", "net")


def read_torch(path: str | Path) -> Any:
    """What an official torch file holds, loaded with ``weights_only=True`` (checkpoints are untrusted), with a
    ``{"state_dict"|"model"|"net": ...}`` container unwrapped; unreadable or refused files are a ``UserError``."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only" not in str(error).lower():   # a damaged pickle stream, not a refused object
            raise UserError(f"cannot read weights file {path}: {_first_line(error)}") from None
        raise UserError(f"{path} is not a plain tensor checkpoint and is refused as unsafe (it would run code "
                        f"when unpickled); convert it to a state_dict of tensors or safetensors") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise UserError(f"cannot read weights file {path}: {_first_line(error)}") from None
    for key in CONTAINER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else f"{type(error).__name__} (the file ends early: truncated?)"


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
