"""Leaderboards: mIoU normalised by the ``real`` row of the same segmenter, mmseg cross-check runs kept apart; display
names, ranking, intervals, cost, the diversity reference, refusal to replace a committed board, published numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semsynth.errors import UserError
from semsynth.reporting.leaderboard import display_names, markdown, table, write_leaderboards


def record(method: str, miou: float, created: str, backend: str | None = None) -> dict:
    entry = {"value": miou, "segmenter": "mask2former-swin-l", **({"backend": backend} if backend else {})}
    return {"method": method, "protocol": "semsynth-v1", "checkpoint": {"sha256": "ab" * 32}, "settings": {},
            "created": created, "metrics": {"miou": entry}, "n_layouts": 10, "samples_per_layout": 1}


def test_mmseg_backend_rows_are_separate_and_normalised_by_their_own_ceiling():
    frame = table([record("real", 80.0, "1"), record("sdm", 40.0, "2"),
                   record("real", 50.0, "3", "mmseg"), record("sdm", 40.0, "4", "mmseg")])
    rows = {(row.method, row.segmenter): row for row in frame.itertuples()}
    assert set(rows) == {("real", "mask2former-swin-l"), ("sdm", "mask2former-swin-l"),
                         ("real", "mask2former-swin-l (mmseg)"), ("sdm", "mask2former-swin-l (mmseg)")}
    assert set(frame["name"]) == {"real [mask2former-swin-l]", "sdm [mask2former-swin-l]",
                                  "real [mask2former-swin-l (mmseg)]", "sdm [mask2former-swin-l (mmseg)]"}
    assert frame.loc[(frame.method == "sdm") & (frame.segmenter == "mask2former-swin-l"), "mIoU / real"].item() == 0.5
    assert frame.loc[(frame.method == "sdm") & (frame.segmenter == "mask2former-swin-l (mmseg)"),
                     "mIoU / real"].item() == 0.8


def full_record(method: str, fid: float, miou: float, diversity: float | None, settings: dict | None = None,
                dataset: str = "shapes", n: int = 100, seconds: float = 0.5) -> dict:
    """A run record as `bench run` writes it, with intervals, FID-infinity, cost and device."""
    metrics = {"fid": {"value": fid, "backbone": "shapes-segnet", "n_fake": n},
               "miou": {"value": miou, "segmenter": "shapes-segnet"}}
    intervals = {"fid": {"low": fid * 0.9, "high": fid * 1.1, "resamples": 200, "seed": 0},
                 "miou": {"low": miou - 1, "high": miou + 1, "resamples": 1000, "seed": 0}}
    if diversity is not None:
        metrics["lpips"] = {"value": diversity, "backbone": "shapes-segnet"}
        intervals["lpips"] = {"low": diversity - 0.01, "high": diversity + 0.01, "resamples": 1000, "seed": 0}
    return {"schema": 1, "method": method, "dataset": dataset, "protocol": "semsynth-v1",
            "checkpoint": {"sha256": None}, "settings": settings or {}, "created": "2026-12-01T00:00:00+00:00",
            "metrics": metrics, "metrics_ci": intervals, "fid_infinity": {"fid": {"value": fid / 2}},
            "n_layouts": n, "samples_per_layout": 1 if method == "real" else 4,
            "timing": {"seconds_per_image": seconds}, "env": {"device": "cpu", "device_name": "Test CPU (2 cores)"}}


BOARD = [full_record("sdm", 0.4, 99.0, 0.5), full_record("real", 0.1, 99.5, None),
         full_record("shapes-oracle", 0.12, 99.4, 0.75),
         full_record("palette", 3.0, 98.0, 0.9, {"noise": 24.0, "ignore_layout": False}),
         full_record("palette", 25.0, 4.0, 1.4, {"noise": 24.0, "ignore_layout": True})]


def write_records(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, record in enumerate(records):
        (folder / f"r{number}.json").write_text(json.dumps(record))
    return folder


def test_rows_are_named_ranked_and_show_intervals_cost_and_the_diversity_reference():
    frame = table([json.loads(json.dumps(record)) for record in BOARD])
    assert display_names(BOARD) == ["sdm", "real", "shapes-oracle", "palette", "palette (ignore_layout)"]
    ranks = dict(zip(frame["name"], frame["rank"]))
    assert ranks == {"sdm": 1, "palette": 2, "palette (ignore_layout)": 3, "real": "ref", "shapes-oracle": "ref"}
    board = markdown("shapes", frame)
    row = next(line for line in board.splitlines() if line.startswith("| 1 | `sdm` |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "0.40 [0.36, 0.44] ⚠" and cells[3] == "0.20"          # FID with CI and warning, FID∞
    assert cells[4] == "99.00 [98.00, 100.00]" and cells[6] == "0.500 [0.490, 0.510]"
    assert cells[7] == "0.67" and cells[-2] == "0.5 (a)" and cells[-1] == "100 × 4"   # diversity / oracle
    assert "| diversity / shapes-oracle |" in board and "more is not better" in board
    assert "(a) cpu: Test CPU (2 cores)" in board and "ignore_layout=true" in board
    assert "{\"" not in board                                                  # no JSON blob in a cell
    assert "⚠ FID from fewer than 1,000 images" in board
    assert "Published numbers" not in board                                    # shapes has none


def test_a_committed_board_is_replaced_only_from_its_own_records_or_with_force(tmp_path):
    committed = write_records(tmp_path / "leaderboards" / "records", BOARD)
    out = tmp_path / "leaderboards"
    written = write_leaderboards(committed, out)
    assert written[0] == out / "shapes.md" and all(path.stat().st_size > 1000 for path in written)
    assert {path.name for path in written[1:]} == {"shapes-fid-miou.png", "shapes-diversity-fidelity.png",
                                                  "shapes-cost-fid.png"}
    before = (out / "shapes.md").read_text()
    assert "bench leaderboard --runs" in before and "![shapes-fid-miou](shapes-fid-miou.png)" in before
    mine = write_records(tmp_path / "runs", BOARD[:2])
    with pytest.raises(UserError, match="--force"):
        write_leaderboards(mine, out)
    assert (out / "shapes.md").read_text() == before
    write_leaderboards(committed, out)                                         # regenerating from its records
    write_leaderboards(mine, out, force=True)
    assert "| `palette` |" not in (out / "shapes.md").read_text()


def test_real_dataset_boards_show_the_papers_numbers_with_their_protocols():
    record = full_record("sdm", 30.0, 40.0, 0.5, dataset="ade20k")
    board = markdown("ade20k", table([record]))
    section = board[board.index("## Published numbers"):]
    sdm = section[section.index("### sdm-table1 (protocol preset `sdm-paper`)"):section.index("### sdm-table3")]
    assert "| method | FID | LPIPS |" in sdm and "Protocol as stated: fid: pytorch-fid" in sdm
    assert "| **SDM (Ours)** | 27.5 |" in sdm and "| SPADE | 22.6 (doubt 1) |" in sdm
    assert "\n1. SPADE's ADE20K" in section and "### inade-table2 (protocol preset `inade-paper`)" in section
