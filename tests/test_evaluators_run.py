"""`bench run` on the miniature ADE20K fixture with stand-in evaluator weights: FID, KID, SwAV-FID and LPIPS are
recorded with protocol and backbone; without the weights a one-line error names the missing file. The full run
streams a 299x299 Inception, a ResNet-50 and two 2048-d eigendecompositions, so it is marked slow."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import standins
from tests.fixtures_datasets import write_all


PLUGIN_PATH = Path(__file__).parent / "plugins" / "palette_plugin"     # a stochastic method: LPIPS needs K >= 2


def _bench(tmp_path, weights_dir, *args):
    env = {**os.environ, "SEMSYNTH_WEIGHTS": str(weights_dir), "SEMSYNTH_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(PLUGIN_PATH), os.environ.get("PYTHONPATH", "")])}
    data = write_all(tmp_path / "data")["ade20k"]
    return subprocess.run([sys.executable, "-m", "semsynth", "run", "--method", "palette", "--dataset", "ade20k",
                           "--data-root", str(data), "--samples-per-layout", "2", "--quiet", "--out",
                           str(tmp_path / "runs"), "--metrics", "fid,kid,swav_fid,lpips", *args],
                          capture_output=True, text=True, env=env)


def test_missing_weights_is_a_one_line_error_naming_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _bench(tmp_path, tmp_path / "empty")
    assert result.returncode == 2
    assert "inception-2015-12-05.pt" in result.stderr and "nvlabs-fi-cdn" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_run_records_fid_kid_swav_fid_lpips_with_protocol_and_backbone(tmp_path):
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    standins.inception_torchscript(weights_dir / "inception-2015-12-05.pt")
    standins.swav_resnet50(weights_dir / "swav_800ep_pretrain.pth.tar")
    standins.alexnet(weights_dir / "alexnet-owt-7be5be79.pth")
    result = _bench(tmp_path, weights_dir)
    assert result.returncode == 0, result.stderr
    record_path = [line.split("record: ", 1)[1] for line in result.stdout.splitlines() if line.startswith("record: ")]
    metrics = json.loads(Path(record_path[0]).read_text())["metrics"]
    expected = {"fid": "inception-clean", "kid": "inception-clean", "swav_fid": "swav-r50", "lpips": "lpips-alex"}
    for key, backbone in expected.items():
        assert metrics[key]["protocol"] == "semsynth-v1" and metrics[key]["backbone"] == backbone
    assert metrics["fid"]["mode"] == "clean" and metrics["kid"]["seed"] == 0
    assert metrics["lpips"]["pairing"] == "all-pairs" and metrics["lpips"]["n_layouts"] == 3
