"""Output folders checked before a command writes anything: a path that is a file, read-only or unreachable is a
one-line ``UserError`` instead of a traceback after minutes of work, and the check itself leaves nothing behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .errors import UserError


def check_writable_folder(folder: str | Path) -> None:
    """Raise ``UserError`` unless ``folder`` is a folder this process can create files in, or could be created:
    its nearest existing ancestor must be a folder that accepts a new entry (probed, then removed; permission bits
    alone say nothing for root or on read-only mounts)."""
    folder = Path(folder).expanduser()
    existing = next(path for path in (folder, *folder.absolute().parents) if path.exists() or path == path.parent)
    if not existing.is_dir():
        what = "is" if existing == folder else f"is inside {existing}, which is"
        raise UserError(f"output folder {folder} {what} a file, not a folder; choose another output folder (--out)")
    try:
        probe = tempfile.mkdtemp(prefix=".semsynth-probe-", dir=existing)
    except OSError as error:
        raise UserError(f"output folder {folder} cannot be written ({existing}: {error.strerror or error}); choose "
                        f"a writable --out") from None
    Path(probe).rmdir()
