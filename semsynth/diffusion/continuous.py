"""Continuous-time variance-preserving Gaussian diffusion on a log-SNR schedule (imagen-pytorch's
``GaussianDiffusionContinuousTimes``, used by GCDP): alpha^2 = sigmoid(logsnr), sigma^2 = sigmoid(-logsnr), the
network sees logsnr(t), x0 predictions are dynamically thresholded."""

from __future__ import annotations

import torch

from .process import Gaussian, Noise, per_sample
from .schedules import LOG_SNR_SCHEDULES

THRESHOLDS = ("dynamic", "clip", "none")
LAST_TIME = 1 - 1e-7   # the sampling clock starts just below t = 1, where the cosine log-SNR diverges


class ContinuousGaussianProcess(Gaussian):
    """Times in [0, 1]; ``steps`` sampling steps on ``linspace(1, 0, steps + 1)``. The model returns eps for
    ``channels`` channels. ``threshold``: 'dynamic' (Imagen: per sample, s = max(1, ``percentile`` of |x0|), x0 =
    clamp(x0, -s, s) / s), 'clip' to [-1, 1], or 'none'."""

    def __init__(self, schedule: str = "cosine", channels: int = 3, steps: int = 100, threshold: str = "dynamic",
                 percentile: float = 0.95) -> None:
        if schedule not in LOG_SNR_SCHEDULES:
            raise ValueError(f"unknown log-SNR schedule '{schedule}'; known: {', '.join(LOG_SNR_SCHEDULES)}")
        if threshold not in THRESHOLDS:
            raise ValueError(f"unknown threshold '{threshold}'; known: {', '.join(THRESHOLDS)}")
        self.log_snr, self.inverse_log_snr = LOG_SNR_SCHEDULES[schedule]
        self.channels = self.guidance_channels = channels
        self.steps, self.threshold, self.percentile = steps, threshold, percentile

    def alpha_sigma(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample signal and noise scales ``sqrt(sigmoid(+-logsnr(t)))``, broadcastable to ``like``."""
        log_snr = per_sample(self.log_snr(t), like)
        return torch.sigmoid(log_snr).sqrt(), torch.sigmoid(-log_snr).sqrt()

    def reverse_times(self) -> torch.Tensor:
        return torch.linspace(1.0, 0.0, self.steps + 1).clamp(max=LAST_TIME)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return self.log_snr(t)

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.log_snr(t.double()))

    def solver_times(self, steps: int) -> torch.Tensor:
        ends = self.log_snr(torch.tensor([LAST_TIME, 0.0], dtype=torch.float64))
        times = self.inverse_log_snr(torch.linspace(ends[0].item(), ends[1].item(), steps, dtype=torch.float64))
        times[0], times[-1] = LAST_TIME, 0.0
        return times.float()

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.alpha_sigma(t, x0)
        return alpha * x0 + sigma * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.alpha_sigma(t, x_t)
        x0 = (x_t - sigma * output) / alpha.clamp(min=1e-8)
        if self.threshold == "clip":
            return x0.clamp(-1, 1)
        if self.threshold == "dynamic":
            s = torch.quantile(x0.flatten(1).abs(), self.percentile, dim=1).clamp(min=1.0)
            s = per_sample(s, x0)
            return x0.clamp(-s, s) / s
        return x0

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        alpha, sigma = self.alpha_sigma(t, x_t)
        return (x_t - alpha * x0) / sigma

    def step(self, x_t: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, output: torch.Tensor, noise: Noise
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral step with the posterior of VDM eq. 33: c = -expm1(logsnr_t - logsnr_s), mean = alpha_s (x_t
        (1 - c) / alpha_t + c x0), variance = sigma_s^2 c; no noise when ``t_next`` is 0."""
        x0 = self.predict_x0(x_t, t, output)
        alpha, _ = self.alpha_sigma(t, x_t)
        alpha_next, sigma_next = self.alpha_sigma(t_next, x_t)
        c = -torch.special.expm1(per_sample(self.log_snr(t) - self.log_snr(t_next), x_t))
        mean = alpha_next * (x_t * (1 - c) / alpha + c * x0)
        log_variance = torch.log((sigma_next ** 2 * c).clamp(min=1e-20))
        nonzero = per_sample((t_next != 0).float(), x_t)
        return mean + nonzero * (0.5 * log_variance).exp() * noise(), x0

    def renoise(self, x: torch.Tensor, t_from: torch.Tensor, t_to: torch.Tensor, noise: Noise) -> torch.Tensor:
        """imagen-pytorch's ``q_sample_from_to``: x alpha_to / alpha_from + noise (sigma_to alpha_from - sigma_from
        alpha_to) / alpha_from (a linear, not quadratic, combination of the noise scales, as in the official code)."""
        alpha_from, sigma_from = self.alpha_sigma(t_from, x)
        alpha_to, sigma_to = self.alpha_sigma(t_to, x)
        return x * alpha_to / alpha_from + noise() * (sigma_to * alpha_from - sigma_from * alpha_to) / alpha_from
