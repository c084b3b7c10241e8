"""trainer.threads: 0 fits torch's threads to the cores other processes leave free."""

import types

import pytest
import torch

from asr import threads as threads_module
from asr.callbacks import LoadAwareThreads
from asr.threads import threads_for_load


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


def test_callback_follows_the_load(monkeypatch):
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
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
