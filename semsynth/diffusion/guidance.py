"""Classifier-free guidance over any set of processes, with one batched forward of the conditional and null passes.

Modes (``s`` the guidance scale; the paper's ``w`` is ``s - 1``):

* 'eps' (SDM, PITI code): ``eps = eps_null + s (eps_cond - eps_null)`` on each Gaussian process's eps channels;
  everything else (learned variance, categorical logits) from the conditional pass.
* 'eps+logits' (GCDP): the same combination also on each categorical process's logits (before log-softmax).
* 'normalized' (PITI paper, sec. 3.4, eq. 8): per sample and Gaussian process, with mu, sigma^2 (mu_null,
  sigma_null^2) the mean and variance of eps_cond (eps_null) over its channels and pixels:
  ``eps_hat = eps_cond + w (eps_cond - eps_null)``, ``mu_hat = mu + w (mu - mu_null)``,
  ``sigma_hat^2 = (1 + w)^2 sigma^2 + w^2 sigma_null^2``, ``eps = sigma / sigma_hat (eps_hat - mu_hat) + mu``.
  The released PITI code does not implement it; the paper does not say over which axes the statistics are taken,
  we take them per sample over all eps channels and pixels. Other channels come from the conditional pass.
  sigma_hat^2 is the paper's, derived assuming eps_cond and eps_null independent; where they nearly agree (cosine
  0.993-0.999 on the shapes PITI base) it shrinks eps to 1 / sqrt((1 + w)^2 + w^2) of its scale (README, PITI).

``t_max`` limits guidance to the model times below it, as Kynkaanniemi et al. (NeurIPS 2024, "Applying guidance in
a limited interval") do: at the noisier steps the conditional pass alone runs, which keeps the variety that
guidance at high noise removes and saves the null pass there.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .process import Model, Process, as_list

GUIDANCE_MODES = ("eps", "eps+logits", "normalized")


def _twice(x):
    return tuple(torch.cat([part, part]) for part in x) if isinstance(x, tuple) else torch.cat([x, x])


def normalized_guidance(eps_cond: torch.Tensor, eps_null: torch.Tensor, scale: float) -> torch.Tensor:
    """PITI's normalised classifier-free guidance (eq. 8) with w = ``scale`` - 1, statistics per sample."""
    w = scale - 1
    mu, mu_null = eps_cond.mean(dim=tuple(range(1, eps_cond.dim())), keepdim=True), \
        eps_null.mean(dim=tuple(range(1, eps_null.dim())), keepdim=True)
    var = eps_cond.var(dim=tuple(range(1, eps_cond.dim())), keepdim=True, unbiased=False)
    var_null = eps_null.var(dim=tuple(range(1, eps_null.dim())), keepdim=True, unbiased=False)
    eps_hat = eps_cond + w * (eps_cond - eps_null)
    mu_hat = mu + w * (mu - mu_null)
    sigma_hat = ((1 + w) ** 2 * var + w ** 2 * var_null).sqrt()
    return var.sqrt() / sigma_hat * (eps_hat - mu_hat) + mu


def classifier_free(model: Model, processes: Process | Sequence[Process], scale: float, mode: str = "eps",
                    null: Callable[[torch.Tensor], torch.Tensor] = torch.zeros_like,
                    t_max: float | None = None) -> Model:
    """A guided model callable for ``processes`` (their output channels in order); ``null(cond)`` builds the null
    condition (SDM: zeros, PITI: ones). ``scale <= 1`` returns ``model`` unchanged (a single conditional pass),
    as the official code does. With ``t_max``, samples at model times ``t >= t_max`` get the conditional pass
    alone (None: guidance at every step)."""
    if mode not in GUIDANCE_MODES:
        raise ValueError(f"unknown guidance mode '{mode}'; known: {', '.join(GUIDANCE_MODES)}")
    if scale <= 1.0:
        return model
    guided_kinds = {"eps+logits": ("eps", "logits")}.get(mode, ("eps",))
    spans, start = [], 0
    for process in as_list(processes):
        if process.guidance in guided_kinds:
            spans.append(slice(start, start + process.guidance_channels))
        start += process.channels

    def guided(x, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        inside = torch.ones_like(t, dtype=torch.bool) if t_max is None else t < t_max
        if not inside.any():
            return model(x, t, cond)
        output = model(_twice(x), torch.cat([t, t]), torch.cat([cond, null(cond)]))
        conditional, unconditional = output.chunk(2)
        parts, end = [], 0
        for span in spans:
            parts += [conditional[:, end:span.start]]
            eps_cond, eps_null = conditional[:, span], unconditional[:, span]
            parts += [normalized_guidance(eps_cond, eps_null, scale) if mode == "normalized"
                      else eps_null + scale * (eps_cond - eps_null)]
            end = span.stop
        combined = torch.cat(parts + [conditional[:, end:]], dim=1)
        if inside.all():
            return combined
        return torch.where(inside.view(-1, *[1] * (combined.dim() - 1)), combined, conditional)

    return guided
