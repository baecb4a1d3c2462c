"""Sample store and result records, written atomically so that a killed run never leaves a half-written file.

``RUN_DIR/samples/<key>.png`` holds each sample (``<example-id>_s<seed>`` for the plan's samples, a metric's own
key for its extra samples, ``<key>_layout`` for the layout a method generated with sample ``<key>``, a greyscale PNG
of class ids); each rank appends one line per finished sample to its own
``RUN_DIR/manifest.rank<N>.jsonl``, only after the PNG is complete, so a manifest always names complete files and
no rank ever writes into another's file (torchrun on a shared filesystem). Readers merge every rank's manifest and
the single ``manifest.jsonl`` of runs recorded before per-rank manifests. ``RUN_DIR/result.json`` is replaced in
one rename.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from .errors import UserError


TEMPORARY_PREFIX = "."     # a temporary file is ".<name>.<random hex>" beside its target


def _temporary_beside(path: Path) -> str:
    """Create an empty temporary file ``.<name>.<hex>`` beside ``path`` with the mode any new file gets (0666 less
    the umask; ``mkstemp`` would make it 0600) and return its name."""
    while True:
        temporary = path.parent / f"{TEMPORARY_PREFIX}{path.name}.{secrets.token_hex(4)}"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return str(temporary)
        except FileExistsError:
            continue


# ".<name>.<8 characters>": ours (hex) and those of earlier versions (tempfile.mkstemp)
_TEMPORARY = re.compile(r"^\..+\.(png|json|jsonl|safetensors|pt)\.[A-Za-z0-9_]{8}$")


def remove_orphans(folder: Path) -> list[Path]:
    """Delete the temporary files in ``folder`` that a killed writer left (call it only while holding the run's
    lock, so that no live writer owns them); returns them."""
    orphans = [path for path in folder.glob(".*") if path.is_file() and _TEMPORARY.match(path.name)]
    for path in orphans:
        path.unlink(missing_ok=True)
    return orphans


def _write_atomic(path: str | Path, write: Callable[[str], None]) -> None:
    """Run ``write`` on a temporary file beside ``path``, then rename it over ``path`` (it is removed on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_beside(path)
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
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n").encode())


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


def sample_key(example_id: str, seed: int) -> str:
    """The store key of the plan's sample of ``example_id`` drawn with ``seed``."""
    return f"{example_id}_s{seed}"


def layout_key(key: str) -> str:
    """The store key of the layout generated together with sample ``key`` (joint generation)."""
    return f"{key}_layout"


def png_bytes(image: torch.Tensor) -> bytes:
    """PNG of a uint8 image ``[3, H, W]``, or greyscale PNG of a label map ``[H, W]`` (class ids 0..255)."""
    import io

    if image.dim() == 2:
        if image.numel() and not 0 <= int(image.min()) <= int(image.max()) <= 255:
            raise ValueError("a label map stored as PNG needs class ids in 0..255")
        array = image.to(torch.uint8).cpu().numpy()
    else:
        array = image.permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def read_png(path: str | Path) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()


def read_label_png(path: str | Path) -> torch.Tensor:
    """int64 ``[H, W]`` class ids of a label map written by ``png_bytes``."""
    with Image.open(path) as image:
        return torch.from_numpy(np.array(image.convert("L"))).long()


class SampleStore:
    """The samples of one run: PNG files named by key, plus append-only manifests of the finished ones."""

    def __init__(self, run_dir: str | Path, rank: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.samples = self.run_dir / "samples"
        self.manifest = self.run_dir / f"manifest.rank{rank}.jsonl"
        self.samples.mkdir(parents=True, exist_ok=True)

    def manifests(self) -> list[Path]:
        """Every manifest of the run: each rank's (of this and earlier attempts) and a pre-rank ``manifest.jsonl``."""
        return sorted(self.run_dir.glob("manifest.rank*.jsonl")) + sorted(self.run_dir.glob("manifest.jsonl"))

    def finished(self) -> set[str]:
        """The key of every sample whose manifest line is complete and whose PNG exists."""
        done = set()
        for manifest in self.manifests():
            for line in manifest.read_bytes().decode("utf-8", errors="replace").splitlines():
                name = _manifest_file(line)
                if name is not None and (self.samples / name).is_file():
                    done.add(name.removesuffix(".png"))
        return done

    def put(self, entries: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Write each ``(key, image)`` PNG atomically, then append their lines to this rank's manifest in one write
        and fsync."""
        lines = []
        for key, image in entries:
            name = f"{key}.png"
            atomic_write_bytes(self.samples / name, png_bytes(image))
            lines.append(json.dumps({"key": key, "file": name}) + "\n")
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

    def get(self, key: str) -> torch.Tensor:
        return read_png(self.samples / f"{key}.png")

    def get_layout(self, key: str) -> torch.Tensor:
        """The label map stored under ``key`` (int64 ``[H, W]``)."""
        return read_label_png(self.samples / f"{key}.png")

    @property
    def cost_file(self) -> Path:
        return self.manifest.with_name(self.manifest.name.replace("manifest", "cost").replace(".jsonl", ".json"))

    def add_generation_time(self, seconds: float, images: int) -> None:
        """Add one batch's generation time to this rank's ``cost.rank<N>.json``, so that the cost per image survives
        resumes (a resume that generates nothing still reports what the samples cost)."""
        cost = _read_cost(self.cost_file)
        atomic_write_json(self.cost_file, {"generate_s": cost["generate_s"] + seconds,
                                           "images": cost["images"] + images})

    def generation_cost(self) -> dict[str, Any]:
        """``seconds_per_image`` (generation seconds per image on one process, over every rank and attempt) and
        the number of images it was measured on; empty when nothing was timed."""
        costs = [_read_cost(path) for path in sorted(self.run_dir.glob("cost.rank*.json"))]
        images = sum(cost["images"] for cost in costs)
        if not images:
            return {}
        return {"seconds_per_image": sum(cost["generate_s"] for cost in costs) / images, "timed_images": images}

    def readable(self, key: str, size: tuple[int, int], mode: str = "RGB") -> bool:
        """Whether the PNG of ``key`` is whole (all chunks and checksums) and decodes to an image of ``mode`` ("RGB";
        "L" for a label map) and ``size`` (H, W); a file truncated or replaced behind the manifest's back is not."""
        path = self.samples / f"{key}.png"
        try:
            with Image.open(path) as image:
                image.verify()              # every chunk's CRC, up to the closing chunk
            with Image.open(path) as image:
                image.load()
                return image.mode == mode and image.size == (size[1], size[0])
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            return False

    def remove_orphans(self) -> list[Path]:
        """Temporary files of the run folder and its samples left by a killed writer, deleted (lock held)."""
        return remove_orphans(self.run_dir) + remove_orphans(self.samples)


class RunLock:
    """An exclusive ``flock`` on ``RUN_DIR/.lock``, held while this process lives: a second process on the same
    run folder is refused with the holder's PID. The kernel drops the lock when its process ends, SIGKILL
    included, so a killed run never leaves a stale lock."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / ".lock"
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            holder = self.path.read_text().strip() or "unknown"
            raise UserError(f"run folder {run_dir} is in use by process {holder} (another `bench run` on it); "
                            f"wait until that process ends, or stop it") from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        self.descriptor: int | None = descriptor

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


def _read_cost(path: Path) -> dict[str, Any]:
    """A rank's accumulated generation time (zero when absent or unreadable)."""
    try:
        cost = json.loads(path.read_text())
        return {"generate_s": float(cost["generate_s"]), "images": int(cost["images"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {"generate_s": 0.0, "images": 0}


def _manifest_file(line: str) -> str | None:
    """The sample file a manifest line names, or None for a line that is not one of ours (a torn last line from
    a kill, or damage): that sample is then generated again. Names outside ``samples/`` are never accepted."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    name = entry.get("file") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name.endswith(".png") or Path(name).name != name:
        return None
    return name
