"""Helpers for data-parallel (DDP) training: which process this is, and gathering Python objects.

Lightning starts the processes and sets up the process group; this module only asks about it, so every
function also works, trivially, in a single process.
"""

from __future__ import annotations

import os

import torch.distributed as dist

# Where launchers put a process's global rank: torchrun, Lightning's own launcher (its children), SLURM.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID")


def launcher_rank() -> int:
    """This process's rank as its launcher announced it (0 when started by hand), known before any process
    group exists. Under SLURM without DDP, SLURM_PROCID is 0 for a single task."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_lists(items: list) -> list:
    """Every rank's ``items`` concatenated in rank order, on every rank (picklable objects; any backend)."""
    if world_size() == 1:
        return list(items)
    parts: list = [None] * world_size()
    dist.all_gather_object(parts, list(items))
    return [item for part in parts for item in part]
