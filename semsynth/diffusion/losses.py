"""Training losses: guided diffusion's hybrid loss with learned-range variance (L_simple (eps MSE) + the VLB term
of Nichol & Dhariwal with a stop-gradient on the mean, i.e. L_simple + 0.001 * L_vlb), and the categorical
variational bound of multinomial diffusion (KL of posteriors, decoder NLL at t = 0, the prior term) as GCDP
computes it."""

from __future__ import annotations

import math

import torch

from .categorical import CategoricalProcess, multinomial_kl
from .gaussian import GaussianProcess


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


def hybrid_loss(process: GaussianProcess, output: torch.Tensor, x_start: torch.Tensor, x_t: torch.Tensor,
                t: torch.Tensor, noise: torch.Tensor, vlb_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Per-batch ``mse`` (eps), ``vb`` (bits/dim: KL of the true posterior to the model's, decoder NLL at t = 0;
    gradients reach only the variance channels) and ``loss = mse + vlb_weight * vb``. With T = 1000 the official
    weighting (vb unscaled) equals L_simple + 0.001 * L_vlb."""
    eps = output[:, :process.data_channels]
    mse = (noise - eps).square().mean()
    pred_xstart = process.x0_from_eps(x_t, t, eps.detach())
    model_mean, _, _ = process.q_posterior(pred_xstart, x_t, t)
    model_log_variance = process.model_log_variance(x_t, t, output)
    true_mean, _, true_log_variance = process.q_posterior(x_start, x_t, t)
    kl = normal_kl(true_mean, true_log_variance, model_mean, model_log_variance).flatten(1).mean(1) / math.log(2.0)
    nll = -discretized_gaussian_log_likelihood(x_start, model_mean, 0.5 * model_log_variance)
    nll = nll.flatten(1).mean(1) / math.log(2.0)
    vb = torch.where(t == 0, nll, kl).mean()
    return {"loss": mse + vlb_weight * vb, "mse": mse, "vb": vb}


def categorical_loss(process: CategoricalProcess, logits: torch.Tensor, log_x0: torch.Tensor, log_x_t: torch.Tensor,
                     t: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample ``kl`` of the true posterior to the predicted one (x0 ~ softmax(``logits``)), ``nll`` (the
    decoder term -sum x0 log p with p the predicted posterior, used where the chain index is 0), ``prior``
    (KL(q(x_T | x0) || uniform)) and ``loss = (T * term + prior) / (ln 2 * K * H * W)``, all summed over pixels."""
    predicted = process.q_posterior(process.predict_x0(log_x_t, t, logits), log_x_t, t)
    target = process.q_posterior(log_x0, log_x_t, t)
    kl = multinomial_kl(target, predicted).flatten(1).sum(1)
    nll = -(log_x0.exp() * predicted).sum(1).flatten(1).sum(1)
    prior = process.kl_prior(log_x0)
    term = torch.where(process.index(t).to(kl.device) == 0, nll, kl)
    loss = (term * process.num_steps + prior) / (math.log(2) * logits.shape[1:].numel())
    return {"loss": loss, "kl": kl, "nll": nll, "prior": prior}
