"""The optional mmseg backend: a segmenter run by mmsegmentation itself (``init_model`` + ``inference_model``), to
cross-check the native ports. It needs the ``mmseg`` extra and an mmcv build with compiled ops; nothing else does.

Label space and ground-truth mapping come from the native segmenter of the same name, so mIoU is computed the same
way through both backends.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import weights
from ...errors import UserError
from ...registry import SEGMENTERS, lookup
from ._common import check_images
from .base import Segmenter

INSTALL_HINT = ('install the extra with an mmcv build that has compiled ops for your torch: pip install -e ".[mmseg]" '
                "(mmsegmentation 1.2, mmcv 2.x full build, mmdet 3.3 for Mask2Former); the native backend, the "
                "default, needs none of them")


@dataclass(frozen=True)
class MMSegRelease:
    """One mmseg model: its config under mmseg's ``configs/``, its weights-catalog name, the packages it imports."""

    config: str
    weights: str
    needs: tuple[str, ...] = ()


RELEASES: dict[tuple[str, str], MMSegRelease] = {
    ("mask2former-swin-l", "ade20k"): MMSegRelease(
        "mask2former/mask2former_swin-l-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py", "mask2former-swin-l-ade20k",
        ("mmdet.models",)),
    ("mask2former-swin-l", "cityscapes"): MMSegRelease(
        "mask2former/mask2former_swin-l-in22k-384x384-pre_8xb2-90k_cityscapes-512x1024.py",
        "mask2former-swin-l-cityscapes", ("mmdet.models",)),
    ("upernet-r101", "ade20k"): MMSegRelease("upernet/upernet_r101_4xb4-160k_ade20k-512x512.py",
                                             "upernet-r101-ade20k-mmseg"),
}


def datasets_of(name: str) -> tuple[str, ...]:
    """The datasets for which segmenter ``name`` has an mmseg config (empty: native backend only)."""
    return tuple(dataset for segmenter, dataset in RELEASES if segmenter == name)


def release(name: str, dataset: str | None) -> tuple[str, MMSegRelease]:
    """(dataset, release) of an mmseg segmenter, or a ``UserError`` naming the pairs that exist."""
    dataset = dataset or next(iter(datasets_of(name)), "")
    if (name, dataset) not in RELEASES:
        pairs = ", ".join(f"{segmenter}/{data}" for segmenter, data in RELEASES)
        where = f" for dataset '{dataset}'" if dataset else ""
        raise UserError(f"segmenter '{name}' has no mmseg config{where}; the mmseg backend runs {pairs} (use the "
                        f"native backend for the others)")
    return dataset, RELEASES[(name, dataset)]


def check(name: str, dataset: str | None) -> tuple[str, MMSegRelease]:
    """(dataset, release) of ``name`` once mmseg, mmcv's compiled ops and the config's imports load, else a
    ``UserError`` with the fix."""
    dataset, found = release(name, dataset)
    for module in ("mmseg.apis", "mmcv.ops", *found.needs):
        try:
            importlib.import_module(module)
        except (ImportError, AssertionError, OSError) as error:   # mmseg asserts its mmcv version range on import
            detail = " ".join(str(error).split())
            raise UserError(f"the mmseg backend cannot import {module} ({detail}); {INSTALL_HINT}") from error
    return dataset, found


def config_file(found: MMSegRelease, config: str | Path | None) -> Path:
    """The user's config file, else the release's config in the installed mmseg (``<mmseg>/.mim/configs``)."""
    import mmseg

    shipped = Path(mmseg.__file__).parent / ".mim" / "configs" / found.config
    path = Path(config).expanduser() if config is not None else shipped
    if not path.is_file():
        raise UserError(f"mmseg config {path} not found; install mmsegmentation from its wheel (it ships "
                        f".mim/configs) or pass config=PATH (configs/{found.config} of an mmsegmentation checkout)")
    return path


class MMSegSegmenter(Segmenter):
    """A segmenter run through mmseg: ``net`` is mmseg's ``EncoderDecoder``, ``predict`` is ``inference_model``
    (mmseg's own test pipeline: resize, normalise, pad, resize back). ``config``: another mmseg config file."""

    def __init__(self, name: str, dataset: str | None = None, checkpoint: str | Path | None = None,
                 pretrained: bool = True, device: str = "cpu", config: str | Path | None = None,
                 **options: Any) -> None:
        if options:
            raise UserError(f"the mmseg backend takes no option(s) {', '.join(sorted(options))}: its config sets "
                            f"them (pass config=PATH for another one)")
        self.dataset, found = check(name, dataset)
        from mmseg.apis import init_model

        with torch.device("meta"):   # label space and label mapping only: no weights, no memory
            self.native = lookup(SEGMENTERS, name)(dataset=self.dataset, pretrained=False, device="meta")
        self.name, self.datasets = name, datasets_of(name)
        self.label_space = self.native.label_space
        self.config = config_file(found, config)
        self.input_size = f"mmseg test pipeline of {self.config.name}"
        self.weights = {self.dataset: found.weights}
        self.device = torch.device(device)
        file = weights.path(found.weights, checkpoint) if pretrained or checkpoint is not None else None
        self.net = init_model(str(self.config), str(file) if file is not None else None, device=str(self.device))

    def map_labels(self, labels: torch.Tensor, dataset: str) -> torch.Tensor:
        """The native segmenter's mapping of ``dataset`` ground truth."""
        return self.native.map_labels(labels, dataset)

    def bgr_arrays(self, images: torch.Tensor) -> list[np.ndarray]:
        """uint8 RGB ``[B, 3, H, W]`` -> HxWx3 BGR uint8 arrays, what mmseg's ``LoadImageFromNDArray`` expects."""
        check_images(images, self.name)
        return [np.ascontiguousarray(image) for image in images.flip(1).permute(0, 2, 3, 1).cpu().numpy()]

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """The ``inputs`` of mmseg's data_preprocessor after its test pipeline, prepared by ``inference_model``'s own
        helper."""
        from mmseg.apis.inference import _preprare_data

        data, _ = _preprare_data(self.bgr_arrays(images), self.net)
        return self.net.data_preprocessor(data, False)["inputs"]

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        from mmseg.apis import inference_model

        results = inference_model(self.net, self.bgr_arrays(images))
        return torch.stack([result.pred_sem_seg.data[0] for result in results]).to(torch.int64)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backend": "mmseg", "dataset": self.dataset, "config": self.config.name}
