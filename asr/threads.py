"""Torch's thread count for training, chosen from the cores this process may use and the load on them.

With more compute threads than free cores, OpenMP threads spin waiting for each other at every parallel
region: on the 2-core machine under a load of 12, a 3x256 BiLSTM training step ran 28x slower on 2 threads
than on 1 (tools/bench/results/load.md). So ``trainer.threads: 0`` takes the usable cores less the load
other processes put on them, at least one, and looks again at every epoch, since other jobs come and go. On an
idle machine that is every usable core.

The load of the others is the smaller of two measures: the 1-minute load average less this process's own
threads, and (on Linux) the CPU time /proc/stat counts on our cores since the last look less this process's
own. The load average alone lags: a job that ended a few seconds before training started still counted as a
busy core for a minute, so a run on an idle machine spent its whole first epoch on one thread.
"""

from __future__ import annotations

import math
import os
import time


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


def busy_seconds(stat_text: str, cpus: set[int], ticks_per_second: float) -> float | None:
    """CPU seconds spent busy (all but idle and iowait) on ``cpus`` since boot, from /proc/stat's text; None
    when no line names one of them."""
    busy, found = 0, False
    for line in stat_text.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        fields = [int(x) for x in rest.split()[:8]]
        if len(fields) < 5:
            continue
        busy += sum(fields) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
        found = True
    return busy / ticks_per_second if found else None


class OthersCpu:
    """Cores' worth of CPU time other processes used on our cores between two looks (Linux; None elsewhere)."""

    def __init__(self, read_stat=None, own_seconds=None, clock=time.monotonic, cpus: set[int] | None = None,
                 sleep=time.sleep):
        self._read_stat = read_stat or _read_proc_stat
        self._own_seconds = own_seconds or (lambda: sum(os.times()[:2]))
        self._clock = clock
        self._sleep = sleep
        self._cpus = cpus
        self._last = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float] | None:
        text = self._read_stat()
        if text is None:
            return None
        cpus = self._cpus if self._cpus is not None else (
            set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1)))
        busy = busy_seconds(text, cpus, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100.0)
        return None if busy is None else (self._clock(), busy, self._own_seconds())

    def since_last(self, min_interval: float = 0.5, wait: bool = False) -> float | None:
        """Other processes' average busy cores since the last call (or since construction); None when unknown
        or when less than ``min_interval`` seconds passed (too short to say), unless ``wait``: then it sleeps
        out the rest of the interval and looks again."""
        now, last = self._snapshot(), self._last
        if wait and now is not None and last is not None and now[0] - last[0] < min_interval:
            self._sleep(min_interval - (now[0] - last[0]))
            now = self._snapshot()
        if now is None or last is None or now[0] - last[0] < min_interval:
            if last is None:
                self._last = now
            return None
        self._last = now
        return max(0.0, (now[1] - last[1] - (now[2] - last[2])) / (now[0] - last[0]))


def _read_proc_stat() -> str | None:
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            return handle.read()
    except OSError:
        return None


# Measured from here: the import comes seconds before training picks its threads (torch and data loading).
_others = OthersCpu()


def auto_threads(own: int = 0) -> int:
    """``threads_for_load`` for this machine now; every usable core where the load is unknown."""
    cores = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    # Waits out a window too short to measure (at most 0.5 s, once, when training starts soon after import):
    # without it the load average decided alone, and still counted a job that had ended seconds before (a
    # benchmark's first model started on one thread of two).
    sampled = _others.since_last(wait=True)
    if load is None and sampled is None:
        return cores
    others = [max(0.0, load - own)] if load is not None else []
    if sampled is not None:
        others.append(sampled)
    global last_others_load
    last_others_load = min(others)
    return threads_for_load(cores, last_others_load)


# The others' load (busy cores) behind auto_threads' last answer, for logs.
last_others_load: float | None = None
