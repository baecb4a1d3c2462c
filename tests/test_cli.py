"""`bench` sub-commands other than run (run is covered by test_runner.py)."""

import json

import pytest

from semsynth.cli import main
from semsynth.store import read_png


def test_sample_writes_labelled_layout_real_and_seed_tiles_enlarged_to_256(tmp_path, capsys):
    from semsynth.reporting.grid import LABEL_HEIGHT, enlarge

    out = tmp_path / "grid.png"
    assert main(["sample", "--method", "shapes-oracle", "--dataset", "shapes", "--index", "2", "--seeds", "0-2",
                 "--out", str(out)]) == 0
    grid = read_png(out)
    assert grid.shape == (3, LABEL_HEIGHT + 256, 5 * 256 + 4 * 2)     # layout | real | three samples, 2-px gaps
    tiles = [grid[:, LABEL_HEIGHT:, i * 258:i * 258 + 256] for i in range(5)]
    assert not any(tiles[2].equal(t) for t in (tiles[3], tiles[4]))   # seeds differ
    small = tiles[2][:, ::4, ::4]                                      # each 64x64 pixel became a 4x4 square
    assert tiles[2].equal(enlarge(small, 4))
    from semsynth.datasets.shapes import Shapes
    assert tiles[1].equal(enlarge(Shapes(split="val")[2].image, 4))    # the real image, enlarged
    labels = grid[:, :LABEL_HEIGHT]
    assert all((labels[:, :, i * 258:i * 258 + 256] < 128).any() for i in range(5))   # every column is labelled


def test_sample_rejects_bad_index_and_seeds(tmp_path, capsys):
    assert main(["sample", "--method", "shapes-oracle", "--index", "9999", "--out", str(tmp_path / "g.png")]) == 2
    assert "outside shapes/val" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--method", "shapes-oracle", "--seeds", "zero-three"])
    assert exit_info.value.code == 2 and "seeds must look like 0-3" in capsys.readouterr().err


def test_list_kinds(capsys):
    for kind in ("methods", "datasets", "metrics", "segmenters", "weights", "protocols"):
        assert main(["list", kind]) == 0
    out = capsys.readouterr().out
    for name in ("real", "shapes-oracle", "shapes", "fid", "miou", "lpips", "shapes-segnet", "semsynth-v1"):
        assert name in out


def test_weights_list_verifies_the_shipped_network(capsys):
    assert main(["weights", "list"]) == 0
    line = [row for row in capsys.readouterr().out.splitlines() if row.startswith("shapes-segnet ")][0]
    assert " ok " in line
    assert main(["weights", "path", "shapes-segnet"]) == 0
    assert capsys.readouterr().out.strip().endswith("shapes_segnet.safetensors")


def test_train_segnet_command_writes_loadable_weights(tmp_path):
    from semsynth import load_segmenter

    out = tmp_path / "segnet.safetensors"
    assert main(["train", "--segmenter", "shapes-segnet", "--steps", "2", "--batch-size", "4", "--out", str(out),
                 "--quiet"]) == 0
    seg = load_segmenter("shapes-segnet", dataset="shapes", checkpoint=out)
    import torch

    assert seg.predict(torch.zeros(1, 3, 64, 64, dtype=torch.uint8)).shape == (1, 64, 64)


@pytest.mark.parametrize("method", ["sdm", "inade"])
def test_train_method_command_runs_resumes_and_exports(tmp_path, method, capsys):
    out = tmp_path / method
    args = ["train", "--method", method, "--dataset", "shapes", "--batch-size", "2", "--out", str(out), "--quiet"]
    assert main([*args, "--steps", "1"]) == 0
    assert main([*args, "--steps", "2"]) == 0            # resumes from step 1
    log = (out / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log][-1] == 2
    assert list(out.glob("*.safetensors")) and "trained:" in capsys.readouterr().out
