"""Leaderboard table: mIoU normalised by the ``real`` row of the same segmenter, mmseg cross-check runs kept apart."""

from __future__ import annotations

from semsynth.reporting.leaderboard import table


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
    assert frame.loc[(frame.method == "sdm") & (frame.segmenter == "mask2former-swin-l"), "mIoU / real"].item() == 0.5
    assert frame.loc[(frame.method == "sdm") & (frame.segmenter == "mask2former-swin-l (mmseg)"),
                     "mIoU / real"].item() == 0.8
