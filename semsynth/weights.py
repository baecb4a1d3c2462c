"""The catalog of pretrained files: name, official file name, source, sha256, licence, users; lookup and verify.

Modules add their entries with ``register(WeightSpec(...))`` next to the code that uses them (timm-style
pretrained configs as data). Lookup order: an explicit path, ``$SEMSYNTH_WEIGHTS``, ``~/.cache/semsynth/weights``,
then files shipped inside the package (``semsynth/assets``). Nothing downloads implicitly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MissingWeightsError, UserError

ASSETS = Path(__file__).parent / "assets"


@dataclass(frozen=True)
class WeightSpec:
    """One pretrained file. ``sha256`` is None where the official release publishes none and none was measured."""

    name: str
    file: str
    url: str
    sha256: str | None = None
    licence: str = "unknown"
    users: tuple[str, ...] = ()
    note: str = ""
    shipped: bool = False                      # lives in semsynth/assets (small `shapes` networks)
    aliases: tuple[str, ...] = field(default=())   # other official file names accepted for the same weights


CATALOG: dict[str, WeightSpec] = {}


def register(spec: WeightSpec) -> WeightSpec:
    existing = CATALOG.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"weights '{spec.name}' registered twice with different entries")
    CATALOG[spec.name] = spec
    return spec


def spec(name: str) -> WeightSpec:
    from .registry import load_plugins

    load_plugins()
    if name not in CATALOG:
        raise UserError(f"unknown weights '{name}'; see `bench weights list`")
    return CATALOG[name]


def search_dirs() -> list[Path]:
    """Where weight files are looked for, in order."""
    dirs = []
    if os.environ.get("SEMSYNTH_WEIGHTS"):
        dirs.append(Path(os.environ["SEMSYNTH_WEIGHTS"]).expanduser())
    dirs.append(cache_root() / "weights")
    dirs.append(ASSETS)
    return dirs


def cache_root() -> Path:
    """``$SEMSYNTH_CACHE`` or ``$XDG_CACHE_HOME/semsynth`` or ``~/.cache/semsynth``."""
    if os.environ.get("SEMSYNTH_CACHE"):
        return Path(os.environ["SEMSYNTH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "semsynth"


def find(name: str, path: str | Path | None = None) -> Path | None:
    """The file of weights ``name`` (explicit ``path`` first), or None when it is nowhere."""
    if path is not None:
        path = Path(path).expanduser()
        return path if path.is_file() else None
    entry = spec(name)
    for folder in search_dirs():
        for file in (entry.file, *entry.aliases):
            candidate = folder / file
            if candidate.is_file():
                return candidate
    return None


def path(name: str, path: str | Path | None = None) -> Path:
    """Like ``find`` but raises ``MissingWeightsError`` naming the file, the places searched and the source."""
    found = find(name, path)
    if found is not None:
        return found
    if path is not None:
        raise MissingWeightsError(f"weights file {path} does not exist; pass the path of the downloaded file")
    entry = spec(name)
    places = ", ".join(str(folder) for folder in search_dirs())
    raise MissingWeightsError(
        f"missing weights '{name}': file {entry.file} not found in {places}; download it from {entry.url} "
        f"into one of those folders (or set SEMSYNTH_WEIGHTS), or pass its path explicitly"
    )


def sha256(file: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(name: str, file: str | Path | None = None) -> str:
    """'ok', 'missing', 'unverified' (no sha256 known) or 'MISMATCH' for weights ``name``."""
    found = find(name, file)
    if found is None:
        return "missing"
    expected = spec(name).sha256
    if expected is None:
        return "unverified"
    return "ok" if sha256(found) == expected else "MISMATCH"
