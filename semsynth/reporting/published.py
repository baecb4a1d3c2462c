"""The papers' quantitative tables as data (one JSON file per paper), with CSV and markdown rendering.

Each table has `id`, `title`, `caption_line`, `protocol` (what the paper states) and `cells`; each cell has `method`,
`dataset`, `metric`, `value` (the printed number, "" where the paper has none), `printed` (the cell as printed, with
markup such as <b> or %), `direction` (lower/higher), `own` (the paper's own method), `line` (1-based line in the
paper file) and, where the printed table looks wrong, `doubt`.
"""
from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import UserError

PAPERS_DIR = Path(__file__).parent / "papers"
CSV_HEADER = ("table", "method", "dataset", "metric", "value")


@lru_cache(maxsize=1)
def papers() -> tuple[dict[str, Any], ...]:
    """Every paper file, parsed; each holds `paper`, `paper_file` and its `tables`."""
    return tuple(json.loads(path.read_text(encoding="utf-8")) for path in sorted(PAPERS_DIR.glob("*.json")))


def tables() -> dict[str, dict[str, Any]]:
    """Table id -> table (`title`, `protocol`, `cells`, ...), in paper order."""
    return {t["id"]: t for paper in papers() for t in paper["tables"]}


def table(table_id: str) -> list[dict[str, Any]]:
    """The cells of one table; a UserError naming the known tables for an unknown id."""
    known = tables()
    if table_id not in known:
        raise UserError(f"unknown table '{table_id}'; known tables: {', '.join(known)} (see `bench reproduce --list`)")
    return known[table_id]["cells"]


def render_csv(table_id: str) -> str:
    """The cells as CSV with the header `table,method,dataset,metric,value` (value empty where none is printed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for cell in table(table_id):
        writer.writerow((table_id, cell["method"], cell["dataset"], cell["metric"], cell["value"]))
    return out.getvalue()


def render_markdown(table_id: str) -> str:
    """The cells as a markdown table, with direction, the paper's own method and any recorded doubt."""
    lines = [f"**{table_id}**: {tables()[table_id]['title'] if table_id in tables() else ''}", "",
             "| method | dataset | metric | value | better | doubt |", "|---|---|---|---|---|---|"]
    for cell in table(table_id):
        method = f"**{cell['method']}** (own)" if cell["own"] else cell["method"]
        cells = [method, cell["dataset"], cell["metric"], cell["value"], cell["direction"], cell.get("doubt", "")]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
