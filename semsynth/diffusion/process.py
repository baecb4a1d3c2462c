"""The process interface (the diffusers scheduler shape): a forward process that noises data (``add_noise``), reads
its slice of a model output (``predict_x0``) and takes one reverse step (``step``). Samplers drive one or several
processes from one model call by splitting its output by each process's declared ``channels``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Sequence, TypeVar

import torch

Noise = Callable[[], torch.Tensor]
Model = Callable[[Any, torch.Tensor, Any], torch.Tensor]
T = TypeVar("T")


class Process(ABC):
    """A forward noising process and its reverse step. ``channels``: model output channels it consumes;
    ``guidance``: what classifier-free guidance may combine in its output ('eps' or 'logits');
    ``guidance_channels``: how many leading channels of its slice that covers. Times are per-sample tensors:
    integer chain indices for discrete chains, floats in [0, 1] for continuous time."""

    channels: int
    guidance: str
    guidance_channels: int

    @abstractmethod
    def reverse_times(self) -> torch.Tensor:
        """Times a sampler visits, from noisiest to the end; steps go from ``times[k]`` to ``times[k + 1]``."""

    @abstractmethod
    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        """What the network receives for times ``t``."""

    @abstractmethod
    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """A draw of ``q(x_t | x_0)`` from standard ``noise`` (Gaussian: N(0, I); categorical: U(0, 1))."""

    @abstractmethod
    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The clean-data prediction from this process's slice of the model output."""

    @abstractmethod
    def step(self, x_t: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, output: torch.Tensor, noise: Noise
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ancestral step ``x_t -> x_{t_next}``; returns the new state and the x0 prediction."""

    @abstractmethod
    def renoise(self, x: torch.Tensor, t_from: torch.Tensor, t_to: torch.Tensor, noise: Noise) -> torch.Tensor:
        """A draw of ``q(x_{t_to} | x_{t_from})`` for ``t_to`` later than ``t_from`` (RePaint's resampling)."""


class Gaussian(Process):
    """A variance-preserving Gaussian process: ``x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps``; DDIM and
    DPM-Solver++ need only ``alpha_bar`` and ``predict_eps`` besides the common interface."""

    guidance = "eps"

    @abstractmethod
    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """``alpha_bar`` (float64) at times ``t``; 1 past the end of a discrete chain."""

    @abstractmethod
    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """The noise that takes ``x0`` to ``x_t``."""

    @abstractmethod
    def solver_times(self, steps: int) -> torch.Tensor:
        """``steps`` times from noisiest to the end, evenly spaced in log-SNR (DPM-Solver++)."""


def per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-sample ``values`` ``[B]`` in ``like``'s dtype and device, broadcastable to ``like``."""
    return values.to(like.device).to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def as_list(items: T | Sequence[T]) -> list[T]:
    """One process (state, noise, ...) or a sequence of them, as a list."""
    return list(items) if isinstance(items, (list, tuple)) else [items]


def split_output(processes: Sequence[Process], output: torch.Tensor) -> list[torch.Tensor]:
    """The model output cut into each process's declared channels, in order."""
    wanted = sum(process.channels for process in processes)
    if output.shape[1] != wanted:
        raise ValueError(f"the model returned {output.shape[1]} channels but the processes read {wanted}")
    return list(torch.split(output, [process.channels for process in processes], dim=1))
