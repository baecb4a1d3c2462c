"""Catalog entries of the feature backbones (semsynth/backbones/): Inception, SwAV, CLIP, LPIPS-AlexNet and the
shipped ``shapes`` network."""

from ..weights import WeightSpec, register

register(WeightSpec(
    name="inception-torchscript",
    file="inception-2015-12-05.pt",
    url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    licence="Apache-2.0 (TensorFlow Inception weights, converted by NVIDIA)",
    users=("fid", "kid"),
    note="TorchScript archive (the network is its code): loaded with torch.jit.load, as clean-fid does; "
         "modes clean and legacy_tensorflow",
))
register(WeightSpec(
    name="inception-pytorch-fid",
    file="pt_inception-2015-12-05-6726825d.pth",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    licence="Apache-2.0",
    users=("fid", "kid"),
    note="pytorch-fid's port of the TF Inception (state_dict; sha256 starts with 6726825d); mode legacy_pytorch",
))
register(WeightSpec(
    name="swav-r50-800ep",
    file="swav_800ep_pretrain.pth.tar",
    url="https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar",
    licence="CC-BY-NC-4.0 (facebookresearch/swav)",
    users=("swav_fid",),
    note="FAIR SwAV ResNet-50, 800 epochs, ImageNet-1k; Morozov et al. fetch the same file name from "
         "https://www.dropbox.com/s/ghjrgktg0lyjorn/swav_800ep_pretrain.pth.tar?dl=1",
))
register(WeightSpec(
    name="shapes-segnet",
    file="shapes_segnet.safetensors",
    url="retrain it: bench train --segmenter shapes-segnet --dataset shapes",
    sha256="8fb698ae0363077ef869fbb299d5914361e18a1b4a90d089c02120448ee53e5e",
    licence="MIT (this project)",
    users=("fid/shapes", "lpips/shapes", "miou/shapes"),
    shipped=True,
))
register(WeightSpec(
    name="clip-vit-b32",
    file="ViT-B-32.pt",
    url="https://openaipublic.azureedge.net/clip/models/"
        "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    licence="MIT (openai/CLIP)",
    users=("clip_fid",),
    note="OpenAI CLIP ViT-B/32 (TorchScript archive; only its state_dict is read); a plain state_dict with "
         "OpenAI's key names is accepted too",
))
register(WeightSpec(
    name="alexnet-torchvision",
    file="alexnet-owt-7be5be79.pth",
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    licence="BSD-3-Clause (torchvision)",
    users=("lpips",),
    note="ImageNet AlexNet (torchvision state_dict; sha256 starts with 7be5be79): the LPIPS trunk",
))
register(WeightSpec(
    name="lpips-alex-v0.1",
    file="alex.pth",
    url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
    licence="BSD-2-Clause",
    users=("lpips",),
    note="LPIPS v0.1 linear calibration layers: shipped inside the lpips wheel (lpips/weights/v0.1/alex.pth) "
         "and used from there; a copy in the weights folders is not needed",
    package_file="lpips:weights/v0.1/alex.pth",
    sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",   # the copy in the lpips 0.1.4 wheel
))
