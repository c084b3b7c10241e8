"""Torch's thread count for training, chosen from the cores this process may use and the load on them.

With more compute threads than free cores, OpenMP threads spin waiting for each other at every parallel
region: on the 2-core machine under a load of 12, a 3x256 BiLSTM training step ran 28x slower on 2 threads
than on 1 (tools/bench/results/load.md). So ``trainer.threads: 0`` takes the usable cores less the load
other processes put on them (the 1-minute load average less this process's own threads), at least one, and
looks again at every epoch, since other jobs come and go. On an idle machine that is every usable core.
"""

from __future__ import annotations

import math
import os


def usable_cores() -> int:
    """The cores this process may run on (taskset, cgroup cpusets), not all the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_for_load(cores: int, load: float, own: int = 0) -> int:
    """Threads that fit beside the others: ``cores`` less the load not ours (``own`` threads of ours running).

    A core counts as free when other processes use less than half of it.
    """
    others = max(0.0, load - own)
    return max(1, min(cores, math.floor(cores - others + 0.5)))


def auto_threads(own: int = 0) -> int:
    """``threads_for_load`` for this machine now; every usable core where the load average is unknown."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return usable_cores()
    return threads_for_load(usable_cores(), load, own)
