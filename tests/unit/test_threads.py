"""trainer.threads: 0 fits torch's threads to the cores other processes leave free."""

import types

import pytest
import torch

from asr import threads as threads_module
from asr.callbacks import LoadAwareThreads
from asr.threads import OthersCpu, busy_seconds, threads_for_load


@pytest.mark.parametrize(("cores", "load", "own", "expected"), [
    (2, 0.1, 0, 2),    # idle: every core
    (2, 12.0, 0, 1),   # far more runnable work than cores: one thread, never zero
    (2, 1.0, 0, 1),    # one busy process beside us
    (2, 2.1, 2, 2),    # the load is our own two threads
    (2, 3.0, 2, 1),    # ours plus one other
    (16, 4.2, 0, 12),
    (16, 0.0, 0, 16),
])
def test_threads_for_load(cores, load, own, expected):
    assert threads_for_load(cores, load, own) == expected


class FixedSample:
    def __init__(self, value):
        self.value = value

    def since_last(self, min_interval=0.5, wait=False):
        return self.value


def test_callback_follows_the_load(monkeypatch):
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads_module, "_others", FixedSample(None))  # the load average alone
    trainer = types.SimpleNamespace(is_global_zero=True, current_epoch=3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(threads_module.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
        LoadAwareThreads().on_train_epoch_start(trainer, None)
        assert torch.get_num_threads() == 1
        monkeypatch.setattr(threads_module.os, "getloadavg", lambda: (1.05, 2.0, 3.0))  # our one thread alone
        LoadAwareThreads().on_train_epoch_start(trainer, None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


STAT = """cpu  900 0 300 5000 100 0 0 0 0 0
cpu0 400 0 100 2500 50 0 0 0 0 0
cpu1 500 0 200 2500 50 10 5 1 0 0
cpu2 7777 0 0 0 0 0 0 0 0 0
intr 12345
"""


def test_busy_seconds_counts_only_our_cores_and_leaves_idle_and_iowait_out():
    assert busy_seconds(STAT, {0, 1}, 100) == pytest.approx((400 + 100 + 500 + 200 + 10 + 5 + 1) / 100)
    assert busy_seconds(STAT, {1}, 100) == pytest.approx(7.16)
    assert busy_seconds(STAT, {7}, 100) is None


def test_others_cpu_is_the_busy_time_of_our_cores_less_our_own():
    # Over 4 s our cores were busy 6 s, 2 of them ours: others used one core on average.
    stats = iter([("cpu0 100 0 0 0 0", "cpu1 0 0 0 0 0"), ("cpu0 400 0 0 0 0", "cpu1 300 0 0 0 0")])
    own, clock = iter([1.0, 3.0]), iter([10.0, 14.0])
    sampler = OthersCpu(read_stat=lambda: "\n".join(next(stats)), own_seconds=lambda: next(own),
                        clock=lambda: next(clock), cpus={0, 1})
    ticks = threads_module.os.sysconf("SC_CLK_TCK")
    assert sampler.since_last() == pytest.approx((600 / ticks - 2.0) / 4.0)


def test_others_cpu_says_nothing_where_proc_stat_is_missing_or_the_interval_too_short():
    assert OthersCpu(read_stat=lambda: None).since_last() is None
    clock = iter([0.0, 0.1])
    sampler = OthersCpu(read_stat=lambda: "cpu0 1 0 0 0 0", own_seconds=lambda: 0.0, clock=lambda: next(clock),
                        cpus={0})
    assert sampler.since_last(min_interval=0.5) is None


def test_others_cpu_waits_out_a_window_too_short_when_asked():
    # 0.1 s after the first look: too short; asked to wait, it sleeps the remaining 0.4 s and looks again.
    stats = iter(["cpu0 100 0 0 0 0", "cpu0 110 0 0 0 0", "cpu0 150 0 0 0 0"])
    clock = iter([0.0, 0.1, 0.5])
    slept = []
    sampler = OthersCpu(read_stat=lambda: next(stats), own_seconds=lambda: 0.0, clock=lambda: next(clock),
                        cpus={0}, sleep=slept.append)
    ticks = threads_module.os.sysconf("SC_CLK_TCK")
    assert sampler.since_last(min_interval=0.5, wait=True) == pytest.approx((50 / ticks) / 0.5)
    assert slept == [pytest.approx(0.4)]


@pytest.mark.parametrize(("load", "sampled", "expected"), [
    (1.9, 0.1, 2),   # a job ended seconds ago: the load average still counts it, the cores are free now
    (0.2, 1.0, 2),   # a brief burst during the look: the load average says the cores were mostly free
    (1.9, 1.0, 1),   # a job that has run for minutes and still runs
    (1.9, None, 1),  # no /proc/stat: the load average alone, as before
])
def test_auto_threads_takes_the_smaller_of_load_average_and_measured_load(monkeypatch, load, sampled, expected):
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads_module.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(threads_module, "_others", FixedSample(sampled))
    assert threads_module.auto_threads(own=0) == expected
