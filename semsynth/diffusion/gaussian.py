"""Gaussian diffusion on a (possibly respaced) discrete chain: ``add_noise``, the posterior and the ancestral step
with learned-range or fixed variances (guided-diffusion's ``p_mean_variance``, given the model output)."""

from __future__ import annotations

import torch

from .process import Gaussian, Noise, per_sample
from .respacing import respace_betas

VARIANCES = ("learned_range", "fixed_small", "fixed_large")


class GaussianProcess(Gaussian):
    """The chain with ``betas`` over images of ``channels`` channels; the model returns eps (and, for
    'learned_range', as many variance interpolation values). ``timestep_map[i]`` is the original step the model
    sees at chain index ``i`` (identity unless respaced); ``rescale_timesteps`` feeds
    ``timestep_map[i] * 1000 / T_original`` as float (PITI) instead of the integer index (SDM). ``clip_denoised``
    clamps x0 predictions to [-1, 1]."""

    def __init__(self, betas: torch.Tensor, channels: int = 3, variance: str = "learned_range",
                 timestep_map: list[int] | None = None, original_steps: int | None = None,
                 rescale_timesteps: bool = False, clip_denoised: bool = True) -> None:
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance type '{variance}'; known: {', '.join(VARIANCES)}")
        betas = betas.double()
        self.betas, self.variance, self.num_steps = betas, variance, len(betas)
        self.data_channels = self.guidance_channels = channels
        self.channels = 2 * channels if variance == "learned_range" else channels
        self.timestep_map = torch.tensor(timestep_map if timestep_map is not None else range(len(betas)))
        self.original_steps = original_steps or len(betas)
        self.rescale_timesteps, self.clip_denoised = rescale_timesteps, clip_denoised
        self.alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.posterior_variance = betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        self.posterior_log_variance_clipped = torch.log(
            torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]]))
        self.posterior_mean_coef1 = betas * torch.sqrt(self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1 - self.alphas_cumprod_prev) * torch.sqrt(1 - betas) / (1 - self.alphas_cumprod)

    @classmethod
    def respaced(cls, base_betas: torch.Tensor, kept: list[int], **options) -> "GaussianProcess":
        """The chain through the original steps ``kept`` (sorted), e.g. from ``space_timesteps``."""
        return cls(respace_betas(base_betas, kept), timestep_map=list(kept), original_steps=len(base_betas), **options)

    def _at(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return per_sample(values[t.cpu()], like)

    def reverse_times(self) -> torch.Tensor:
        return torch.arange(self.num_steps - 1, -2, -1)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        mapped = self.timestep_map.to(t.device)[t]
        return mapped.double() * (1000.0 / self.original_steps) if self.rescale_timesteps else mapped

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod])[t.cpu() + 1]

    def solver_times(self, steps: int) -> torch.Tensor:
        """Chain steps whose log-SNRs are (to the nearest step) evenly spaced; duplicates dropped."""
        lam = 0.5 * (self.alphas_cumprod.log() - (1 - self.alphas_cumprod).log())
        targets = torch.linspace(lam[-1].item(), lam[0].item(), steps, dtype=torch.float64)
        return torch.tensor(list(dict.fromkeys(int((lam - value).abs().argmin()) for value in targets)))

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self._at(self.alphas_cumprod.sqrt(), t, x0) * x0 + \
            self._at((1 - self.alphas_cumprod).sqrt(), t, x0) * noise

    def q_posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log-variance of ``q(x_{t-1} | x_t, x_0)``."""
        mean = self._at(self.posterior_mean_coef1, t, x_t) * x0 + self._at(self.posterior_mean_coef2, t, x_t) * x_t
        return mean, self._at(self.posterior_variance, t, x_t), self._at(self.posterior_log_variance_clipped, t, x_t)

    def x0_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x0 from eps, unclamped (the training losses use this)."""
        return self._at(torch.sqrt(1 / self.alphas_cumprod), t, x_t) * x_t - \
            self._at(torch.sqrt(1 / self.alphas_cumprod - 1), t, x_t) * eps

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        x0 = self.x0_from_eps(x_t, t, output[:, :self.data_channels])
        return x0.clamp(-1, 1) if self.clip_denoised else x0

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return (self._at(torch.sqrt(1 / self.alphas_cumprod), t, x_t) * x_t - x0) / \
            self._at(torch.sqrt(1 / self.alphas_cumprod - 1), t, x_t)

    def model_log_variance(self, x_t: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """Log-variance of ``p(x_{t-1} | x_t)``: learned range (interpolation ``(v + 1) / 2`` between the clipped
        posterior log-variance and ``log beta_t``, ``v`` the output's variance channels) or a fixed choice."""
        if self.variance == "learned_range":
            low = self._at(self.posterior_log_variance_clipped, t, x_t)
            high = self._at(self.betas.log(), t, x_t)
            frac = (output[:, self.data_channels:] + 1) / 2
            return frac * high + (1 - frac) * low
        if self.variance == "fixed_large":
            large = torch.cat([self.posterior_variance[1:2], self.betas[1:]]).log()
            return self._at(large, t, x_t).expand_as(x_t)
        return self._at(self.posterior_log_variance_clipped, t, x_t).expand_as(x_t)

    def p_mean_variance(self, x_t: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> dict[str, torch.Tensor]:
        """The reverse-step distribution from the model output: ``mean``, ``variance``, ``log_variance`` and
        ``pred_xstart``."""
        log_variance = self.model_log_variance(x_t, t, output)
        pred_xstart = self.predict_x0(x_t, t, output)
        mean, _, _ = self.q_posterior(pred_xstart, x_t, t)
        return {"mean": mean, "variance": log_variance.exp(), "log_variance": log_variance, "pred_xstart": pred_xstart}

    def step(self, x_t: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, output: torch.Tensor, noise: Noise
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral step to chain index ``t - 1``; noise is drawn at every step and multiplied by 0 at t = 0."""
        out = self.p_mean_variance(x_t, t, output)
        nonzero = (t != 0).to(x_t.dtype).reshape(-1, *([1] * (x_t.dim() - 1)))
        return out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * noise(), out["pred_xstart"]

    def renoise(self, x: torch.Tensor, t_from: torch.Tensor, t_to: torch.Tensor, noise: Noise) -> torch.Tensor:
        """One chain step forward, ``q(x_t | x_{t-1})`` (``t_from`` must be ``t_to - 1``)."""
        if not bool((t_to == t_from + 1).all()):
            raise ValueError("a discrete chain re-noises one step at a time")
        beta = self._at(self.betas, t_to, x)
        return (1 - beta).sqrt() * x + beta.sqrt() * noise()
