"""Multinomial (categorical) diffusion in log space (Hoogeboom et al. 2021, as GCDP uses it): states are log
one-hot maps ``[B, K, H, W]``, q(x_t | x_0) mixes the one-hot with the uniform distribution, the posterior uses
the Hoogeboom trick, draws are Gumbel-max samples from uniform noise."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .process import Noise, Process, per_sample
from .schedules import LOG_SNR_SCHEDULES

BUFFERS = ("log_alpha", "log_1_min_alpha", "log_cumprod_alpha", "log_1_min_cumprod_alpha")


def log_1_min_a(a: torch.Tensor) -> torch.Tensor:
    """log(1 - e^a), with the official 1e-40 guard."""
    return torch.log(1 - a.exp() + 1e-40)


def log_add_exp(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    maximum = torch.max(a, b)
    return maximum + torch.log(torch.exp(a - maximum) + torch.exp(b - maximum))


def index_to_log_onehot(index: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices ``[B, H, W]`` -> log one-hot ``[B, K, H, W]`` (log of the one-hot clamped at 1e-30)."""
    onehot = F.one_hot(index, num_classes).movedim(-1, 1)
    return torch.log(onehot.float().clamp(min=1e-30))


def gumbel_sample(log_probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """A log one-hot draw from ``log_probs`` (over dim 1) by Gumbel-max with the given U(0, 1) noise."""
    gumbel = -torch.log(-torch.log(uniform + 1e-30) + 1e-30)
    return index_to_log_onehot((gumbel + log_probs).argmax(dim=1), log_probs.shape[1])


class CategoricalProcess(Process):
    """K-class multinomial diffusion over a T-step chain given by the float32 buffers of ``BUFFERS`` (the names of
    GCDP checkpoints: ``log_alpha`` etc.). The model returns K logits of x0. Continuous times ``t`` in (0, 1) map
    to chain index ``floor(t * T)`` in float32, as the official code does (so 100 steps of
    ``linspace(1, 0, 101)`` visit some indices twice and skip others)."""

    guidance = "logits"

    def __init__(self, num_classes: int, buffers: dict[str, torch.Tensor]) -> None:
        missing = [name for name in BUFFERS if name not in buffers]
        if missing:
            raise ValueError(f"categorical schedule lacks {', '.join(missing)}")
        self.num_classes = self.channels = self.guidance_channels = num_classes
        for name in BUFFERS:
            setattr(self, name, buffers[name].float().cpu())
        self.num_steps = len(self.log_alpha)

    @classmethod
    def from_log_snr(cls, num_classes: int, schedule: str = "cosine", num_steps: int = 1000) -> "CategoricalProcess":
        """The official schedule: alpha_bar(t) = sigmoid(logsnr(t / T)) for t < T in float32, alpha_t =
        alpha_bar_t / alpha_bar_{t-1} (alpha_0 = 1), cumulative products as cumulative sums of log alpha. (A
        checkpoint's stored buffers are the reference: ``from_state_dict``.)"""
        log_snr = LOG_SNR_SCHEDULES[schedule][0]
        cumprod = torch.tensor([torch.sigmoid(log_snr(torch.tensor(t / num_steps))).sqrt().item() ** 2
                                for t in range(num_steps)])
        log_alpha = torch.log(cumprod / F.pad(cumprod, (1, 0), value=cumprod[0].item())[:-1])
        log_cumprod_alpha = torch.cumsum(log_alpha, dim=0)
        return cls(num_classes, {"log_alpha": log_alpha, "log_1_min_alpha": log_1_min_a(log_alpha),
                                 "log_cumprod_alpha": log_cumprod_alpha,
                                 "log_1_min_cumprod_alpha": log_1_min_a(log_cumprod_alpha)})

    @classmethod
    def from_state_dict(cls, num_classes: int, state: dict[str, torch.Tensor], prefix: str = ""
                        ) -> "CategoricalProcess":
        """The schedule stored in a checkpoint under ``prefix`` (e.g. 'noise_schedulers_lbl_sample.0.')."""
        return cls(num_classes, {name: state[prefix + name] for name in BUFFERS if prefix + name in state})

    def index(self, t: torch.Tensor) -> torch.Tensor:
        """Chain indices of times ``t``: integers as they are; floats as ``floor(t * T)`` when any is in (0, 1)."""
        if not t.is_floating_point():
            return t.cpu()
        t = t.float().cpu()
        if bool(((t > 0) & (t < 1)).any()):
            return torch.floor(t * self.num_steps).long()
        return t.long()

    def _at(self, values: torch.Tensor, index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return per_sample(values[index], like)

    def reverse_times(self) -> torch.Tensor:
        return torch.arange(self.num_steps - 1, -2, -1)

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        return self.index(t).to(t.device)

    def q_pred(self, log_x0: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """log q(x_t | x_0) = log(alpha_bar_t x_0 + (1 - alpha_bar_t) / K)."""
        return log_add_exp(log_x0 + self._at(self.log_cumprod_alpha, index, log_x0),
                           self._at(self.log_1_min_cumprod_alpha, index, log_x0) - math.log(self.num_classes))

    def q_one_step(self, log_x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """log q(x_t | x_{t-1}) = log(alpha_t x_{t-1} + (1 - alpha_t) / K), as a function of its argument."""
        return log_add_exp(log_x + self._at(self.log_alpha, index, log_x),
                           self._at(self.log_1_min_alpha, index, log_x) - math.log(self.num_classes))

    def q_posterior(self, log_x0: torch.Tensor, log_x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log q(x_{t-1} | x_t, x_0), normalised: q(x_{t-1} | x_0) (x_0 itself at t = 0) times q(x_t | x_{t-1})
        evaluated as ``q_one_step(x_t)`` (the chain is symmetric in x_t and x_{t-1})."""
        index = self.index(t)
        previous = self.q_pred(log_x0, (index - 1).clamp(min=0))
        previous = torch.where(_where_index(index == 0, log_x0), log_x0, previous)
        unnormalised = previous + self.q_one_step(log_x_t, index)
        return unnormalised - torch.logsumexp(unnormalised, dim=1, keepdim=True)

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return gumbel_sample(self.q_pred(x0, self.index(t)), noise)

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """log p(x_0 | x_t): the log-softmax of the model's logits."""
        return F.log_softmax(output, dim=1)

    def step(self, x_t: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, output: torch.Tensor, noise: Noise
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """A Gumbel draw from q(x_{t-1} | x_t, x0 = predicted distribution) (the official step; ``t_next`` unused)."""
        log_x0 = self.predict_x0(x_t, t, output)
        return gumbel_sample(self.q_posterior(log_x0, x_t, t), noise()), log_x0

    def renoise(self, x: torch.Tensor, t_from: torch.Tensor, t_to: torch.Tensor, noise: Noise) -> torch.Tensor:
        """A draw of q(x_to | x_from) with alpha = alpha_bar_to / alpha_bar_from (the argmax where ``t_to`` is 0)."""
        to_index = self.index(t_to)
        log_alpha = self._at(self.log_cumprod_alpha, to_index, x) - \
            self._at(self.log_cumprod_alpha, self.index(t_from), x)
        log_probs = log_add_exp(x + log_alpha, log_1_min_a(log_alpha) - math.log(self.num_classes))
        mode = index_to_log_onehot(log_probs.argmax(dim=1), self.num_classes)
        return torch.where(_where_index(to_index == 0, x), mode, gumbel_sample(log_probs, noise()))

    def prior_sample(self, uniform: torch.Tensor) -> torch.Tensor:
        """x_T: uniform random classes (a Gumbel draw of uniform logits), from U(0, 1) noise ``[B, K, H, W]``."""
        return gumbel_sample(torch.zeros_like(uniform), uniform)

    def kl_prior(self, log_x0: torch.Tensor) -> torch.Tensor:
        """KL(q(x_T | x_0) || uniform), summed over all but the batch dimension."""
        log_q = self.q_pred(log_x0, torch.full((log_x0.shape[0],), self.num_steps - 1))
        uniform = torch.full_like(log_q, -math.log(self.num_classes))
        return multinomial_kl(log_q, uniform).flatten(1).sum(1)


def _where_index(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.to(like.device).reshape(-1, *([1] * (like.dim() - 1)))


def multinomial_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over dim 1 of log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)
