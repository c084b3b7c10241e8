"""Training: the LightningModule (CTC loss, greedy dev scores) and the Trainer set-up (callbacks, loggers, resume).

Data lives in asr.data.datamodule, callbacks in asr.callbacks.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import sys
import warnings
from pathlib import Path

import jiwer
import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from asr import threads as threads_module
from asr.callbacks import AtomicCheckpointIO, EpochSummary, ExportModel, LoadAwareThreads, ThroughputMeter
from asr.checkpoint import AsrBundle, check_training_checkpoint
from asr.config import TrainConfig, to_dict
from asr.data.datamodule import AsrDataModule
from asr.data.dataset import Batch
from asr.decode import DecoderConfig
from asr.decode.greedy import GreedyDecoder
from asr.distributed import gather_lists, launcher_rank, world_size
from asr.errors import ConfigError
from asr.features import spec_augment
from asr.finetune import init_model, load_init
from asr.io_utils import atomic_write
from asr.metrics import error_report
from asr.model import CtcModel
from asr.model.masking import length_mask
from asr.threads import auto_threads, usable_cores

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


class _NoAdverts(logging.Filter):
    """Drops Lightning's "Tip: try installing litlogger" line: an advertisement, not news about the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in str(record.msg).lower()


_LIGHTNING_INFO = "lightning.pytorch.utilities.rank_zero"


def _quiet_lightning_noise() -> None:
    """Keep the training log to what a user can act on (added once per process)."""
    info = logging.getLogger(_LIGHTNING_INFO)
    if not any(isinstance(f, _NoAdverts) for f in info.filters):
        info.addFilter(_NoAdverts())
    # Lightning 2.6 calls a torch.utils._pytree API that torch 2.14 deprecates, once per run: nothing the user
    # can change, printed into every training log.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def lr_lambda(step: int, warmup: int, total: int, schedule: str, min_ratio: float) -> float:
    """Linear warm-up, then constant or cosine decay to ``min_ratio`` at ``total`` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def frame_entropy(log_probs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per utterance, the entropy of the output distribution summed over its valid frames (padding excluded)."""
    entropy = -(log_probs.exp() * log_probs).sum(-1)  # (batch, frames)
    return (entropy * length_mask(lengths, log_probs.shape[1])).sum(1)


def intermediate_ctc_layer(optim, num_layers: int) -> int:
    """The recurrent layer (1-based) whose output intermediate CTC reads, or 0 when it is off."""
    if optim.inter_ctc_weight <= 0:
        return 0
    layer = optim.inter_ctc_layer or num_layers // 2
    if not 1 <= layer < num_layers:
        raise ConfigError(
            f"optim.inter_ctc_layer must name a recurrent layer below the last (1 to {num_layers - 1}) when "
            f"optim.inter_ctc_weight is set, got {layer} with model.num_layers={num_layers}"
        )
    return layer


class CtcTask(L.LightningModule):
    """A thin LightningModule: CTC loss for training, greedy WER/CER for validation."""

    def __init__(self, model: CtcModel, tokenizer, config: TrainConfig, total_steps: int):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.total_steps = total_steps
        self.decoder = GreedyDecoder(tokenizer)
        # One loss per utterance: training takes their mean, validation keeps them to gather across ranks.
        self.ctc = torch.nn.CTCLoss(blank=tokenizer.blank_id, zero_infinity=True, reduction="none")
        self.skipped_steps = 0
        # (id, reference, hypothesis, loss, reference units, hypothesis units); units only for phone models
        self._val: list[tuple] = []
        self.inter_layer = intermediate_ctc_layer(config.optim, model.config.num_layers)

    def _loss(
        self, batch: Batch, augment: bool, inter_layer: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-utterance CTC losses, the last layer's log-probs and their lengths.

        ``inter_layer`` > 0: the losses mix in that recurrent layer's CTC loss (``optim.inter_ctc_weight``).
        """
        normed = self.model.normalize(batch.feats, batch.feat_lengths)
        if augment and self.config.specaugment is not None:
            normed = spec_augment(normed, batch.feat_lengths, self.config.specaugment, features=self.config.features)
        if not inter_layer:
            log_probs, out_lengths = self.model.encode(normed, batch.feat_lengths)
            return self._ctc_losses(log_probs, out_lengths, batch), log_probs, out_lengths
        log_probs, inter_log_probs, out_lengths = self.model.encode_with_intermediate(
            normed, batch.feat_lengths, inter_layer
        )
        weight = self.config.optim.inter_ctc_weight
        losses = ((1 - weight) * self._ctc_losses(log_probs, out_lengths, batch)
                  + weight * self._ctc_losses(inter_log_probs, out_lengths, batch))
        return losses, log_probs, out_lengths

    def _ctc_losses(self, log_probs: torch.Tensor, out_lengths: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.ctc(log_probs.transpose(0, 1), batch.targets, out_lengths, batch.target_lengths)

    def training_step(self, batch: Batch, batch_idx: int):
        # The intermediate loss trains only: validation reports the last layer's, comparable between runs.
        losses, log_probs, out_lengths = self._loss(batch, augment=True, inter_layer=self.inter_layer)
        if self.config.optim.confidence_penalty > 0:
            losses = losses - self.config.optim.confidence_penalty * frame_entropy(log_probs, out_lengths)
        # Per-utterance mean: the gradient scale stays the same whatever the batch composition.
        loss = losses.sum() / batch.feats.shape[0]
        if not torch.isfinite(loss):
            if world_size() > 1:
                # Under DDP every rank must run backward (the gradient all-reduce waits for all of them): the
                # non-finite gradient reaches every rank, and on_after_backward skips the step everywhere.
                log.warning("step %d: non-finite loss (%s)", self.global_step, float(loss.detach()))
                return loss
            self.skipped_steps += 1
            log.warning("step %d: non-finite loss (%s), step skipped", self.global_step, float(loss.detach()))
            # No backward: the gradients stay None (Lightning zeroes them with set_to_none before the step),
            # so the optimiser leaves every parameter and its moments alone.
            return None
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.feats.shape[0])
        return loss

    def on_after_backward(self) -> None:
        params = [p for p in self.parameters() if p.grad is not None]
        # One fused norm over every gradient: a NaN or inf anywhere makes it non-finite. A check per tensor cost
        # 2-5 ms a step on CPU (20 tensors, one kernel and one sync each) against 0.3-0.6 ms.
        if params and not torch.isfinite(torch.nn.utils.get_total_norm([p.grad for p in params])):
            self.skipped_steps += 1
            log.warning("step %d: non-finite gradient, step skipped", self.global_step)
            # None, not zero: AdamW would still move weights along its momentum (and decay them) on a zero
            # gradient; it skips a parameter without a gradient entirely, so the step really is skipped.
            for p in params:
                p.grad = None

    def on_train_epoch_end(self) -> None:
        # Logged once per epoch: a per-step value would only reach the logs on every log_every_n_steps-th step.
        self.log("skipped_steps", float(self.skipped_steps), sync_dist=True, reduce_fx="max")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["skipped_steps"] = self.skipped_steps

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.skipped_steps = int(checkpoint.get("skipped_steps", 0))

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        losses, log_probs, out_lengths = self._loss(batch, augment=False)
        hyps = self.decoder.decode_batch(log_probs, out_lengths, 0.0)
        phones = self.tokenizer.unit_metric == "per"
        for i, (uid, ref, hyp) in enumerate(zip(batch.ids, batch.texts, hyps)):
            # Phone models: the greedy hypothesis already carries its phones; the reference's come from its targets.
            ref_units = (self.tokenizer.unit_string(batch.targets[i, : int(batch.target_lengths[i])].tolist())
                         if phones else "")
            self._val.append((uid, ref, hyp.text, float(losses[i]), ref_units, hyp.units if phones else ""))

    def on_validation_epoch_end(self) -> None:
        # Under DDP each rank scored its own part of the dev set: the scores are over all of it, gathered
        # (utterances a rank repeated to even out the parts count once), and the same on every rank.
        records = list({r[0]: r for r in gather_lists(self._val)}.values())
        self._val.clear()
        if not records:
            return
        ids, refs, hyps, losses, refs_u, hyps_u = zip(*records)
        report = error_report(list(ids), list(refs), list(hyps), worst=0)
        scores = {"val_loss": sum(losses) / len(losses), "val_wer": report.wer}
        if self.tokenizer.unit_metric == "per":
            scores["val_per"] = jiwer.wer(list(refs_u), list(hyps_u))
        else:
            scores["val_cer"] = report.cer
        for name, value in scores.items():
            # Identical on every rank; sync_dist only tells Lightning so (a mean of equal values).
            self.log(name, float(value), prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        cfg = self.config.optim
        trainable = [p for p in self.parameters() if p.requires_grad]  # fine-tuning may freeze some
        # The fused kernel on CPU and CUDA: one pass over all parameters instead of a dozen per tensor. On CPU
        # it took a 4.4 M-parameter step from 14.6 to 2.0 ms (README, "Speed and benchmarks"); other devices
        # keep the default.
        fused = True if all(p.device.type in ("cpu", "cuda") for p in trainable) else None
        optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: lr_lambda(step, cfg.warmup_steps, self.total_steps, cfg.schedule, cfg.min_lr_ratio),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def prepare_data(config: TrainConfig, cache_dir: Path | None, base_tokenizer=None) -> AsrDataModule:
    """The data module of a training config, set up (features extracted or read from the cache).

    ``base_tokenizer``: when fine-tuning, the model file's units, which the training data's new ones extend."""
    data = AsrDataModule(config.data, config.features, config.text, config.tokenizer, config.model.subsampling,
                         config.model.cmvn, cache_dir=cache_dir, seed=config.trainer.seed,
                         base_tokenizer=base_tokenizer)
    data.setup("fit")
    return data


def unit_metric_name(select_by: str, tokenizer) -> str:
    """The logged dev metric that ``trainer.select_by`` names: ``cer`` means the unit error rate, which is
    the phone error rate (``val_per``) for phone models."""
    if select_by == "wer":
        return "val_wer"
    if select_by in ("cer", "per"):
        return f"val_{tokenizer.unit_metric}"
    raise ConfigError(f"trainer.select_by must be 'wer', 'cer' or 'per', got {select_by!r}")


def default_decoder(config: TrainConfig, tokenizer) -> DecoderConfig:
    """Decoder settings stored in the model files. A phone model writes words only through a lexicon, so
    unless the config says otherwise its default is a lexicon beam search: over its training words, plus
    the LM's words when one is given at decoding time (``lexicon: ""``)."""
    if tokenizer.unit_metric == "per" and config.decoder.kind == "greedy":
        return dataclasses.replace(config.decoder, kind="beam")
    return config.decoder


def on_terminal() -> bool:
    """Whether a person watches the output (the progress bar is drawn only then)."""
    return sys.stderr.isatty()


def set_threads(threads: int, flush_denormal: bool = True) -> None:
    # 0: the usable cores less the load of other processes (asr/threads.py; LoadAwareThreads re-checks per epoch)
    torch.set_num_threads(threads if threads > 0 else auto_threads())
    if threads <= 0:
        log.info("%d torch threads: other processes' load %.1f on %d usable cores", torch.get_num_threads(),
                 threads_module.last_others_load or 0.0, usable_cores())
    # Denormal floats (tiny activations and gradients early in training) take a slow path on x86 CPUs;
    # flushing them to zero costs no accuracy.
    torch.set_flush_denormal(flush_denormal)


def _make_trainer(**kwargs) -> L.Trainer:
    """Lightning's Trainer; settings it rejects (devices a machine lacks, a strategy it cannot run) are one line."""
    try:
        return L.Trainer(**kwargs)
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"trainer settings rejected by Lightning: {first}") from None


def train(config: TrainConfig, resume: bool = False, callbacks: list[Callback] | None = None) -> Path:
    """Train a model as configured; returns the path of the best model file.

    ``callbacks``: Lightning callbacks to add to ours (every rank runs them under DDP)."""
    extra_callbacks = list(callbacks or [])
    _single_lightning_console()
    _quiet_lightning_noise()
    # Fine-tuning (trainer.init): the model file is checked against the config before anything else, and
    # its architecture, features, units and normaliser replace the config's (asr/finetune.py).
    init = load_init(config)
    if init is not None:
        config = init.config
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
        # Rank 0 alone tidies (the rank from the launcher's environment: no process group exists yet).
        for stale in ckpt_dir.glob(".*.ckpt.*.tmp") if launcher_rank() == 0 else ():
            log.info("removing %s, left by an interrupted save", stale)
            stale.unlink(missing_ok=True)
    set_threads(config.trainer.threads, config.trainer.flush_denormal)
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    data = prepare_data(config, cache_dir=exp_dir / "cache",
                        base_tokenizer=init.bundle.tokenizer if init is not None else None)
    metric = unit_metric_name(config.trainer.select_by, data.tokenizer)
    decoder = default_decoder(config, data.tokenizer)

    def bundle_for(task: CtcTask, **info) -> AsrBundle:
        return AsrBundle(task.model, config.features, data.tokenizer, data.normalizer, decoder,
                         {**info, "skipped": data.skipped, "skipped_steps": task.skipped_steps,
                          "train_manifest": config.data.train})

    callbacks = [
        *extra_callbacks,
        ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=metric, mode="min"),
        # last.ckpt gets its own unmonitored saver: since Lightning 2.x, save_last=True on the monitored one
        # rewrites last.ckpt only when dev WER improves, so a run killed during a plateau would resume from
        # its last improvement, not its last epoch. No version counter: a stale last.ckpt is overwritten,
        # never left beside a last-v1.ckpt for --resume to pick up.
        ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1, enable_version_counter=False),
        ExportModel(exp_dir, bundle_for, metric, config.trainer.average_last),
        ThroughputMeter(config.features.hop_length / config.features.sample_rate),
    ]
    if config.trainer.threads <= 0:
        callbacks.append(LoadAwareThreads())
    # A progress bar only where a person watches: redirected to a file it is thousands of lines of updates.
    progress_bar = config.trainer.progress_bar and on_terminal()
    if not progress_bar:
        callbacks.append(EpochSummary())
    if config.trainer.early_stop_patience > 0:
        callbacks.append(EarlyStopping(metric, mode="min",
                                       patience=config.trainer.early_stop_patience))
    trainer = _make_trainer(
        default_root_dir=exp_dir,
        max_epochs=config.trainer.max_epochs,
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        strategy=config.trainer.strategy,
        num_nodes=config.trainer.num_nodes,
        accumulate_grad_batches=config.trainer.accumulate_grad_batches,
        precision=config.trainer.precision,
        gradient_clip_val=config.optim.grad_clip or None,
        log_every_n_steps=config.trainer.log_every_n_steps,
        check_val_every_n_epoch=config.trainer.check_val_every_n_epoch,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        # A resumed run gets the next logs/version_N (Lightning's CSV writer would overwrite the old file);
        # TensorBoard appends a new event file to the same folder.
        logger=[CSVLogger(exp_dir, name="logs"), TensorBoardLogger(exp_dir, name="tensorboard", version="")],
        enable_progress_bar=progress_bar,
        use_distributed_sampler=False,
        # A new train loader each epoch: the epoch's batches are packed afresh and their count varies, and
        # Lightning reads a loader's length once (a longer epoch was cut short); see AsrDataModule.
        reload_dataloaders_every_n_epochs=1,
        num_sanity_val_steps=0,
        enable_model_summary=False,
    )
    if trainer.global_rank == 0:
        with atomic_write(exp_dir / "config.json") as handle:
            json.dump(to_dict(config), handle, indent=2)
    else:
        logging.getLogger("asr").setLevel(logging.WARNING)  # one copy of each progress line, rank 0's
    # Under DDP every rank takes its own part of each epoch (the same number of batches on all of them).
    data.set_replicas(trainer.world_size, trainer.global_rank)
    model = CtcModel(config.model, config.features.n_mels, len(data.tokenizer))
    model.cmvn.set_stats(*data.cmvn_stats())
    if init is not None:
        init_model(model, data, init)  # weights, output rows by symbol, CMVN, freezing; logs one line
    steps_per_epoch = math.ceil(data.batches_per_epoch() / config.trainer.accumulate_grad_batches)
    task = CtcTask(model, data.tokenizer, config, steps_per_epoch * config.trainer.max_epochs)
    # weights_only: a checkpoint holding pickled code is refused, never run (it may come from anywhere).
    # Lightning before 2.5 lacks the argument; there check_training_checkpoint above has already vetted the file.
    safe = {"weights_only": True} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
    trainer.fit(task, datamodule=data, ckpt_path=ckpt_path, **safe)
    if task.skipped_steps:
        log.warning("skipped %d steps with a non-finite loss or gradient", task.skipped_steps)
    best = exp_dir / "model_best.pt"
    return best
