"""The device a run asks for, checked before anything is built on it: an unknown name or a GPU this machine does not
have is a one-line ``UserError`` instead of a torch traceback halfway through a run."""

from __future__ import annotations

import torch

from .errors import UserError

SUPPORTED = ("cpu", "cuda", "mps")


def resolve(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine ('cpu', 'cuda', 'cuda:N' or 'mps')."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"unknown device {device!r}; use one of cpu, cuda, cuda:N, mps") from None
    if parsed.type not in SUPPORTED:
        raise UserError(f"device {device!r} is not supported; use one of cpu, cuda, cuda:N, mps")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"device {device!r}: no CUDA GPU is available on this machine (torch "
                            f"{torch.__version__}); use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise UserError(f"device {device!r}: this machine has {count} CUDA GPU(s) (cuda:0..cuda:{count - 1})")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {device!r}: Apple MPS is not available on this machine; use --device cpu")
    if parsed.type == "cpu" and parsed.index not in (None, 0):
        raise UserError(f"device {device!r}: there is one CPU device; use --device cpu")
    return parsed


def device_name(device: torch.device) -> str:
    """A human-readable name of ``device`` for records (the GPU's model, or the CPU's model name and core count), so
    that a cost per image says what it was measured on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    import os
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
