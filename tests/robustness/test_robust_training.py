"""Faults during training: kill -9 and resume, a kill during a checkpoint save, NaN/Inf losses and gradients."""

from __future__ import annotations

import csv
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

import asr.train
from asr.checkpoint import check_training_checkpoint, load_bundle
from asr.config import load_config
from asr.train import CtcTask, train

# The first run sleeps in every training step: wall time, not CPU, so the kill lands inside an epoch.
_SLOW_TRAIN = textwrap.dedent("""
    import sys, time
    import asr.train
    from asr.cli import main

    step = asr.train.CtcTask.training_step

    def slow_step(self, batch, batch_idx):
        time.sleep(0.05)
        return step(self, batch, batch_idx)

    asr.train.CtcTask.training_step = slow_step
    asr.train.on_terminal = lambda: True  # the test reads the progress bar from a redirected log
    sys.exit(main(sys.argv[1:]))
""")
# Lightning's progress bar line, e.g. "Epoch 2:  40%|████      | 2/5 [00:00<00:01, ...]".
_BAR = re.compile(r"Epoch (\d+):\s+\d+%\|[^|\r\n]*\| (\d+)/(\d+)")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_kill_9_mid_epoch_then_resume(tiny_corpus: Path, overrides) -> None:
    epochs = 6
    args = overrides(tiny_corpus, **{"trainer.max_epochs": epochs, "data.max_batch_seconds": 1.5,
                                     "trainer.log_every_n_steps": 1})
    exp = tiny_corpus / "exp"
    last = exp / "checkpoints" / "last.ckpt"
    log_file = tiny_corpus / "first-run.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_file, "w") as log:
        first = subprocess.Popen([sys.executable, "-c", _SLOW_TRAIN, "train", *args, "trainer.progress_bar=true"],
                                 stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        position = None
        deadline = time.monotonic() + 240
        while first.poll() is None and time.monotonic() < deadline:
            bars = _BAR.findall(log_file.read_text(errors="replace"))
            if bars and last.is_file():
                epoch, done, total = map(int, bars[-1])
                if epoch >= 2 and 0 < done < total:  # inside an epoch, with at least one epoch saved
                    first.send_signal(signal.SIGKILL)
                    position = (epoch, done, total)
                    break
            time.sleep(0.02)
    finally:
        if first.poll() is None and position is None:
            first.kill()
        first.wait()
    assert position is not None, f"never saw a mid-epoch moment to kill at:\n{log_file.read_text()[-2000:]}"
    assert first.returncode == -signal.SIGKILL

    epoch, done, per_epoch = position
    saved = check_training_checkpoint(last)  # whole and loadable right after the kill
    steps_at_kill = epoch * per_epoch + done
    steps_lost = steps_at_kill - saved["global_step"]
    epochs_lost = epoch - (saved["epoch"] + 1)  # whole epochs finished but not in the checkpoint
    print(f"killed in epoch {epoch} after step {done}/{per_epoch}; checkpoint: epoch {saved['epoch']}, "
          f"step {saved['global_step']}; lost {steps_lost} steps, {epochs_lost} whole epochs")
    assert epochs_lost == 0 and 0 <= steps_lost <= per_epoch  # at most the work since the last checkpoint

    stale = last.parent / ".last.ckpt.interrupted.tmp"
    stale.write_bytes(b"half a checkpoint")  # what a kill during a save leaves behind
    resumed = subprocess.run([sys.executable, "-m", "asr.cli", "train", "--resume", *args],
                             capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not stale.exists()
    rows = _rows(exp / "logs" / "version_1" / "metrics.csv")
    steps = [int(r["step"]) for r in rows]
    trained = sorted({int(r["epoch"]) for r in rows if r.get("train_loss")})
    assert min(steps) >= saved["global_step"]  # went on from the checkpoint, not from step 0
    assert trained == list(range(saved["epoch"] + 1, epochs))  # from the next epoch to the last
    assert load_bundle(exp / "model_last.pt").info["epoch"] == epochs - 1


_DIE_WHILE_SAVING = textwrap.dedent("""
    import io, os, signal, sys
    import torch
    from asr.callbacks import AtomicCheckpointIO

    checkpoint_io, path = AtomicCheckpointIO(), sys.argv[1]
    checkpoint_io.save_checkpoint({"global_step": 1, "state_dict": {"w": torch.ones(10)}}, path)
    real_save = torch.save

    def save_then_die(obj, handle):
        buffer = io.BytesIO()
        real_save(obj, buffer)
        data = buffer.getvalue()
        handle.write(data[: len(data) // 2])
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = save_then_die
    checkpoint_io.save_checkpoint({"global_step": 2, "state_dict": {"w": torch.zeros(2_000_000)}}, path)
""")


def test_kill_during_a_checkpoint_save_keeps_the_previous_one(tmp_path: Path) -> None:
    last = tmp_path / "last.ckpt"
    result = subprocess.run([sys.executable, "-c", _DIE_WHILE_SAVING, str(last)], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]
    (partial,) = tmp_path.glob(".last.ckpt.*.tmp")  # it did die half-way through writing the new one
    assert partial.stat().st_size > 1_000_000
    assert check_training_checkpoint(last)["global_step"] == 1


def test_the_trainer_saves_checkpoints_atomically(tiny_corpus: Path, overrides, monkeypatch) -> None:
    """Lightning's ModelCheckpoint goes through our CheckpointIO, not its own non-atomic writer."""
    paths: list[str] = []
    real = asr.train.AtomicCheckpointIO.save_checkpoint

    def spy(self, checkpoint, path, storage_options=None):
        paths.append(Path(path).name)
        return real(self, checkpoint, path, storage_options)

    monkeypatch.setattr(asr.train.AtomicCheckpointIO, "save_checkpoint", spy)
    train(load_config(None, overrides(tiny_corpus, **{"trainer.max_epochs": 1})))
    assert {"last.ckpt", "best.ckpt"} <= set(paths)


def test_non_finite_loss_or_gradient_skips_the_step(tiny_corpus: Path, overrides, monkeypatch) -> None:
    poison = {2: "nan loss", 4: "inf loss", 6: "nan gradient"}  # by training step, counted from 1
    snapshots: list[torch.Tensor] = []
    real_loss = CtcTask._loss

    def poisoned_loss(self, batch, augment, **options):
        loss, log_probs, out_lengths = real_loss(self, batch, augment, **options)
        if augment:  # training only; validation calls this with augment=False
            # The weights this step starts from are the weights the previous step left.
            snapshots.append(torch.cat([p.detach().flatten().clone() for p in self.parameters()]))
            kind = poison.get(len(snapshots))
            if kind == "nan loss":
                loss = loss * float("nan")
            elif kind == "inf loss":
                loss = loss + float("inf")
            elif kind == "nan gradient":  # the loss stays finite; only backward sees the NaN
                log_probs.register_hook(lambda grad: grad * float("nan"))
        return loss, log_probs, out_lengths

    monkeypatch.setattr(CtcTask, "_loss", poisoned_loss)
    exp = tiny_corpus / "exp"
    train(load_config(None, overrides(tiny_corpus, **{"trainer.max_epochs": 3, "data.max_batch_seconds": 1.5})))

    assert len(snapshots) > max(poison) + 2  # training went on after the poisoned steps
    for step in range(1, len(snapshots)):
        unchanged = torch.equal(snapshots[step - 1], snapshots[step])
        # A skipped step leaves every weight as it was (AdamW's momentum must not move them either).
        assert unchanged == (step in poison), f"step {step}: {'unchanged' if unchanged else 'changed'}"
    assert all(torch.isfinite(s).all() for s in snapshots)
    model = load_bundle(exp / "model_last.pt")
    assert all(torch.isfinite(p).all() for p in model.model.parameters())
    assert model.info["skipped_steps"] == len(poison)
    logged = [float(r["skipped_steps"]) for r in _rows(exp / "logs" / "version_0" / "metrics.csv")
              if r.get("skipped_steps")]
    assert logged and logged[-1] == len(poison)  # the count reaches the training log
    train_losses = [float(r["train_loss"]) for r in _rows(exp / "logs" / "version_0" / "metrics.csv")
                    if r.get("train_loss")]
    assert train_losses and all(math.isfinite(v) for v in train_losses)
