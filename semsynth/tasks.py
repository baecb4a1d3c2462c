"""What a run asks of a method: ``layout-to-image`` (the benchmark's task: images for the dataset's layouts) or
``joint`` (GCDP Table 1: an image and its layout together from noise, ``generate_joint(seed)``). Under ``joint`` the
layouts the metrics see are the method's own, so each metric says how it scores such pairs
(``Metric.joint_options``, None: it does not)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .errors import UserError

if TYPE_CHECKING:
    import torch

LAYOUT_TO_IMAGE = "layout-to-image"
JOINT = "joint"
TASKS = (LAYOUT_TO_IMAGE, JOINT)


def cannot_do(task: str, name: str, method_class: type) -> str | None:
    """Why method ``name`` cannot run ``task`` (None when it can)."""
    if task not in TASKS:
        return f"unknown task '{task}'; use one of {', '.join(TASKS)}"
    if task == JOINT and not callable(getattr(method_class, "generate_joint", None)):
        return (f"method '{name}' has no joint generation (generate_joint): --task joint needs a method that "
                f"generates image and layout together, such as gcdp")
    return None


def check_task(task: str, name: str, method_class: type) -> None:
    """A ``UserError`` unless method ``name`` can run ``task``."""
    problem = cannot_do(task, name, method_class)
    if problem:
        raise UserError(problem)


def unmet_need(task: str, metric: type) -> str | None:
    """Why ``metric`` cannot score a run of ``task`` (None when it can)."""
    if task == JOINT and metric.joint_options is None:
        return "is not defined for joint generation (--task joint)"
    return None


def task_options(task: str, metric: type, options: dict[str, Any]) -> dict[str, Any]:
    """A metric's protocol ``options`` as they apply to ``task`` (joint: the metric's ``joint_options`` on top)."""
    return {**options, **metric.joint_options} if task == JOINT else dict(options)


def generate_pairs(method: Any, seeds: Sequence[int], prompts: Sequence[str | None] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images ``[B, 3, H, W]`` and int64 layouts ``[B, H, W]``: ``method.generate_joint`` for each seed, with
    ``prompts[i]`` where given (else the method's unconditional sample)."""
    import torch

    prompts = [None] * len(seeds) if prompts is None else prompts
    pairs = [method.generate_joint(seed) if prompt is None else method.generate_joint(seed, prompt)
             for seed, prompt in zip(seeds, prompts)]
    return torch.stack([image for image, _ in pairs]), torch.stack([layout.labels for _, layout in pairs])
