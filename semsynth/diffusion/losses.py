"""Training losses of guided diffusion with learned-range variance: L_simple (eps MSE) + the VLB term of
Nichol & Dhariwal (stop-gradient on the mean), i.e. L_hybrid = L_simple + lambda * L_vlb with lambda = 0.001."""

from __future__ import annotations

import math

import torch

from .gaussian import GaussianDiffusion


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log p of 8-bit data ``x`` in [-1, 1] under a Gaussian integrated over each 2/255-wide bin (edge bins open)."""
    centered = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = torch.special.ndtr(inv_std * (centered + 1.0 / 255))
    cdf_min = torch.special.ndtr(inv_std * (centered - 1.0 / 255))
    log_cdf_plus = cdf_plus.clamp(min=1e-12).log()
    log_one_minus_cdf_min = (1 - cdf_min).clamp(min=1e-12).log()
    log_delta = (cdf_plus - cdf_min).clamp(min=1e-12).log()
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


def hybrid_loss(diffusion: GaussianDiffusion, output: torch.Tensor, x_start: torch.Tensor, x_t: torch.Tensor,
                t: torch.Tensor, noise: torch.Tensor, vlb_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Per-batch ``mse`` (eps), ``vb`` (bits/dim: KL of the true posterior to the model's, decoder NLL at t = 0;
    gradients reach only the variance channels) and ``loss = mse + vlb_weight * vb``. With T = 1000 the official
    weighting (vb unscaled) equals L_simple + 0.001 * L_vlb."""
    channels = x_start.shape[1]
    eps, value = output[:, :channels], output[:, channels:]
    mse = (noise - eps).square().mean()
    pred_xstart = diffusion.predict_xstart(x_t, t, eps.detach())
    model_mean, _, _ = diffusion.q_posterior(pred_xstart, x_t, t)
    model_log_variance = diffusion.model_log_variance(x_t, t, value)
    true_mean, _, true_log_variance = diffusion.q_posterior(x_start, x_t, t)
    kl = normal_kl(true_mean, true_log_variance, model_mean, model_log_variance).flatten(1).mean(1) / math.log(2.0)
    nll = -discretized_gaussian_log_likelihood(x_start, model_mean, 0.5 * model_log_variance)
    nll = nll.flatten(1).mean(1) / math.log(2.0)
    vb = torch.where(t == 0, nll, kl).mean()
    return {"loss": mse + vlb_weight * vb, "mse": mse, "vb": vb}
