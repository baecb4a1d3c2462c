"""Samplers that drive one or several processes from one model call per step: ancestral DDPM, DDIM (eta) and
DPM-Solver++ (2M multistep).

The first process is the clock (its ``reverse_times`` / ``solver_times``; the network sees its ``model_time``).
Pass one process, state and noise, or sequences of them: the model then receives the state (one process) or the
tuple of states, and its output is split by the processes' ``channels``. ``noise`` callables return fresh standard
noise of each process (so a caller can draw every sample's noise from its own generator); ``callback(time, x, x0)``
sees every step. Support: DDPM steps every process; DDIM updates Gaussian processes (discrete or continuous) and
steps categorical ones ancestrally; DPM-Solver++ takes Gaussian processes only.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

from .. import progress
from ..errors import UserError
from .process import Gaussian, Model, Noise, Process, as_list, per_sample, split_output

Callback = Callable[[Any, Any, Any], None]


class Run:
    """The processes of one sampling run with their states, the model call and the callback convention."""

    def __init__(self, processes: Process | Sequence[Process], model: Model, x_T, cond, noise=None,
                 callback: Callback | None = None) -> None:
        self.single = not isinstance(processes, (list, tuple))
        self.processes, self.states = as_list(processes), as_list(x_T)
        self.noises = as_list(noise) if noise is not None else [None] * len(self.processes)
        self.model, self.cond, self.callback = model, cond, callback
        self.clock = self.processes[0]

    def packed(self, items: list):
        return items[0] if self.single else tuple(items)

    def times(self, values: torch.Tensor, k: int) -> torch.Tensor:
        return values[k].repeat(self.states[0].shape[0]).to(self.states[0].device)

    def outputs(self, t: torch.Tensor) -> list[torch.Tensor]:
        """One model call on the current states, split per process."""
        return split_output(self.processes, self.model(self.packed(self.states), self.clock.model_time(t), self.cond))

    def start(self, steps: int) -> None:
        """Announce the number of model calls to the step progress bar (``semsynth.progress.step_progress``)."""
        progress.sampling_started(steps)

    def report(self, t: torch.Tensor, predictions: list[torch.Tensor]) -> None:
        progress.sampling_step()
        if self.callback is not None:
            self.callback(t[0].item(), self.packed(self.states), self.packed(predictions))


def ddpm(processes: Process | Sequence[Process], model: Model, x_T, cond, noise: Noise | Sequence[Noise],
         callback: Callback | None = None):
    """Ancestral sampling through every step of the clock (official ``p_sample_loop``)."""
    run = Run(processes, model, x_T, cond, noise, callback)
    times = run.clock.reverse_times()
    run.start(len(times) - 1)
    for k in range(len(times) - 1):
        t, t_next = run.times(times, k), run.times(times, k + 1)
        steps = [process.step(x, t, t_next, output, draw)
                 for process, x, output, draw in zip(run.processes, run.states, run.outputs(t), run.noises)]
        run.states = [state for state, _ in steps]
        run.report(t, [x0 for _, x0 in steps])
    return run.packed(run.states)


def ddim_step(process: Gaussian, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, output: torch.Tensor,
              noise: Noise | None, eta: float, last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDIM update; eps is re-derived from the (clamped or thresholded) x0 prediction."""
    x0 = process.predict_x0(x, t, output)
    eps = process.predict_eps(x, t, x0)
    alpha_bar = per_sample(process.alpha_bar(t), x)
    alpha_bar_prev = per_sample(process.alpha_bar(t_next), x)
    sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
    x = x0 * alpha_bar_prev.sqrt() + torch.sqrt(1 - alpha_bar_prev - sigma ** 2) * eps
    if eta > 0 and not last:
        x = x + sigma * noise()
    return x, x0


def ddim(processes: Process | Sequence[Process], model: Model, x_T, cond, noise=None, eta: float = 0.0,
         callback: Callback | None = None):
    """DDIM through every step of the clock; categorical processes step ancestrally (they need ``noise``)."""
    run = Run(processes, model, x_T, cond, noise, callback)
    times = run.clock.reverse_times()
    run.start(len(times) - 1)
    for k in range(len(times) - 1):
        t, t_next, last = run.times(times, k), run.times(times, k + 1), k == len(times) - 2
        steps = [ddim_step(process, x, t, t_next, output, draw, eta, last) if isinstance(process, Gaussian)
                 else process.step(x, t, t_next, output, draw)
                 for process, x, output, draw in zip(run.processes, run.states, run.outputs(t), run.noises)]
        run.states = [state for state, _ in steps]
        run.report(t, [x0 for _, x0 in steps])
    return run.packed(run.states)


class _SolverState:
    """DPM-Solver++ 2M coefficients of one Gaussian process over the solver times, and its previous x0."""

    def __init__(self, process: Gaussian, times: torch.Tensor) -> None:
        self.alpha_bar = process.alpha_bar(times)
        self.lam = 0.5 * (self.alpha_bar.log() - (1 - self.alpha_bar).log())
        self.previous: torch.Tensor | None = None

    def update(self, x: torch.Tensor, x0: torch.Tensor, k: int, second_order: bool) -> torch.Tensor:
        h = (self.lam[k + 1] - self.lam[k]).item()
        data = x0
        if self.previous is not None and second_order:
            half_inverse_ratio = 0.5 * h / (self.lam[k] - self.lam[k - 1]).item()
            data = (1 + half_inverse_ratio) * x0 - half_inverse_ratio * self.previous
        ratio = ((1 - self.alpha_bar[k + 1]) / (1 - self.alpha_bar[k])).sqrt().item()
        self.previous = x0
        return ratio * x - self.alpha_bar[k + 1].sqrt().item() * math.expm1(-h) * data


def dpm_solver_pp(processes: Gaussian | Sequence[Gaussian], model: Model, x_T, cond, steps: int,
                  callback: Callback | None = None):
    """DPM-Solver++ (2M, multistep, data prediction): ``steps`` model evaluations at the clock's log-SNR-uniform
    ``solver_times``, second-order except the first and last updates; the data prediction at the last time is
    the sample. Deterministic: ``x_T`` is the only noise."""
    run = Run(processes, model, x_T, cond, None, callback)
    if steps < 2:
        raise UserError("dpm-solver++ needs at least two steps")
    if not all(isinstance(process, Gaussian) for process in run.processes):
        raise UserError("dpm-solver++ drives Gaussian processes only; use ddpm or ddim with a categorical process")
    times = run.clock.solver_times(steps)
    solvers = [_SolverState(process, times) for process in run.processes]
    run.start(len(times))
    for k in range(len(times)):
        t = run.times(times, k)
        predictions = [process.predict_x0(x, t, output)
                       for process, x, output in zip(run.processes, run.states, run.outputs(t))]
        if k == len(times) - 1:
            run.states = predictions
        else:
            run.states = [solver.update(x, x0, k, k < len(times) - 2)
                          for solver, x, x0 in zip(solvers, run.states, predictions)]
        run.report(t, predictions)
    return run.packed(run.states)
