"""Gaussian diffusion on a (possibly respaced) discrete chain: q_sample, the posterior, and p_mean_variance with
learned-range or fixed variances. Model-agnostic: a model is a callable ``(x, t_model, cond) -> output``."""

from __future__ import annotations

from typing import Callable

import torch

from .respacing import respace_betas

Model = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
VARIANCES = ("learned_range", "fixed_small", "fixed_large")


class GaussianDiffusion:
    """Coefficients of a chain with ``betas``; ``timestep_map[i]`` is the original step the model sees at chain
    index ``i`` (identity unless respaced). ``rescale_timesteps`` feeds ``timestep_map[i] * 1000 / T_original``
    as float (PITI) instead of the integer index (SDM)."""

    def __init__(self, betas: torch.Tensor, variance: str = "learned_range", timestep_map: list[int] | None = None,
                 original_steps: int | None = None, rescale_timesteps: bool = False) -> None:
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance type '{variance}'; known: {', '.join(VARIANCES)}")
        betas = betas.double()
        self.betas, self.variance, self.num_timesteps = betas, variance, len(betas)
        self.timestep_map = torch.tensor(timestep_map if timestep_map is not None else range(len(betas)))
        self.original_steps = original_steps or len(betas)
        self.rescale_timesteps = rescale_timesteps
        alphas = 1 - betas
        self.alphas_cumprod = torch.cumprod(alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.sqrt_recip_alphas_cumprod = torch.sqrt(1 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = torch.sqrt(1 / self.alphas_cumprod - 1)
        self.posterior_variance = betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        self.posterior_log_variance_clipped = torch.log(
            torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]]))
        self.posterior_mean_coef1 = betas * torch.sqrt(self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1 - self.alphas_cumprod_prev) * torch.sqrt(alphas) / (1 - self.alphas_cumprod)

    @classmethod
    def respaced(cls, base_betas: torch.Tensor, kept: list[int], **options) -> "GaussianDiffusion":
        """The chain through the original steps ``kept`` (sorted), e.g. from ``space_timesteps``."""
        return cls(respace_betas(base_betas, kept), timestep_map=list(kept), original_steps=len(base_betas), **options)

    @staticmethod
    def extract(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``values[t]`` per sample, broadcastable to ``like`` and in its dtype/device."""
        out = values.to(like.device)[t.to(like.device)].to(like.dtype)
        return out.reshape(-1, *([1] * (like.dim() - 1)))

    def model_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """What the network receives for chain indices ``t``."""
        mapped = self.timestep_map.to(t.device)[t]
        return mapped.double() * (1000.0 / self.original_steps) if self.rescale_timesteps else mapped

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Sample ``x_t ~ q(x_t | x_0)``."""
        return (self.extract(self.alphas_cumprod.sqrt(), t, x_start) * x_start
                + self.extract((1 - self.alphas_cumprod).sqrt(), t, x_start) * noise)

    def q_posterior(self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log-variance of ``q(x_{t-1} | x_t, x_0)``."""
        mean = self.extract(self.posterior_mean_coef1, t, x_t) * x_start + \
            self.extract(self.posterior_mean_coef2, t, x_t) * x_t
        return mean, self.extract(self.posterior_variance, t, x_t), \
            self.extract(self.posterior_log_variance_clipped, t, x_t)

    def predict_xstart(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.extract(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t - \
            self.extract(self.sqrt_recipm1_alphas_cumprod, t, x_t) * eps

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, x_start: torch.Tensor) -> torch.Tensor:
        return (self.extract(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t - x_start) / \
            self.extract(self.sqrt_recipm1_alphas_cumprod, t, x_t)

    def model_log_variance(self, x_t: torch.Tensor, t: torch.Tensor, value: torch.Tensor | None) -> torch.Tensor:
        """Log-variance of ``p(x_{t-1} | x_t)``: learned range (interpolation ``(v + 1) / 2`` between the clipped
        posterior log-variance and ``log beta_t``) or one of the fixed choices."""
        if self.variance == "learned_range":
            low = self.extract(self.posterior_log_variance_clipped, t, x_t)
            high = self.extract(self.betas.log(), t, x_t)
            frac = (value + 1) / 2
            return frac * high + (1 - frac) * low
        if self.variance == "fixed_large":
            large = torch.cat([self.posterior_variance[1:2], self.betas[1:]]).log()
            return self.extract(large, t, x_t).expand_as(x_t)
        return self.extract(self.posterior_log_variance_clipped, t, x_t).expand_as(x_t)

    def p_mean_variance(self, model: Model, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
                        clip_denoised: bool = True) -> dict[str, torch.Tensor]:
        """One reverse-step distribution: ``mean``, ``variance``, ``log_variance``, ``pred_xstart`` (clamped to
        [-1, 1] when ``clip_denoised``) and the raw ``model_output``."""
        output = model(x, self.model_timesteps(t), cond)
        channels = x.shape[1]
        eps = output[:, :channels]
        log_variance = self.model_log_variance(x, t, output[:, channels:] if self.variance == "learned_range" else None)
        pred_xstart = self.predict_xstart(x, t, eps)
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        mean, _, _ = self.q_posterior(pred_xstart, x, t)
        return {"mean": mean, "variance": log_variance.exp(), "log_variance": log_variance,
                "pred_xstart": pred_xstart, "model_output": output}
