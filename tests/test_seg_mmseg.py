"""The optional mmseg segmenter backend: clear errors without mmseg, the runner and record wiring (through a stand-in
mmseg), and, where mmseg is installed, the same Mask2Former predictions through mmseg's own inference and the port."""

from __future__ import annotations

import copy
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import semsynth
from semsynth.cli import main
from semsynth.errors import UserError
from semsynth.evaluators.segmenters import mmseg_backend
from semsynth.evaluators.segmenters._common import load_strict

PAIRS = "mask2former-swin-l/ade20k, mask2former-swin-l/cityscapes, upernet-r101/ade20k"


def mmseg_works() -> bool:
    try:
        mmseg_backend.check("mask2former-swin-l", "ade20k")
    except UserError:
        return False
    return True


@pytest.mark.skipif(mmseg_works(), reason="mmseg is installed: the install hint is not shown")
def test_without_mmseg_the_error_says_how_to_install_it():
    with pytest.raises(UserError, match=r'pip install -e "\.\[mmseg\]"') as error:
        semsynth.load_segmenter("mask2former-swin-l", backend="mmseg")
    assert "\n" not in str(error.value) and "native backend" in str(error.value)


@pytest.mark.parametrize("name,dataset", [("drn-d-105", "cityscapes"), ("deeplabv2-r101", "cocostuff"),
                                          ("hrnet-w48", "cityscapes"), ("unet-celebamask", "celebamask"),
                                          ("mask2former-swin-l", "cocostuff"), ("mask2former-swin-l", "celebamask")])
def test_pairs_without_an_mmseg_config_are_refused(name, dataset):
    with pytest.raises(UserError, match=f"'{name}' has no mmseg config for dataset '{dataset}'") as error:
        semsynth.load_segmenter(name, dataset=dataset, backend="mmseg")
    assert PAIRS in str(error.value)


def test_unknown_backend_and_native_options_are_refused():
    with pytest.raises(UserError, match="unknown segmenter backend 'mmdet'"):
        semsynth.load_segmenter("upernet-r101", backend="mmdet")
    with pytest.raises(UserError, match="takes no option.* img_sizes"):
        semsynth.load_segmenter("upernet-r101", backend="mmseg", img_sizes=(256,))


def test_bench_run_on_shapes_with_mmseg_backend_fails_in_one_line(tmp_path, capsys):
    args = ["run", "--method", "real", "--dataset", "shapes", "--limit", "2", "--out", str(tmp_path), "--quiet",
            "--segmenter-backend", "mmseg"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "'shapes-segnet' has no mmseg config" in err and "--metrics" in err
    assert main([*args, "--metrics", "fid"]) == 2
    assert "computes no mIoU" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())            # refused before anything was generated


def test_bench_list_segmenters_names_the_mmseg_datasets(capsys):
    assert main(["list", "segmenters"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["mask2former-swin-l"].endswith("mmseg backend: ade20k, cityscapes")
    assert lines["upernet-r101"].endswith("mmseg backend: ade20k") and "mmseg" not in lines["drn-d-105"]


@pytest.fixture
def stand_in_mmseg(tmp_path, monkeypatch):
    """A stand-in mmseg whose ``init_model``/``inference_model`` run the native shapes network on the HxWx3 BGR
    arrays mmseg receives, registered for (shapes-segnet, shapes): it exercises the wiring without mmseg."""
    configs = tmp_path / "mmseg" / ".mim" / "configs"
    (configs / "shapes").mkdir(parents=True)
    (configs / "shapes" / "segnet.py").write_text("model = dict()\n")
    calls = []

    def init_model(config, checkpoint=None, device="cuda:0"):
        calls.append((Path(config), checkpoint, device))
        return semsynth.load_segmenter("shapes-segnet", dataset="shapes", checkpoint=checkpoint, device=device)

    def inference_model(model, imgs):
        assert all(img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 for img in imgs)
        labels = model.predict(torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).flip(1))
        return [SimpleNamespace(pred_sem_seg=SimpleNamespace(data=label[None].to(torch.uint8))) for label in labels]

    mmseg = types.ModuleType("mmseg")
    mmseg.__file__ = str(tmp_path / "mmseg" / "__init__.py")
    mmseg.apis = types.ModuleType("mmseg.apis")
    mmseg.apis.init_model, mmseg.apis.inference_model = init_model, inference_model
    for name, module in {"mmseg": mmseg, "mmseg.apis": mmseg.apis, "mmcv": types.ModuleType("mmcv"),
                         "mmcv.ops": types.ModuleType("mmcv.ops")}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(mmseg_backend.RELEASES, ("shapes-segnet", "shapes"),
                        mmseg_backend.MMSegRelease("shapes/segnet.py", "shapes-segnet"))
    return calls


def test_segmenter_takes_the_native_label_space_and_feeds_bgr(stand_in_mmseg):
    seg = semsynth.load_segmenter("shapes-segnet", dataset="shapes", backend="mmseg")
    native = semsynth.load_segmenter("shapes-segnet", dataset="shapes")
    config, checkpoint, device = stand_in_mmseg[0]
    assert config.name == "segnet.py" and checkpoint.endswith("shapes_segnet.safetensors") and device == "cpu"
    assert seg.label_space == native.label_space and seg.datasets == ("shapes",)
    assert seg.describe() == {"segmenter": "shapes-segnet", "input_size": "mmseg test pipeline of segnet.py",
                              "backend": "mmseg", "dataset": "shapes", "config": "segnet.py"}
    images = semsynth.load_dataset("shapes")[0].image[None].repeat(2, 1, 1, 1)
    labels = seg.predict(images)
    assert labels.dtype == torch.int64 and torch.equal(labels, native.predict(images))
    assert torch.equal(seg.map_labels(torch.tensor([[0, 1]]), "shapes"), native.map_labels(torch.tensor([[0, 1]]),
                                                                                           "shapes"))


def test_run_records_the_backend_and_resume_does_not_mix_backends(stand_in_mmseg, tmp_path, capsys):
    base = ["run", "--method", "real", "--dataset", "shapes", "--limit", "3", "--metrics", "miou", "--quiet"]
    records = {}
    for backend in ("native", "mmseg"):
        assert main([*base, "--segmenter-backend", backend, "--out", str(tmp_path / backend)]) == 0
        (result,) = (tmp_path / backend).glob("*/result.json")
        records[backend] = (result.parent, json.loads(result.read_text())["metrics"]["miou"])
    (native_dir, native), (mmseg_dir, mmseg) = records["native"], records["mmseg"]
    assert mmseg["backend"] == "mmseg" and "backend" not in native
    assert mmseg["value"] == native["value"] and mmseg["per_class"] == native["per_class"]
    assert "segmenter_backend" not in json.loads((native_dir / "run.json").read_text())["identity"]
    capsys.readouterr()
    for run_dir, other in ((native_dir, "mmseg"), (mmseg_dir, "native")):
        assert main([*base, "--segmenter-backend", other, "--resume", str(run_dir)]) == 2
        assert "other inputs (metrics: " in capsys.readouterr().err      # the miou spec names its backend


# -- with mmseg installed -----------------------------------------------------------------------------------------

def test_installed_mmseg_ships_the_configs():
    pytest.importorskip("mmseg")
    for found in mmseg_backend.RELEASES.values():
        assert mmseg_backend.config_file(found, None).is_file()


def test_mmseg_and_native_mask2former_give_the_same_labels(tmp_path):
    """mmseg builds the reduced golden Mask2Former (random init) from a config file; the port takes its state_dict
    unchanged; both predict the same labels at the images' own size (the config's test pipeline does not resize)."""
    pytest.importorskip("mmseg")
    pytest.importorskip("mmdet")
    from tests.golden import load_case

    model = copy.deepcopy(load_case("mask2former_swin").case["config_variant_A"])
    model["decode_head"]["num_classes"] = 150
    model["decode_head"]["loss_cls"]["class_weight"] = [1.0] * 150 + [0.1]
    config = tmp_path / "mask2former_swin_small.json"
    config.write_text(json.dumps({
        "default_scope": "mmseg", "custom_imports": {"imports": ["mmdet.models"], "allow_failed_imports": False},
        "model": model, "test_pipeline": [{"type": "LoadImageFromFile"}, {"type": "PackSegInputs"}]}))
    torch.manual_seed(0)
    seg = semsynth.load_segmenter("mask2former-swin-l", dataset="ade20k", pretrained=False, backend="mmseg",
                                  config=config)
    native = semsynth.load_segmenter("mask2former-swin-l", dataset="ade20k", pretrained=False, input_size="native",
                                     config=model)
    load_strict(native.net, seg.net.state_dict())
    images = torch.randint(0, 256, (3, 3, 37, 53), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(seg.preprocess(images), native.preprocess(images))
    labels = seg.predict(images)
    assert labels.dtype == torch.int64 and labels.shape == (3, 37, 53)
    assert torch.equal(labels, native.predict(images))
    assert seg.label_space == native.label_space and seg.describe()["backend"] == "mmseg"
