"""GCDP's sampling on the shared diffusion code: the image is a continuous-time Gaussian process on log-SNR
(dynamic thresholding), the label map a categorical process (the checkpoint's sample-schedule buffers, indexed by
the official float32 ``floor(t * T)``), both driven by one joint-UNet call per step on the Gaussian clock;
classifier-free guidance on eps and label logits. Joint generation is ancestral sampling of both; layout -> image
and image -> layout are GCDP's cross-modal outpainting (one modality known everywhere, pasted in before every
model call, ``resample`` passes per step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ...diffusion.categorical import CategoricalProcess, index_to_log_onehot
from ...diffusion.continuous import ContinuousGaussianProcess
from ...diffusion.guidance import classifier_free
from ...diffusion.inpainting import repaint
from ...diffusion.process import Model
from ...diffusion.samplers import ddpm
from .model import JointUNet

Noise = Callable[[], torch.Tensor]


def pack_text(embeds: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The condition tensor the samplers carry: text embeddings ``[B, N, D]`` with the token mask and the per-sample
    keep flag appended as two channels (``[B, N, D + 2]``), so that guidance can build the null by clearing the
    flag."""
    flags = torch.stack([mask.float(), keep.float()[:, None].expand_as(mask).float()], dim=-1)
    return torch.cat([embeds.float(), flags.to(embeds.device)], dim=-1)


def null_text(cond: torch.Tensor) -> torch.Tensor:
    """The same condition with the text dropped (the network substitutes its learned null text)."""
    cond = cond.clone()
    cond[..., -1] = 0
    return cond


def unpack_text(cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return cond[..., :-2], cond[..., -2] > 0.5, cond[..., 0, -1] > 0.5


@dataclass
class LowRes:
    """The super-resolution stage's conditioning: the noised, upsampled previous image and label map and the
    log-SNR of their noise level."""

    image: torch.Tensor
    labels: torch.Tensor
    log_snr: torch.Tensor

    def repeated(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The tensors repeated to ``batch`` rows (guidance stacks the conditional and null passes)."""
        times = batch // self.image.shape[0]
        return (self.image.repeat(times, 1, 1, 1), self.labels.repeat(times, 1, 1), self.log_snr.repeat(times))


def lowres_condition(image: torch.Tensor, labels: torch.Tensor, size: tuple[int, int], label: CategoricalProcess,
                     noises: tuple[Noise, Noise], level: float = 0.2) -> LowRes:
    """The official low-res conditioning: image and labels resized (nearest) to ``size``, the image noised on the
    linear log-SNR schedule and the labels on ``label`` (the 1000-step linear chain) at time ``level``."""
    image = F.interpolate(image, size, mode="nearest")
    labels = F.interpolate(labels[:, None].float(), size, mode="nearest")[:, 0].long()
    t = torch.full((image.shape[0],), level, device=image.device)
    gaussian = ContinuousGaussianProcess("linear")
    noised = gaussian.add_noise(image, t, noises[0]())
    noised_labels = label.add_noise(index_to_log_onehot(labels, label.num_classes), t, noises[1]()).argmax(dim=1)
    return LowRes(noised, noised_labels, gaussian.model_time(t))


def joint_model(net: JointUNet, lowres: LowRes | None = None) -> Model:
    """The sampler's model: (image, log one-hot labels), log-SNR, packed text -> [eps, label logits]."""
    def call(states: tuple[torch.Tensor, torch.Tensor], log_snr: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x, log_labels = states
        embeds, mask, keep = unpack_text(cond)
        extra = {} if lowres is None else dict(zip(("lowres_img", "lowres_labels", "lowres_log_snr"),
                                                   lowres.repeated(x.shape[0])))
        eps, logits = net(x, log_labels.argmax(dim=1), log_snr, embeds, mask, keep, **extra)
        return torch.cat([eps, logits], dim=1).float()

    return call


def processes(num_classes: int, schedule: str, steps: int, label_buffers: dict[str, torch.Tensor] | None = None,
              label_schedule: str | None = None) -> tuple[ContinuousGaussianProcess, CategoricalProcess]:
    """The image process (``steps`` steps on the ``schedule`` log-SNR) and the label process: the checkpoint's
    stored sample-schedule buffers when they have ``steps`` entries, else the official construction."""
    image = ContinuousGaussianProcess(schedule, channels=3, steps=steps, threshold="dynamic", percentile=0.95)
    if label_buffers is not None and len(label_buffers["log_alpha"]) == steps:
        label = CategoricalProcess(num_classes, label_buffers)
    else:
        label = CategoricalProcess.from_log_snr(num_classes, label_schedule or schedule, steps)
    return image, label


def guided(net: JointUNet, pair: Sequence, scale: float, lowres: LowRes | None = None) -> Model:
    """Classifier-free guidance on both heads (null = dropped text; ``scale`` <= 1: the conditional pass alone)."""
    return classifier_free(joint_model(net, lowres), list(pair), scale, mode="eps+logits", null=null_text)


def layout_guided(model: Model, labels: torch.Tensor, scale: float) -> Model:
    """Reconstruction guidance toward a known label map: eps moved by ``scale * sigma_t * grad_x log p(labels |
    x_t)`` under the model's own label head, so that the image explains the layout already at the noisy steps,
    where the pasted label map is almost noise. ``scale`` 0: the model unchanged (official)."""
    if scale == 0:
        return model

    def call(states: tuple[torch.Tensor, torch.Tensor], log_snr: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x, log_labels = states
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            output = model((x, log_labels), log_snr, cond)
            eps, logits = output[:, :x.shape[1]], output[:, x.shape[1]:]
            (grad,) = torch.autograd.grad(-F.cross_entropy(logits, labels, reduction="sum"), x)
        sigma = torch.sigmoid(-log_snr).sqrt().view(-1, 1, 1, 1)
        return torch.cat([eps - scale * sigma * grad, logits], dim=1).detach()

    return call


def sample_joint(model: Model, pair: Sequence, cond: torch.Tensor, noises: tuple[Noise, Noise]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Image in [-1, 1] and label indices from pure noise (official ``p_sample_loop`` without inpainting)."""
    x_T = (noises[0](), pair[1].prior_sample(noises[1]()))
    x, log_labels = ddpm(list(pair), model, x_T, cond, list(noises))
    return x.clamp(-1, 1), log_labels.argmax(dim=1)


def outpaint(model: Model, pair: Sequence, cond: torch.Tensor, noises: tuple[Noise, Noise],
             image: torch.Tensor | None = None, labels: torch.Tensor | None = None, resample: int = 5,
             known_level: float = 1.0, layout_guidance: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-modal outpainting: the given modality (``image`` in [-1, 1] or ``labels`` indices) is known everywhere,
    the other generated; the official order (known part pasted at time t before each call, ``resample`` passes).
    ``known_level`` < 1 pastes the known part at that fraction of t instead (0: clean; not official);
    ``layout_guidance`` > 0 adds reconstruction guidance toward known ``labels`` (``layout_guided``; not official)."""
    num_classes = pair[1].num_classes
    x_T = (noises[0](), pair[1].prior_sample(noises[1]()))
    known = (image if image is not None else torch.zeros_like(x_T[0]),
             index_to_log_onehot(labels, num_classes) if labels is not None else x_T[1])
    masks = (None if image is None else torch.zeros(1, 1, 1, 1, dtype=torch.bool),
             None if labels is None else torch.zeros(1, 1, 1, 1, dtype=torch.bool))
    if labels is not None:
        model = layout_guided(model, labels, layout_guidance)
    x, log_labels = repaint(list(pair), model, x_T, cond, known, masks, list(noises), resample=resample,
                            paste="before", known_level=known_level)
    return x.clamp(-1, 1), log_labels.argmax(dim=1)


def label_posterior(label: CategoricalProcess, logits: torch.Tensor, labels: torch.Tensor, t: torch.Tensor
                    ) -> torch.Tensor:
    """log q(l_{t-1} | l_t, l_0 ~ softmax(logits)): the distribution the official step samples from."""
    return label.q_posterior(F.log_softmax(logits, dim=1), index_to_log_onehot(labels, label.num_classes), t)
