"""The catalog of pretrained files: name, official file name, source, sha256, licence, users; lookup and verify.

The built-in entries are data in ``semsynth/catalog/`` (timm-style pretrained configs without torch, so listing and
checking files is fast); plugins add theirs with ``register(WeightSpec(...))``. Lookup order: an explicit path,
``$SEMSYNTH_WEIGHTS``, ``~/.cache/semsynth/weights``, then files shipped inside the package (``semsynth/assets``).
Nothing downloads implicitly.
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
    package_file: str = ""                     # "package:relative/path" of a copy shipped inside another wheel
    folder: bool = False                       # a directory (a Hugging Face model folder), never hashed


CATALOG: dict[str, WeightSpec] = {}


def register(spec: WeightSpec) -> WeightSpec:
    existing = CATALOG.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"weights '{spec.name}' registered twice with different entries")
    CATALOG[spec.name] = spec
    return spec


def load_catalog() -> None:
    """Register the built-in entries (torch-free data modules in ``semsynth/catalog``) and those of plugins."""
    from . import catalog
    from .registry import load_entry_points

    catalog.load()
    load_entry_points()


def spec(name: str) -> WeightSpec:
    load_catalog()
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


def _present(candidate: Path, folder: bool) -> bool:
    return candidate.is_dir() if folder else candidate.is_file()


def find(name: str | None, path: str | Path | None = None) -> Path | None:
    """The file (or, for a ``folder`` entry, the directory) of weights ``name`` (explicit ``path`` first), or None
    when it is nowhere."""
    folder_entry = name is not None and spec(name).folder
    if path is not None:
        path = Path(path).expanduser()
        return path if _present(path, folder_entry) else None
    entry = spec(name)
    for folder in search_dirs():
        for file in (entry.file, *entry.aliases):
            candidate = folder / file
            if _present(candidate, entry.folder):
                return candidate
    return _in_package(entry.package_file) if entry.package_file else None


def _in_package(package_file: str) -> Path | None:
    """The file ``relative/path`` inside the installed ``package`` (from "package:relative/path"), if present."""
    import importlib.util

    package, _, relative = package_file.partition(":")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    candidate = Path(list(found.submodule_search_locations)[0]) / relative
    return candidate if candidate.is_file() else None


def path(name: str | None, path: str | Path | None = None) -> Path:
    """The file to load: ``path`` when given (it must exist), else the catalog file of ``name``, refused when its
    sha256 differs from the catalog's. Raises ``MissingWeightsError`` naming the file, the places searched and the
    source."""
    if path is None and name is None:
        raise UserError("no weights file: pass a checkpoint path")
    found = find(name, path)
    if found is not None:
        if path is None:
            check(name, found)
        return found
    if path is not None:
        if Path(path).expanduser().exists():
            if name is not None and spec(name).folder:
                raise UserError(f"weights path {path} is not a folder; '{name}' is a folder ({spec(name).note})")
            raise UserError(f"weights path {path} is not a file (a folder?); pass the path of the weights file itself")
        raise MissingWeightsError(f"weights file {path} does not exist; pass the path of the downloaded file")
    entry = spec(name)
    places = ", ".join(str(folder) for folder in search_dirs())
    if entry.shipped:
        raise MissingWeightsError(f"missing shipped weights '{name}' ({entry.file} not in {places}); reinstall "
                                  f"semsynth-bench, or {entry.url}")
    if entry.folder:
        raise MissingWeightsError(f"missing weights '{name}': folder {entry.file} not found in {places}; "
                                  f"{entry.note}")
    raise MissingWeightsError(
        f"missing weights '{name}': file {entry.file} not found in {places}; download it from {entry.url} "
        f"into one of those folders (or set SEMSYNTH_WEIGHTS), or pass its path explicitly"
    )


def check(name: str, file: Path) -> None:
    """Raise ``UserError`` when catalog file ``file`` of weights ``name`` has another sha256 than the catalog's."""
    expected = spec(name).sha256
    if expected is None:
        return
    actual = sha256(file)
    if actual != expected:
        entry = spec(name)
        fix = ("remove it so that the shipped copy is used (or reinstall semsynth-bench)" if entry.shipped
               else f"replace it with the original from {entry.url} (bench weights fetch {name})")
        raise UserError(f"weights file {file} ('{name}') has sha256 {actual}, the catalog expects {expected}; "
                        f"{fix}, or pass it as an explicit checkpoint path to use it anyway")


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256(file: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of ``file``, computed once per process for each (path, mtime, size)."""
    stat = os.stat(file)
    key = (str(Path(file).resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def verify(name: str, file: str | Path | None = None) -> str:
    """'ok', 'missing', 'unverified' (no sha256 known) or 'MISMATCH' for weights ``name``."""
    found = find(name, file)
    if found is None:
        return "missing"
    expected = spec(name).sha256
    if expected is None:
        return "unverified"
    return "ok" if sha256(found) == expected else "MISMATCH"


def fetch(name: str, dest: str | Path | None = None, progress: bool = True) -> Path:
    """Download weights ``name`` into ``dest`` (default: the cache's weights folder) with a progress bar, check its
    sha256 (or, without a known one, that it is a torch or safetensors file) and rename it into place atomically; a
    network failure, a wrong hash or a non-checkpoint raises a ``UserError`` and leaves no file or new folder."""
    import tempfile
    import urllib.error
    import urllib.request

    from tqdm import tqdm

    entry = spec(name)
    folder = Path(dest).expanduser() if dest is not None else cache_root() / "weights"
    target = folder / entry.file
    if entry.shipped or not entry.url.startswith(("http://", "https://")):
        raise UserError(f"weights '{name}' cannot be fetched: {entry.url or 'no source URL'}")
    if entry.folder:
        raise UserError(f"weights '{name}' is a folder that bench cannot fetch: {entry.note}")
    created = [parent for parent in (target.parent, *target.parent.parents) if not parent.exists()]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)    # entry.file may keep the release's folder name
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as error:
        _remove_empty(created)
        raise UserError(f"cannot write weights into {target.parent}: {error.strerror or error}; choose a writable "
                        f"folder (SEMSYNTH_CACHE or SEMSYNTH_WEIGHTS)") from None
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(entry.url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=entry.file, disable=not progress) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if entry.sha256 is not None and digest.hexdigest() != entry.sha256:
            raise UserError(f"download of '{name}' from {entry.url} has sha256 {digest.hexdigest()}, expected "
                            f"{entry.sha256}; retry, or download the file by hand into {folder}")
        if entry.sha256 is None:   # unauthenticated: at least make sure it is no web page
            refuse_non_checkpoint(Path(temporary), f"download of '{name}' from {entry.url}", folder)
        os.replace(temporary, target)
    except (urllib.error.URLError, OSError) as error:
        raise UserError(f"could not download weights '{name}' from {entry.url} ({error}); download it by hand "
                        f"into {folder} (or set SEMSYNTH_WEIGHTS)") from error
    finally:
        Path(temporary).unlink(missing_ok=True)
        if not target.exists():
            _remove_empty(created)
    return target


def refuse_non_checkpoint(file: Path, what: str, folder: Path) -> None:
    """Raise ``UserError`` unless ``file`` starts like a torch or safetensors file: a link without a published
    sha256 (Google Drive) can answer with an HTML page instead of the checkpoint."""
    from .checkpoints import describe_non_checkpoint, file_format, read_head

    kind = file_format(read_head(file))
    if kind not in ("torch", "safetensors"):
        raise UserError(f"{what} is not a checkpoint: {describe_non_checkpoint(file, kind)}; nothing was saved. "
                        f"Download the file by hand in a browser into {folder}")


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed download created (deepest first), leaving any that is not empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def rows(check: bool = False) -> list[dict[str, str]]:
    """One row per catalog entry for ``bench weights list`` (``check=True`` hashes present files: ``verify``)."""
    load_catalog()
    table = []
    for name in sorted(CATALOG):
        entry = CATALOG[name]
        found = find(name)
        status = verify(name) if check else ("present" if found is not None else "missing")
        table.append({"name": name, "file": entry.file, "status": status, "path": str(found or ""),
                      "sha256": entry.sha256 or "", "licence": entry.licence, "users": ", ".join(entry.users),
                      "url": entry.url, "note": entry.note})
    return table
