"""Choosing the torch device a stage runs on."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; any other value is checked and returned.

    Under a ``torchrun`` launch of several processes, ``"auto"`` and ``"cuda"`` mean ``cuda:LOCAL_RANK``, one GPU
    per process; an explicit ``"cuda:N"`` is kept.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return _cuda_for_this_process()
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available here; use 'auto' or 'cpu'")
    if resolved.type == "cuda" and resolved.index is None:
        return _cuda_for_this_process()
    if resolved.type == "cuda" and resolved.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(
            f"device {device!r} was asked for but this machine has {count} CUDA device(s) (cuda:0 to "
            f"cuda:{count - 1}); use one of them, or 'auto'"
        )
    if resolved.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} was asked for but Apple MPS is not available here; use 'auto' or 'cpu'")
    return resolved


def _cuda_for_this_process() -> torch.device:
    """``cuda:LOCAL_RANK`` under a torchrun launch of several processes, plain ``cuda`` otherwise."""
    from .distributed import local_rank

    rank = local_rank()
    if rank is None:
        return torch.device("cuda")
    count = torch.cuda.device_count()
    if rank >= count:
        raise ValueError(
            f"this process has LOCAL_RANK {rank} but the machine has {count} CUDA device(s); start at most "
            f"{count} processes per machine (torchrun --nproc_per_node={count})"
        )
    return torch.device("cuda", rank)
