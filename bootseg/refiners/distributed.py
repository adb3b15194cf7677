"""Training on several processes with ``torch.distributed``, as launched by ``torchrun``.

Every process holds the whole (resized) training set; each epoch, :class:`torch.utils.data.DistributedSampler`
gives each process its own part of that epoch's seeded permutation, DistributedDataParallel averages the gradients,
and the losses and BatchNorm statistics are averaged over the processes, so every process makes the same decisions
and ends with the same weights.

This module does not import torch at import time.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["Distributed", "join", "launched_by_torchrun", "local_rank", "rank_seed", "shard"]

log = logging.getLogger(__name__)

_created_group: Any = None  # the default process group join() created, if it did


@dataclass(frozen=True)
class Distributed:
    """This process's place in a training run over several processes.

    Attributes
    ----------
    rank, world_size, local_rank : int
        The process's index, the number of processes, and its index on this machine (its GPU).
    owns_group : bool
        Whether bootseg created the process group (it then destroys it when the process exits); a group the
        caller created is left alone.

    >>> Distributed(rank=1, world_size=2, local_rank=1, owns_group=True).is_main
    False
    """

    rank: int
    world_size: int
    local_rank: int
    owns_group: bool

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that logs and shows progress."""
        return self.rank == 0


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def launched_by_torchrun(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment shows a launch of several processes (``WORLD_SIZE`` > 1, ``RANK``, ``LOCAL_RANK``).

    >>> launched_by_torchrun({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    True
    >>> launched_by_torchrun({"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}), launched_by_torchrun({})
    (False, False)
    """
    environ = os.environ if environ is None else environ
    world = _env_int(environ, "WORLD_SIZE")
    return world is not None and world > 1 and None not in (_env_int(environ, "RANK"), _env_int(environ, "LOCAL_RANK"))


def local_rank(environ: Mapping[str, str] | None = None) -> int | None:
    """``LOCAL_RANK`` under a torchrun launch of several processes, else ``None``.

    >>> local_rank({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}), local_rank({})
    (1, None)
    """
    environ = os.environ if environ is None else environ
    return _env_int(environ, "LOCAL_RANK") if launched_by_torchrun(environ) else None


def join(device: torch.device) -> Distributed | None:
    """This process's :class:`Distributed` place, or ``None`` for a training run in one process.

    Uses the default process group when one of more than one process exists (the caller's, or the one an earlier
    training created); otherwise, under a torchrun launch, initialises it from the environment (``nccl`` on CUDA,
    ``gloo`` elsewhere) and keeps it for later trainings in this process: re-creating the default group after
    destroying it can hang while the ranks exchange addresses through torchrun's store. bootseg destroys the
    group it created when the process exits, and never destroys one it did not create.

    >>> import torch
    >>> join(torch.device("cpu")) is None  # one process, no torchrun
    True
    """
    import torch
    import torch.distributed as dist

    global _created_group
    if not dist.is_available():
        if launched_by_torchrun():
            log.warning("launched with WORLD_SIZE > 1 but this torch has no torch.distributed; training alone")
        return None
    if dist.is_initialized():
        if dist.get_world_size() == 1:
            return None
        rank = dist.get_rank()
        local = _env_int(os.environ, "LOCAL_RANK") or 0
        return Distributed(rank, dist.get_world_size(), local, owns_group=_created_group is dist.group.WORLD)
    if not launched_by_torchrun():
        return None
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    _created_group = dist.group.WORLD
    atexit.register(_destroy_created_group)
    context = Distributed(dist.get_rank(), dist.get_world_size(), local_rank() or 0, owns_group=True)
    if context.is_main:
        log.info("training on %d processes (torch.distributed, backend %s)", context.world_size, dist.get_backend())
    return context


def _destroy_created_group() -> None:
    import torch.distributed as dist

    global _created_group
    if _created_group is not None and dist.is_initialized() and dist.group.WORLD is _created_group:
        dist.destroy_process_group()
    _created_group = None


def rank_seed(seed: int, rank: int) -> int:
    """The augmentation seed of process ``rank``: ``seed`` itself on rank 0, a different stream on every other.

    >>> rank_seed(7, 0), rank_seed(7, 1) != rank_seed(7, 0)
    (7, True)
    """
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0] >> 1)


def shard(train_idx: torch.Tensor, epoch: int, seed: int, context: Distributed) -> torch.Tensor:
    """This process's training indices for ``epoch``: its part of the epoch's seeded permutation.

    The same :class:`~torch.utils.data.DistributedSampler` that a ``DataLoader`` would use: the parts are
    disjoint, of equal length (the permutation is padded with its first entries when the count does not divide),
    and together cover every index.

    >>> import torch
    >>> idx = torch.arange(10, 20)
    >>> parts = [shard(idx, 1, 0, Distributed(r, 2, r, False)) for r in (0, 1)]
    >>> [len(p) for p in parts], sorted(torch.cat(parts).tolist()) == list(range(10, 20))
    ([5, 5], True)
    """
    import torch
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(
        range(len(train_idx)), num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=seed
    )
    sampler.set_epoch(epoch)
    return train_idx[torch.as_tensor(list(sampler), dtype=torch.long, device=train_idx.device)]


def all_reduce_sum(*values: torch.Tensor) -> list[torch.Tensor]:
    """The float64 sums over every process of scalar tensors (one collective call for all of them)."""
    import torch
    import torch.distributed as dist

    stacked = torch.stack([v.detach().to(torch.float64) for v in values])
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    return list(stacked.unbind())


def average_buffers(model: nn.Module, world_size: int) -> None:
    """Average the floating-point buffers (BatchNorm running statistics) of ``model`` over every process."""
    import torch.distributed as dist

    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(world_size)
