"""The one way plots are written: matplotlib's Agg backend, ``tight_layout``, PNG at 110 dpi, atomically."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401  (re-exported: the plot modules draw with it)

from ...store import atomic_write_bytes  # noqa: E402


def save_png(figure: Any, path: Path, crop: bool = False) -> Path:
    """Write ``figure`` to ``path`` and close it; ``crop`` trims to the drawn area (keeps legends placed outside
    the axes)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight" if crop else None)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
