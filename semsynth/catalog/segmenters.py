"""Catalog entries of the segmenters behind mIoU (semsynth/evaluators/segmenters/): the official releases the
ports load, and the mmseg backend's own files."""

from ..weights import WeightSpec, register

_MMSEG = "https://download.openmmlab.com/mmsegmentation/v0.5/mask2former/"
_D2 = "https://dl.fbaipublicfiles.com/maskformer/mask2former/"
_MMSEG_NOTE = ("mmseg EncoderDecoder state_dict ('state_dict' in the file). OpenMMLab's publish_model names files "
               "with the first 8 hex digits of their sha256: {} (the full sha256 is not published)")
_D2_NOTE = ("detectron2 pickle of numpy arrays, read with a restricted unpickler and renamed by the documented key "
            "map in segmenters/_detectron2.py; test-time padding to a multiple of 32 as detectron2 does")
_USERS = ("segmenter mask2former-swin-l",)
for _spec in (
    WeightSpec("mask2former-swin-l-ade20k",
               "mask2former_swin-l-in22k-384x384-pre_8xb2-160k_ade20k-640x640_20221203_235933-5cc76a78.pth",
               _MMSEG + "mask2former_swin-l-in22k-384x384-pre_8xb2-160k_ade20k-640x640/"
               "mask2former_swin-l-in22k-384x384-pre_8xb2-160k_ade20k-640x640_20221203_235933-5cc76a78.pth",
               licence="Apache-2.0 (open-mmlab/mmsegmentation)", users=_USERS,
               note="ADE20K 150 classes, 56.01 mIoU. " + _MMSEG_NOTE.format("5cc76a78")),
    WeightSpec("mask2former-swin-l-cityscapes",
               "mask2former_swin-l-in22k-384x384-pre_8xb2-90k_cityscapes-512x1024_20221202_141901-dc2c2ddd.pth",
               _MMSEG + "mask2former_swin-l-in22k-384x384-pre_8xb2-90k_cityscapes-512x1024/"
               "mask2former_swin-l-in22k-384x384-pre_8xb2-90k_cityscapes-512x1024_20221202_141901-dc2c2ddd.pth",
               licence="Apache-2.0 (open-mmlab/mmsegmentation)", users=_USERS,
               note="Cityscapes 19 trainIds, 83.65 mIoU. " + _MMSEG_NOTE.format("dc2c2ddd")),
    WeightSpec("mask2former-swin-l-ade20k-detectron2", "model_final_6b4a3a.pkl",
               _D2 + "ade20k/semantic/maskformer2_swin_large_IN21k_384_bs16_160k_res640/model_final_6b4a3a.pkl",
               licence="MIT (facebookresearch/Mask2Former)", users=_USERS,
               note="ADE20K 150 classes, 56.1 mIoU (detectron2 release). " + _D2_NOTE),
    WeightSpec("mask2former-swin-l-cityscapes-detectron2", "model_final_17c1ee.pkl",
               _D2 + "cityscapes/semantic/maskformer2_swin_large_IN21k_384_bs16_90k/model_final_17c1ee.pkl",
               licence="MIT (facebookresearch/Mask2Former)", users=_USERS,
               note="Cityscapes 19 trainIds, 83.3 mIoU (detectron2 release). " + _D2_NOTE),
):
    register(_spec)

register(WeightSpec(
    name="deeplabv2-r101-cocostuff164k",
    file="deeplabv2_resnet101_msc-cocostuff164k-100000.pth",
    url="https://github.com/kazuto1011/deeplab-pytorch/releases/download/v1.0/"
        "deeplabv2_resnet101_msc-cocostuff164k-100000.pth",
    licence="MIT (kazuto1011/deeplab-pytorch)", users=("segmenter deeplabv2-r101",),
    note="DeepLabV2_ResNet101_MSC(182) state_dict (keys 'base.*'), COCO-Stuff 164k, 182 classes"))
register(WeightSpec(
    name="drn-d-105-cityscapes", file="drn-d-105_ms_cityscapes.pth",
    url="the fyu/drn README's model folder http://go.yf.io/drn-cityscapes-models (a page, not the file)",
    licence="BSD-3-Clause (fyu/drn)", users=("segmenter drn-d-105",),
    note="DRNSeg('drn_d_105', 19) state_dict, 19 Cityscapes trainIds"))

_UPERNET_FILE = "upernet_r101_512x512_160k_ade20k_20200615_161951-91b32684.pth"
register(WeightSpec(
    "upernet-r101-ade20k-mmseg", _UPERNET_FILE,
    "https://download.openmmlab.com/mmsegmentation/v0.5/upernet/upernet_r101_512x512_160k_ade20k/" + _UPERNET_FILE,
    licence="Apache-2.0 (open-mmlab/mmsegmentation)", users=("segmenter upernet-r101 (mmseg backend)",),
    note="mmseg's own UperNet-R101 on ADE20K (150 classes, 43.82 mIoU), for cross-checks with --segmenter-backend "
         "mmseg: a different model from CSAIL's release that the native upernet-r101 ports. The file name carries "
         "the first 8 hex digits of its sha256 (91b32684); the full sha256 is not published"))

_CSAIL_RELEASE = "ade20k-resnet101-upernet"
CSAIL_UPERNET_FILES = ("encoder_epoch_50.pth", "decoder_epoch_50.pth")   # the two file names of every CSAIL release
for _part, _file in zip(("encoder", "decoder"), CSAIL_UPERNET_FILES):
    register(WeightSpec(
        name=f"upernet-r101-ade20k-{_part}", file=f"{_CSAIL_RELEASE}/{_file}",
        url=f"http://sceneparsing.csail.mit.edu/model/pytorch/{_CSAIL_RELEASE}/{_file}", licence="BSD-3-Clause",
        users=("upernet-r101",),
        note=f"the {_part} half of CSAIL's {_CSAIL_RELEASE} release; keep the official folder name: the encoder and "
             "decoder files of every CSAIL model share the same two file names"))
register(WeightSpec(
    name="unet-celebamask-hq", file="parsenet/model.pth",
    url="the Google Drive link in the README of https://github.com/switchablenorms/CelebAMask-HQ (face_parsing/)",
    licence="MIT code (switchablenorms/CelebAMask-HQ); trained on CelebAMask-HQ, non-commercial research use only",
    users=("segmenter unet-celebamask",),
    note="face_parsing unet(feature_scale=4) state_dict, 19 classes; keep the official folder: the tester reads "
         "models/parsenet/model.pth, and a bare 'model.pth' would be ambiguous in a shared weights folder"))
register(WeightSpec(
    name="hrnet-w48-cityscapes", file="hrnet_cs_8090_torch11.pth",
    url="https://github.com/hsfzxjy/models.storage/releases/download/HRNet-OCR/hrnet_cs_8090_torch11.pth",
    licence="MIT (HRNet/HRNet-Semantic-Segmentation)", users=("segmenter hrnet-w48",),
    note="HRNetV2-W48 seg_hrnet, Cityscapes train, 80.9 val mIoU at 1024x2048; keys carry FullModel's 'model.'"))
