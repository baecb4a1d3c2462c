"""Where each built-in method, dataset, metric and segmenter lives, with its ``bench list`` line: names are known,
listed and routed to their module without importing torch. ``tests/test_hostile_cli.py`` checks it against the
registered classes (a built-in missing here, or a line that drifted from its class, fails there)."""

from __future__ import annotations

from typing import Any

# kind -> name -> (module that registers it, summary as `describe` renders it from the class)
BUILTINS: dict[str, dict[str, tuple[str, str]]] = {
    "method": {
        "dpsims": ("semsynth.methods.dpsims.method",
                   "DP-SIMS (Berrada et al., CVPR 2024): a GAN trained against a frozen pretrained-backbone "
                   "discriminator."),
        "gcdp": ("semsynth.methods.gcdp.method",
                 "Gaussian-categorical diffusion (Park et al., ICCV 2023), layout -> image by cross-modal "
                 "outpainting."),
        "inade": ("semsynth.methods.inade.method",
                  "INADE (Tan et al., CVPR 2021): ILADE-normalised SPADE generator with instance-adaptive noise."),
        "piti": ("semsynth.methods.piti.method",
                 "PITI (Wang et al. 2022): a mask encoder over a pretrained diffusion decoder, then a diffusion "
                 "upsampler."),
        "real": ("semsynth.methods.real",
                 "Returns each layout's real image (one per layout: it is deterministic). A reference, not a method."),
        "sdm": ("semsynth.methods.sdm.method",
                "Semantic Diffusion Model. Settings: ``sampler`` (ddpm | ddim | dpm-solver++), ``steps``, "
                "``guidance``"),
        "shapes-oracle": ("semsynth.methods.oracle",
                          "The ground-truth image distribution of ``shapes`` (a reference, not a method)."),
    },
    "dataset": {
        "ade20k": ("semsynth.datasets.ade20k", "151 classes, 256x256, splits train/val"),
        "celebamask": ("semsynth.datasets.celebamask", "19 classes, 256x256, splits train/test"),
        "cityscapes": ("semsynth.datasets.cityscapes", "35 classes, 256x512, splits train/val"),
        "cocostuff": ("semsynth.datasets.cocostuff", "182 classes, 256x256, splits train/val"),
        "shapes": ("semsynth.datasets.shapes", "10 classes, 64x64, splits train/val"),
    },
    "metric": {
        "clip_fid": ("semsynth.evaluators.clip_fid",
                     "The Fréchet distance on CLIP ViT-B/32 image embeddings (backbone ``clip-vit-b32``); "
                     "options as ``fid``."),
        "fid": ("semsynth.evaluators.fid", "Fréchet distance between generated and real feature statistics."),
        "fsd": ("semsynth.evaluators.fsd",
                "Fréchet Segmentation Distance on per-image class pixel fractions (module docstring)."),
        "kid": ("semsynth.evaluators.kid",
                "Seeded KID on the same backbones and reference splits as ``fid``; ``seed``, ``subsets`` and"),
        "lpips": ("semsynth.evaluators.lpips_diversity",
                  "LPIPS-style diversity, ``pairing`` ``all-pairs`` or ``random-groups`` (``pairs``, ``seed``; "
                  "module docstring)."),
        "mcsd": ("semsynth.evaluators.region_diversity",
                 "mCSD (value; diversity inside a resampled class) with mOCD (the other classes' change)."),
        "miou": ("semsynth.evaluators.miou", "mIoU of a segmenter on generated images against their layouts."),
        "misd": ("semsynth.evaluators.region_diversity",
                 "mISD (value; diversity inside a resampled instance) with mOID (the other instances' change)."),
        "swav_fid": ("semsynth.evaluators.swav_fid",
                     "The Fréchet distance on SwAV ResNet-50 features (backbone ``swav-r50``); options as ``fid``."),
        "texture": ("semsynth.evaluators.texture_fidelity",
                    "Per-segment texture fidelity against the true ``shapes`` process (see the module docstring)."),
    },
    "segmenter": {
        "deeplabv2-r101": ("semsynth.evaluators.segmenters.deeplabv2",
                           "datasets cocostuff; input own size (256x256 in the SIS papers); MSC scales 1, 0.75, 0.5; "
                           "weights cocostuff: deeplabv2-r101-cocostuff164k"),
        "drn-d-105": ("semsynth.evaluators.segmenters.drn",
                      "datasets cityscapes; input own size (H, W multiples of 8; 256x512 in OASIS/INADE); "
                      "multi_scale=True adds x0.5-1.75; weights cityscapes: drn-d-105-cityscapes"),
        "hrnet-w48": ("semsynth.evaluators.segmenters.hrnet",
                      "datasets cityscapes; input own resolution (official test: long side 2048, 1024x2048); "
                      "weights cityscapes: hrnet-w48-cityscapes"),
        "mask2former-swin-l": ("semsynth.evaluators.segmenters.mask2former",
                               "datasets ade20k, cityscapes, cocostuff, celebamask; input official test resize "
                               "(ADE20K short side 640, long <= 2560; Cityscapes 1024x2048), or own size with "
                               "input_size='native'; cocostuff/celebamask only with your checkpoint and num_classes; "
                               "weights ade20k: mask2former-swin-l-ade20k, cityscapes: mask2former-swin-l-cityscapes; "
                               "mmseg backend: ade20k, cityscapes"),
        "shapes-segnet": ("semsynth.evaluators.segmenters.shapes_segnet",
                          "datasets shapes; input 64x64; weights shapes: shapes-segnet"),
        "unet-celebamask": ("semsynth.evaluators.segmenters.unet_celebamask",
                            "datasets celebamask; input 512x512 (NEAREST resize, as the official tester); "
                            "weights celebamask: unet-celebamask-hq"),
        "upernet-r101": ("semsynth.evaluators.segmenters.upernet",
                         "datasets ade20k; input short side 256 (long <= 1000), rounded up to x32; "
                         "weights ade20k: upernet-r101-ade20k-encoder; mmseg backend: ade20k"),
    },
}


def describe(kind: str, cls: Any) -> str:
    """The ``bench list`` line of a registered class (the index holds it for built-ins; plugins are rendered)."""
    if kind == "dataset":
        h, w = cls.resolution
        return f"{cls.label_space.num_classes} classes, {h}x{w}, splits {'/'.join(cls.splits)}"
    if kind == "segmenter":
        from .evaluators.segmenters.mmseg_backend import datasets_of

        files = ", ".join(f"{d}: {w}" for d, w in cls.weights.items())
        mmseg = f"; mmseg backend: {', '.join(datasets_of(cls.name))}" if datasets_of(cls.name) else ""
        return f"datasets {', '.join(cls.datasets)}; input {cls.input_size}; weights {files}{mmseg}"
    return next(iter((cls.__doc__ or "").strip().splitlines()), "")
