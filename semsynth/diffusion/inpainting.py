"""RePaint-style inpainting (Lugmayr et al. 2022; SDM's editing, Eq. 12) over any set of processes: ancestral
sampling where the known part of each modality follows its forward-noised original at every step and only the
rest is generated. Cross-modal outpainting (e.g. a known label map, an unknown image) is a mask of all 0 for the
known modality and all 1 for the generated one."""

from __future__ import annotations

from typing import Sequence

import torch

from .process import Model, Noise, Process, as_list
from .samplers import Callback, Run


def repaint(processes: Process | Sequence[Process], model: Model, x_T, cond, known, edit_masks,
            noise: Noise | Sequence[Noise], resample: int = 1, callback: Callback | None = None):
    """Regenerate where each process's ``edit_masks`` entry is True (bool, broadcastable to its state; None =
    generate all of it), keep its ``known`` state (data x0, or a log one-hot map) elsewhere. After each step the
    kept part is ``add_noise(known, t_next)`` (the original itself after the last step); with ``resample > 1`` each
    step is repeated after re-noising back to ``t`` (RePaint's jump length 1). GCDP pastes the known part before
    each step instead of after it; both end on the known part exactly."""
    run = Run(processes, model, x_T, cond, noise, callback)
    known, masks = as_list(known), as_list(edit_masks)
    times = run.clock.reverse_times()
    for k in range(len(times) - 1):
        t, t_next, last = run.times(times, k), run.times(times, k + 1), k == len(times) - 2
        for round_ in range(resample):
            outputs = run.outputs(t)
            states, predictions = [], []
            for process, x, output, draw, original, mask in zip(run.processes, run.states, outputs, run.noises,
                                                                 known, masks):
                generated, x0 = process.step(x, t, t_next, output, draw)
                predictions.append(x0)
                if mask is None:
                    states.append(generated)
                    continue
                kept = original if last else process.add_noise(original, t_next, draw())
                states.append(torch.where(mask.to(generated.device), generated, kept))
            run.states = states
            if round_ < resample - 1 and not last:
                run.states = [process.renoise(x, t_next, t, draw)
                              for process, x, draw in zip(run.processes, run.states, run.noises)]
        run.report(t, predictions)
    return run.packed(run.states)
