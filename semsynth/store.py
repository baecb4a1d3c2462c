"""Sample store and result records, written atomically so that a killed run never leaves a half-written file.

``RUN_DIR/samples/<example-id>_s<seed>.png`` holds each sample; ``RUN_DIR/manifest.jsonl`` gets one line per
finished sample, appended only after its PNG is complete, so the manifest always names complete files;
``RUN_DIR/result.json`` is replaced in one rename.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file


def _write_atomic(path: str | Path, write: Callable[[str], None]) -> None:
    """Run ``write`` on a temporary file beside ``path``, then rename it over ``path`` (it is removed on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    def write(temporary: str) -> None:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())

    _write_atomic(path, write)


def atomic_write_json(path: str | Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=False) + "\n").encode())


def save_tensors_atomic(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
                        ) -> None:
    """safetensors ``save_file`` through a temporary file."""
    _write_atomic(path, lambda temporary: save_file({k: v.contiguous() for k, v in tensors.items()}, temporary,
                                                    metadata=metadata))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def save_torch_atomic(path: str | Path, value: Any) -> None:
    """``torch.save`` through a temporary file; the value must be ``weights_only``-loadable (tensors, dicts, ...)."""
    _write_atomic(path, lambda temporary: torch.save(value, temporary))


def sample_name(example_id: str, seed: int) -> str:
    return f"{example_id}_s{seed}.png"


def png_bytes(image: torch.Tensor) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def read_png(path: str | Path) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()


class SampleStore:
    """The samples of one run: PNG files plus an append-only manifest of the finished ones."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.samples = self.run_dir / "samples"
        self.manifest = self.run_dir / "manifest.jsonl"
        self.samples.mkdir(parents=True, exist_ok=True)

    def finished(self) -> set[tuple[str, int]]:
        """(example id, seed) of every sample whose manifest line is complete and whose PNG exists."""
        done = set()
        if not self.manifest.exists():
            return done
        for line in self.manifest.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a torn last line from a kill: that sample is redone
                continue
            if (self.samples / entry["file"]).is_file():
                done.add((entry["id"], int(entry["seed"])))
        return done

    def put(self, entries: Iterable[tuple[str, int, torch.Tensor]]) -> None:
        """Write each PNG atomically, then append its manifest lines in one write and fsync."""
        lines = []
        for example_id, seed, image in entries:
            name = sample_name(example_id, seed)
            atomic_write_bytes(self.samples / name, png_bytes(image))
            lines.append(json.dumps({"id": example_id, "seed": seed, "file": name}) + "\n")
        self._repair_tail()
        with open(self.manifest, "a") as file:
            file.write("".join(lines))
            file.flush()
            os.fsync(file.fileno())

    def _repair_tail(self) -> None:
        """Drop a torn final line (no newline) left by a kill in the middle of an append."""
        if not self.manifest.exists() or self.manifest.stat().st_size == 0:
            return
        with open(self.manifest, "rb+") as file:
            file.seek(-1, os.SEEK_END)
            if file.read(1) == b"\n":
                return
            file.seek(0)
            content = file.read()
            keep = content[: content.rfind(b"\n") + 1]
            file.seek(0)
            file.truncate()
            file.write(keep)

    def get(self, example_id: str, seed: int) -> torch.Tensor:
        return read_png(self.samples / sample_name(example_id, seed))
