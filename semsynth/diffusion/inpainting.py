"""RePaint-style inpainting (Lugmayr et al. 2022; SDM's editing, Eq. 12) over any set of processes: ancestral
sampling where the known part of each modality follows its forward-noised original at every step and only the
rest is generated. Cross-modal outpainting (e.g. a known label map, an unknown image) is a mask of all 0 for the
known modality and all 1 for the generated one."""

from __future__ import annotations

from typing import Sequence

import torch

from .process import Model, Noise, Process, as_list
from .samplers import Callback, Run


PASTES = ("after", "before")


def _known_time(t: torch.Tensor | None, level: float) -> torch.Tensor | None:
    """The time the known part is noised to: ``level`` of ``t`` (floored on integer clocks), None for clean."""
    if t is None or level == 0:
        return None
    if level == 1:
        return t
    return (t * level).floor().to(t.dtype) if not t.is_floating_point() else t * level


def _keep_known(process: Process, x: torch.Tensor, original: torch.Tensor, mask: torch.Tensor | None,
                t: torch.Tensor | None, draw: Noise, level: float = 1.0) -> torch.Tensor:
    """``x`` where ``mask`` is True, the known state elsewhere: ``add_noise(original, level * t)``, or the original
    itself for ``t`` None or ``level`` 0."""
    if mask is None:
        return x
    t = _known_time(t, level)
    kept = original if t is None else process.add_noise(original, t, draw())
    return torch.where(mask.to(x.device), x, kept)


def repaint(processes: Process | Sequence[Process], model: Model, x_T, cond, known, edit_masks,
            noise: Noise | Sequence[Noise], resample: int = 1, callback: Callback | None = None,
            paste: str = "after", known_level: float = 1.0):
    """Regenerate where each process's ``edit_masks`` entry is True (bool, broadcastable to its state; None =
    generate all of it), keep its ``known`` state (data x0, or a log one-hot map) elsewhere. ``paste`` 'after'
    (RePaint, SDM): after each step the kept part is ``add_noise(known, t_next)`` (the original itself after the
    last step). 'before' (GCDP's ``p_sample_loop``): before each model call the kept part is ``add_noise(known,
    t)``, and the original is pasted once at the end. With ``resample > 1`` each step is repeated after
    re-noising back to ``t`` (RePaint's jump length 1). ``known_level`` < 1 noises the kept part to that fraction of
    the time instead (0: the original itself at every step), a departure from RePaint that gives the model a
    clearer view of the known modality at the early, noisy steps."""
    if paste not in PASTES:
        raise ValueError(f"unknown paste '{paste}'; known: {', '.join(PASTES)}")
    if not 0 <= known_level <= 1:
        raise ValueError(f"known_level must be in [0, 1], got {known_level}")
    run = Run(processes, model, x_T, cond, noise, callback)
    known, masks = as_list(known), as_list(edit_masks)
    times = run.clock.reverse_times()
    for k in range(len(times) - 1):
        t, t_next, last = run.times(times, k), run.times(times, k + 1), k == len(times) - 2
        for round_ in range(resample):
            if paste == "before":
                run.states = [_keep_known(process, x, original, mask, t, draw, known_level)
                              for process, x, original, mask, draw in zip(run.processes, run.states, known, masks,
                                                                          run.noises)]
            outputs = run.outputs(t)
            states, predictions = [], []
            for process, x, output, draw, original, mask in zip(run.processes, run.states, outputs, run.noises,
                                                                 known, masks):
                generated, x0 = process.step(x, t, t_next, output, draw)
                predictions.append(x0)
                if paste == "after":
                    generated = _keep_known(process, generated, original, mask, None if last else t_next, draw,
                                            known_level)
                states.append(generated)
            run.states = states
            if round_ < resample - 1 and not last:
                run.states = [process.renoise(x, t_next, t, draw)
                              for process, x, draw in zip(run.processes, run.states, run.noises)]
        run.report(t, predictions)
    if paste == "before":
        run.states = [_keep_known(process, x, original, mask, None, draw) for process, x, original, mask, draw
                      in zip(run.processes, run.states, known, masks, run.noises)]
    return run.packed(run.states)
