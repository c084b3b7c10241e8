"""Training callbacks: atomic Lightning checkpoints, model-file export, throughput."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from asr import threads as threads_module
from asr.average import write_average
from asr.checkpoint import save_bundle
from asr.data.dataset import Batch
from asr.io_utils import atomic_write
from asr.threads import auto_threads, usable_cores

log = logging.getLogger("asr.train")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes Lightning checkpoints to a temporary file beside the target, then renames it over the target.

    Lightning's own writer goes through an fsspec transaction that stages the file in the system temp
    folder and moves it into place: across file systems that move is a copy, so a kill or a full disk
    during it leaves a truncated ``last.ckpt``, the one file ``--resume`` needs. A rename within one
    folder is atomic: the previous checkpoint stays whole until the new one is complete and synced.
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        with atomic_write(path, "wb") as handle:
            torch.save(checkpoint, handle)


class ExportModel(Callback):
    """Writes self-contained model files (our safe format) beside Lightning's resume checkpoints."""

    def __init__(self, exp_dir: Path, bundle_for: callable, metric: str = "val_wer", average_last: int = 0):
        self.exp_dir = exp_dir
        self.bundle_for = bundle_for
        self.metric = metric
        self.best: tuple[float, float] = (math.inf, math.inf)
        self.average_last = average_last

    # on_validation_end, not on_validation_epoch_end: Lightning calls a callback's epoch-end hook before the
    # LightningModule's, where this epoch's val_wer/val_cer are logged, so the metrics read there were the
    # previous epoch's (model_best.pt was chosen by the wrong score and a 1-epoch run wrote no model).
    def on_validation_end(self, trainer: L.Trainer, task) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        # Under DDP the scores are the same on every rank (gathered); rank 0 alone writes the files.
        if self.metric not in metrics or not trainer.is_global_zero:
            return
        # Ties are common on small dev sets (several epochs at 0% WER): the lower dev loss breaks them.
        score = (float(metrics[self.metric]), float(metrics.get("val_loss", math.inf)))
        scores = {k[4:]: float(v) for k, v in metrics.items() if k in ("val_wer", "val_cer", "val_per")}
        bundle = self.bundle_for(task, epoch=trainer.current_epoch, step=trainer.global_step, loss=score[1],
                                 **scores)
        save_bundle(bundle, self.exp_dir / "model_last.pt")
        if score < self.best:
            self.best = score
            save_bundle(bundle, self.exp_dir / "model_best.pt")
        if self.average_last > 1:
            save_bundle(bundle, self.exp_dir / f"model_epoch{trainer.current_epoch:03d}.pt")
            for old in self._epoch_models()[: -self.average_last]:
                old.unlink()

    def _epoch_models(self) -> list[Path]:
        return sorted(self.exp_dir.glob("model_epoch[0-9][0-9][0-9].pt"))

    def on_fit_end(self, trainer: L.Trainer, task) -> None:
        epochs = self._epoch_models()
        if self.average_last > 1 and len(epochs) > 1 and trainer.is_global_zero:
            path = write_average(epochs, self.exp_dir / "model_avg.pt")
            log.info("%s: weights averaged over %s", path, ", ".join(p.name for p in epochs))

    def state_dict(self) -> dict:
        return {"best": list(self.best)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best = tuple(state_dict.get("best", (math.inf, math.inf)))


class ThroughputMeter(Callback):
    """Audio seconds trained per second of training-step wall time (validation excluded), per epoch."""

    def __init__(self, hop_seconds: float):
        self.hop_seconds = hop_seconds
        self.audio = 0.0
        self.elapsed = 0.0
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer, task) -> None:
        self.audio, self.elapsed = 0.0, 0.0

    def on_train_batch_start(self, trainer, task, batch: Batch, batch_idx: int) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, task, outputs, batch: Batch, batch_idx: int) -> None:
        self.elapsed += time.perf_counter() - self._t0
        self.audio += float(batch.feat_lengths.sum()) * self.hop_seconds

    def on_train_epoch_end(self, trainer, task) -> None:
        if self.elapsed > 0:
            # Under DDP: the ranks' speeds summed (they train side by side), logged by rank 0.
            speed = self.audio / self.elapsed
            task.log("train_audio_sps", speed, sync_dist=True, reduce_fx="sum")
            if trainer.is_global_zero:
                where = f" (rank 0 of {trainer.world_size})" if trainer.world_size > 1 else ""
                log.info("epoch %d: %.0f audio-s in %.1fs of training steps = %.1f audio-s/s%s",
                         trainer.current_epoch, self.audio, self.elapsed, speed, where)


class EpochSummary(Callback):
    """One log line per epoch with the dev scores: what a log file gets instead of a progress bar, whose
    carriage-return updates fill a redirected log with thousands of lines."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_start(self, trainer, task) -> None:
        self._t0 = time.perf_counter()

    def on_validation_end(self, trainer, task) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        parts = [f"{k} {float(metrics[k]):.4f}" for k in ("train_loss", "val_loss", "val_wer", "val_cer", "val_per")
                 if k in metrics]
        log.info("epoch %d/%d (%.0fs): %s", trainer.current_epoch, trainer.max_epochs - 1,
                 time.perf_counter() - self._t0, ", ".join(parts))


class LoadAwareThreads(Callback):
    """``trainer.threads: 0``: at each epoch's start, torch's threads fit to the cores other processes leave free
    (asr/threads.py: more threads than free cores made OpenMP spin and training many times slower)."""

    def on_train_epoch_start(self, trainer, task) -> None:
        current = torch.get_num_threads()
        threads = auto_threads(own=current)
        if threads != current:
            torch.set_num_threads(threads)
            if trainer.is_global_zero:
                log.info("epoch %d: %d torch threads (was %d): other processes' load %.1f on %d usable cores",
                         trainer.current_epoch, threads, current, threads_module.last_others_load or 0.0,
                         usable_cores())
