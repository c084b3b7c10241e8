"""Training: data preparation, the LightningModule and the Trainer set-up (callbacks, loggers, resume)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader

from asr.average import write_average
from asr.checkpoint import AsrBundle, check_training_checkpoint, save_bundle
from asr.config import TrainConfig, to_dict
from asr.data.dataset import Batch, FeatureDataset, collate, extract_features
from asr.data.manifest import Utterance, read_manifest
from asr.data.sampler import DurationBucketSampler
from asr.decode.greedy import GreedyDecoder
from asr.errors import ConfigError
from asr.features import compute_cmvn, spec_augment
from asr.io_utils import atomic_write
from asr.metrics import error_report
from asr.model import CtcModel
from asr.text import CharTokenizer, TextNormalizer, count_unknown_chars

log = logging.getLogger("asr.train")


def _single_lightning_console() -> None:
    """Let Lightning's messages print once.

    The ``lightning`` package adds its own console handler and still propagates to the root logger, so under
    an application that configured logging (``asr train``) every Lightning line was printed twice.
    """
    if logging.getLogger().hasHandlers():
        lightning_logger = logging.getLogger("lightning")
        for handler in list(lightning_logger.handlers):
            if type(handler) is logging.StreamHandler:
                lightning_logger.removeHandler(handler)


def ctc_min_frames(target: list[int]) -> int:
    """Frames CTC needs for a label sequence: one per label plus a blank between repeated labels."""
    return len(target) + sum(1 for a, b in zip(target, target[1:]) if a == b)


@dataclass
class PreparedData:
    train: FeatureDataset
    dev: FeatureDataset
    train_durations: list[float]
    tokenizer: CharTokenizer
    normalizer: TextNormalizer
    cmvn_mean: torch.Tensor
    cmvn_std: torch.Tensor
    skipped: dict[str, int]


def _subsampled(frames: int, factor: int) -> int:
    layers = {1: 0, 2: 1, 4: 2}[factor]
    for _ in range(layers):
        frames = (frames + 1) // 2
    return frames


def _build_split(
    name: str,
    utts: list[Utterance],
    feats: list[torch.Tensor],
    normalizer: TextNormalizer,
    tokenizer: CharTokenizer,
    factor: int,
    max_duration: float | None,
    skipped: dict[str, int],
) -> tuple[FeatureDataset, list[float]]:
    ids, kept_feats, targets, texts, durations = [], [], [], [], []
    unknown = count_unknown_chars(tokenizer, (normalizer(u.text) for u in utts))
    if unknown:
        log.warning("%s: characters not in the tokenizer (utterances holding them are skipped): %s",
                    name, ", ".join(f"{c!r} x{n}" for c, n in unknown.most_common()))
    for utt, f in zip(utts, feats):
        text = normalizer(utt.text)
        if not text:
            skipped[f"{name}_empty_text"] = skipped.get(f"{name}_empty_text", 0) + 1
            continue
        if tokenizer.unknown_chars(text):
            skipped[f"{name}_unknown_chars"] = skipped.get(f"{name}_unknown_chars", 0) + 1
            continue
        if max_duration and utt.duration > max_duration:
            skipped[f"{name}_too_long"] = skipped.get(f"{name}_too_long", 0) + 1
            continue
        target = tokenizer.encode(text)
        if ctc_min_frames(target) > _subsampled(f.shape[0], factor):
            skipped[f"{name}_labels_exceed_frames"] = skipped.get(f"{name}_labels_exceed_frames", 0) + 1
            continue
        ids.append(utt.id)
        kept_feats.append(f)
        targets.append(target)
        texts.append(text)
        durations.append(utt.duration)
    if not ids:
        raise ConfigError(f"{name}: no usable utterances left after filtering ({skipped})")
    return FeatureDataset(ids, kept_feats, targets, texts), durations


def speed_perturbed(
    utts: list[Utterance], config: TrainConfig, cache_dir: Path | None
) -> tuple[list[Utterance], list[torch.Tensor]]:
    """Extra training copies for each ``data.speed_perturb`` factor other than 1: ids ``<id>-sp<factor>``."""
    extra_utts: list[Utterance] = []
    extra_feats: list[torch.Tensor] = []
    for factor in config.data.speed_perturb:
        if not 0.5 <= factor <= 2.0:
            raise ConfigError(f"data.speed_perturb: factor {factor} is outside [0.5, 2]")
        if factor == 1.0:
            continue
        extra_feats += extract_features(utts, config.features, cache_dir, speed=factor)
        extra_utts += [dataclasses.replace(u, id=f"{u.id}-sp{factor:g}", duration=u.duration / factor) for u in utts]
    return extra_utts, extra_feats


def prepare_data(config: TrainConfig, cache_dir: Path | None) -> PreparedData:
    if not config.data.train or not config.data.dev:
        raise ConfigError("data.train and data.dev must name manifests (set them in the config or as overrides)")
    normalizer = TextNormalizer(config.text)
    train_utts = read_manifest(config.data.train)
    dev_utts = read_manifest(config.data.dev)
    tokenizer = CharTokenizer.build(normalizer(u.text) for u in train_utts)
    t0 = time.perf_counter()
    train_feats = extract_features(train_utts, config.features, cache_dir)
    perturbed_utts, perturbed_feats = speed_perturbed(train_utts, config, cache_dir)
    train_utts, train_feats = train_utts + perturbed_utts, train_feats + perturbed_feats
    dev_feats = extract_features(dev_utts, config.features, cache_dir)
    log.info("features for %d + %d utterances in %.1fs", len(train_utts), len(dev_utts), time.perf_counter() - t0)
    skipped: dict[str, int] = {}
    factor = config.model.subsampling
    train, durations = _build_split("train", train_utts, train_feats, normalizer, tokenizer, factor,
                                    config.data.max_duration, skipped)
    dev, _ = _build_split("dev", dev_utts, dev_feats, normalizer, tokenizer, factor, None, skipped)
    if config.model.cmvn == "utterance":
        stats = compute_cmvn([f - f.mean(0, keepdim=True) for f in train.feats])
    else:
        stats = compute_cmvn(train.feats)
    if skipped:
        log.warning("skipped utterances: %s", ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())))
    log.info("train: %d utterances (%.2f h), dev: %d, vocabulary: %d symbols",
             len(train), sum(durations) / 3600, len(dev), len(tokenizer))
    return PreparedData(train, dev, durations, tokenizer, normalizer, stats.mean, stats.std, skipped)


def lr_lambda(step: int, warmup: int, total: int, schedule: str, min_ratio: float) -> float:
    """Linear warm-up, then constant or cosine decay to ``min_ratio`` at ``total`` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class CtcTask(L.LightningModule):
    """A thin LightningModule: CTC loss for training, greedy WER/CER for validation."""

    def __init__(self, model: CtcModel, tokenizer: CharTokenizer, config: TrainConfig, total_steps: int):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.total_steps = total_steps
        self.decoder = GreedyDecoder(tokenizer)
        self.ctc = torch.nn.CTCLoss(blank=tokenizer.blank_id, zero_infinity=True, reduction="sum")
        self.skipped_steps = 0
        self._val: list[tuple[str, str, str]] = []

    def _loss(self, batch: Batch, augment: bool) -> torch.Tensor:
        normed = self.model.normalize(batch.feats, batch.feat_lengths)
        if augment and self.config.specaugment is not None:
            normed = spec_augment(normed, batch.feat_lengths, self.config.specaugment)
        log_probs, out_lengths = self.model.encode(normed, batch.feat_lengths)
        loss = self.ctc(log_probs.transpose(0, 1), batch.targets, out_lengths, batch.target_lengths)
        # Per-utterance mean: the gradient scale stays the same whatever the batch composition.
        return loss / batch.feats.shape[0], log_probs, out_lengths

    def training_step(self, batch: Batch, batch_idx: int):
        loss, _, _ = self._loss(batch, augment=True)
        if not torch.isfinite(loss):
            self.skipped_steps += 1
            log.warning("step %d: non-finite loss (%s), step skipped", self.global_step, float(loss.detach()))
            # No backward: the gradients stay None (Lightning zeroes them with set_to_none before the step),
            # so the optimiser leaves every parameter and its moments alone.
            return None
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.feats.shape[0])
        return loss

    def on_after_backward(self) -> None:
        params = [p for p in self.parameters() if p.grad is not None]
        if params and not all(torch.isfinite(p.grad).all() for p in params):
            self.skipped_steps += 1
            log.warning("step %d: non-finite gradient, step skipped", self.global_step)
            # None, not zero: AdamW would still move weights along its momentum (and decay them) on a zero
            # gradient; it skips a parameter without a gradient entirely, so the step really is skipped.
            for p in params:
                p.grad = None

    def on_train_epoch_end(self) -> None:
        # Logged once per epoch: a per-step value would only reach the logs on every log_every_n_steps-th step.
        self.log("skipped_steps", float(self.skipped_steps))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["skipped_steps"] = self.skipped_steps

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.skipped_steps = int(checkpoint.get("skipped_steps", 0))

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, log_probs, out_lengths = self._loss(batch, augment=False)
        self.log("val_loss", loss, prog_bar=True, batch_size=batch.feats.shape[0])
        for uid, ref, hyp in zip(batch.ids, batch.texts, self.decoder.decode_batch(log_probs, out_lengths, 0.0)):
            self._val.append((uid, ref, hyp.text))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        ids, refs, hyps = zip(*self._val)
        report = error_report(list(ids), list(refs), list(hyps), worst=0)
        self.log("val_wer", report.wer, prog_bar=True)
        self.log("val_cer", report.cer, prog_bar=True)
        self._val.clear()

    def configure_optimizers(self):
        cfg = self.config.optim
        optimizer = torch.optim.AdamW(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: lr_lambda(step, cfg.warmup_steps, self.total_steps, cfg.schedule, cfg.min_lr_ratio),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


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

    def __init__(self, exp_dir: Path, bundle_for: callable, select_by: str = "wer", average_last: int = 0):
        self.exp_dir = exp_dir
        self.bundle_for = bundle_for
        self.metric = f"val_{select_by}"
        self.best: tuple[float, float] = (math.inf, math.inf)
        self.average_last = average_last

    def on_validation_epoch_end(self, trainer: L.Trainer, task: CtcTask) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        if self.metric not in metrics:
            return
        # Ties are common on small dev sets (several epochs at 0% WER): the lower dev loss breaks them.
        score = (float(metrics[self.metric]), float(metrics.get("val_loss", math.inf)))
        bundle = self.bundle_for(task, epoch=trainer.current_epoch, step=trainer.global_step,
                                 wer=float(metrics["val_wer"]), cer=float(metrics["val_cer"]), loss=score[1])
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

    def on_fit_end(self, trainer: L.Trainer, task: CtcTask) -> None:
        epochs = self._epoch_models()
        if self.average_last > 1 and len(epochs) > 1:
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
            speed = self.audio / self.elapsed
            task.log("train_audio_sps", speed)
            log.info("epoch %d: %.0f audio-s in %.1fs of training steps = %.1f audio-s/s",
                     trainer.current_epoch, self.audio, self.elapsed, speed)


def set_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)
    else:
        torch.set_num_threads(os.cpu_count() or 1)


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Train a model as configured; returns the path of the best model file."""
    _single_lightning_console()
    exp_dir = Path(config.trainer.exp_dir).absolute()
    exp_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = exp_dir / "checkpoints"
    ckpt_path = None
    if resume:
        last = ckpt_dir / "last.ckpt"
        if not last.is_file():
            raise ConfigError(f"--resume: no checkpoint to resume from at {last}")
        # Checked before the features are computed: a damaged or unsafe file is a one-line error, at once.
        check_training_checkpoint(last)
        ckpt_path = str(last)
        # A run killed while saving leaves its temporary file behind (the checkpoint itself is intact).
        for stale in ckpt_dir.glob(".*.ckpt.*.tmp"):
            log.info("removing %s, left by an interrupted save", stale)
            stale.unlink(missing_ok=True)
    set_threads(config.trainer.threads)
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    data = prepare_data(config, cache_dir=exp_dir / "cache")
    with atomic_write(exp_dir / "config.json") as handle:
        json.dump(to_dict(config), handle, indent=2)

    model = CtcModel(config.model, config.features.n_mels, len(data.tokenizer))
    model.cmvn.set_stats(data.cmvn_mean, data.cmvn_std)
    sampler = DurationBucketSampler(data.train_durations, config.data.max_batch_seconds, config.data.num_buckets,
                                    shuffle=True, seed=config.trainer.seed)
    train_loader = DataLoader(data.train, batch_sampler=sampler, collate_fn=collate, num_workers=0)
    dev_durations = [f.shape[0] * config.features.hop_ms / 1000 for f in data.dev.feats]
    dev_sampler = DurationBucketSampler(dev_durations, config.data.max_batch_seconds, 1, shuffle=False)
    dev_loader = DataLoader(data.dev, batch_sampler=dev_sampler, collate_fn=collate, num_workers=0)
    total_steps = len(sampler) * config.trainer.max_epochs
    task = CtcTask(model, data.tokenizer, config, total_steps)

    def bundle_for(task: CtcTask, **info) -> AsrBundle:
        return AsrBundle(task.model, config.features, data.tokenizer, data.normalizer, config.decoder,
                         {**info, "skipped": data.skipped, "skipped_steps": task.skipped_steps,
                          "train_manifest": config.data.train})

    callbacks: list[Callback] = [
        ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=f"val_{config.trainer.select_by}", mode="min"),
        # last.ckpt gets its own unmonitored saver: since Lightning 2.x, save_last=True on the monitored one
        # rewrites last.ckpt only when dev WER improves, so a run killed during a plateau would resume from
        # its last improvement, not its last epoch. No version counter: a stale last.ckpt is overwritten,
        # never left beside a last-v1.ckpt for --resume to pick up.
        ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1, enable_version_counter=False),
        ExportModel(exp_dir, bundle_for, config.trainer.select_by, config.trainer.average_last),
        ThroughputMeter(config.features.hop_length / config.features.sample_rate),
    ]
    if config.trainer.early_stop_patience > 0:
        callbacks.append(EarlyStopping(f"val_{config.trainer.select_by}", mode="min",
                                       patience=config.trainer.early_stop_patience))
    trainer = L.Trainer(
        default_root_dir=exp_dir,
        max_epochs=config.trainer.max_epochs,
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        precision=config.trainer.precision,
        gradient_clip_val=config.optim.grad_clip or None,
        log_every_n_steps=config.trainer.log_every_n_steps,
        check_val_every_n_epoch=config.trainer.check_val_every_n_epoch,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        # A resumed run gets the next logs/version_N (Lightning's CSV writer would overwrite the old file);
        # TensorBoard appends a new event file to the same folder.
        logger=[CSVLogger(exp_dir, name="logs"), TensorBoardLogger(exp_dir, name="tensorboard", version="")],
        enable_progress_bar=config.trainer.progress_bar,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        enable_model_summary=False,
    )
    sampler.set_epoch(0)
    # weights_only: a checkpoint holding pickled code is refused, never run (it may come from anywhere).
    # Lightning before 2.5 lacks the argument; there check_training_checkpoint above has already vetted the file.
    safe = {"weights_only": True} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
    trainer.fit(task, train_loader, dev_loader, ckpt_path=ckpt_path, **safe)
    if task.skipped_steps:
        log.warning("skipped %d steps with a non-finite loss or gradient", task.skipped_steps)
    best = exp_dir / "model_best.pt"
    return best
