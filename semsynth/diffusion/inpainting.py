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


def _keep_known(process: Process, x: torch.Tensor, original: torch.Tensor, mask: torch.Tensor | None,
                t: torch.Tensor | None, draw: Noise) -> torch.Tensor:
    """``x`` where ``mask`` is True, the known state elsewhere: ``add_noise(original, t)``, or the original itself
    for ``t`` None."""
    if mask is None:
        return x
    kept = original if t is None else process.add_noise(original, t, draw())
    return torch.where(mask.to(x.device), x, kept)


def repaint(processes: Process | Sequence[Process], model: Model, x_T, cond, known, edit_masks,
            noise: Noise | Sequence[Noise], resample: int = 1, callback: Callback | None = None,
            paste: str = "after"):
    """Regenerate where each process's ``edit_masks`` entry is True (bool, broadcastable to its state; None =
    generate all of it), keep its ``known`` state (data x0, or a log one-hot map) elsewhere. ``paste`` 'after'
    (RePaint, SDM): after each step the kept part is ``add_noise(known, t_next)`` (the original itself after the
    last step). 'before' (GCDP's ``p_sample_loop``): before each model call the kept part is ``add_noise(known,
    t)``, and the original is pasted once at the end. With ``resample > 1`` each step is repeated after
    re-noising back to ``t`` (RePaint's jump length 1)."""
    if paste not in PASTES:
        raise ValueError(f"unknown paste '{paste}'; known: {', '.join(PASTES)}")
    run = Run(processes, model, x_T, cond, noise, callback)
    known, masks = as_list(known), as_list(edit_masks)
    times = run.clock.reverse_times()
    for k in range(len(times) - 1):
        t, t_next, last = run.times(times, k), run.times(times, k + 1), k == len(times) - 2
        for round_ in range(resample):
            if paste == "before":
                run.states = [_keep_known(process, x, original, mask, t, draw) for process, x, original, mask, draw
                              in zip(run.processes, run.states, known, masks, run.noises)]
            outputs = run.outputs(t)
            states, predictions = [], []
            for process, x, output, draw, original, mask in zip(run.processes, run.states, outputs, run.noises,
                                                                 known, masks):
                generated, x0 = process.step(x, t, t_next, output, draw)
                predictions.append(x0)
                if paste == "after":
                    generated = _keep_known(process, generated, original, mask, None if last else t_next, draw)
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
