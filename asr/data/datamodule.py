"""The data side of training, as a LightningDataModule: manifests -> normalised text -> tokenizer ->
features (cached, speed-perturbed copies) -> filtering -> CMVN statistics -> duration-bucket loaders.

Features are precomputed and held in memory (see ``extract_features``); a streaming source for corpora
larger than memory would plug in as another ``setup`` path that yields the same ``Batch``.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from asr.data.dataset import FeatureDataset, collate, extract_features, labels_fit, skip_reason
from asr.data.manifest import Utterance, read_manifest
from asr.data.sampler import DurationBucketSampler
from asr.data.shards import iter_shard, read_index, read_metadata
from asr.data.stream import ShardStream, StreamSettings, examples, planned_batches
from asr.errors import ConfigError
from asr.features import FeatureConfig, compute_cmvn, remove_speaker_means
from asr.text import NormalizerConfig, TextNormalizer
from asr.units import TokenizerConfig, build_tokenizer, count_unknown

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    train: str = ""
    dev: str = ""
    max_batch_seconds: float = 60.0  # total audio per batch, padding excluded
    num_buckets: int = 10
    max_duration: float = 30.0  # longer training utterances are skipped and counted
    # Speed perturbation: each factor other than 1 adds a copy of the training set played that much faster
    # (Kaldi's 0.9/1.0/1.1 triples the data). Features of every copy are computed once and cached.
    speed_perturb: list[float] = field(default_factory=list)
    # Corpora larger than a disk: train from tar shards (``asr shard``) in a folder or at an fsspec URL
    # (s3://, gs://, https://) instead of data.train; features are computed on the fly in num_workers
    # DataLoader worker processes per rank. The dev set stays a manifest (features cached).
    train_shards: str = ""
    num_workers: int = 2
    shuffle_buffer: int = 1000  # utterances shuffled across shards, and sorted by length to form batches
    cmvn_utterances: int = 500  # CMVN statistics from the first N utterances of the shards


def _one_thread(_: int) -> None:
    # A worker computes features for the trainer; its own thread pool would compete with the training threads.
    torch.set_num_threads(1)


class AsrDataModule(L.LightningDataModule):
    """Everything between manifests and batches; ``setup`` runs once and fills the attributes below."""

    def __init__(self, data: DataConfig, features: FeatureConfig, text: NormalizerConfig,
                 tokenizer: TokenizerConfig, subsampling: int, cmvn: str = "global",
                 cache_dir: str | Path | None = None, seed: int = 0, base_tokenizer=None):
        """``base_tokenizer``: fine-tuning starts from that model's units (kept in their order) and adds the
        ones the training transcripts need (asr.units.build_tokenizer)."""
        super().__init__()
        if not (data.train or data.train_shards) or not data.dev:
            raise ConfigError("data.train (or data.train_shards) and data.dev must name manifests (set them in the "
                              "config or as overrides)")
        if data.train and data.train_shards:
            raise ConfigError("give data.train (a manifest) or data.train_shards (a shard set), not both")
        if data.train_shards and data.speed_perturb:
            raise ConfigError("data.speed_perturb needs cached features: it cannot be used with data.train_shards")
        if data.train_shards and cmvn == "speaker":
            raise ConfigError("model.cmvn: speaker needs every utterance of a speaker at once: train from a manifest "
                              "(data.train), not data.train_shards")
        bad = [f for f in data.speed_perturb if not 0.5 <= f <= 2.0]
        if bad:
            raise ConfigError(f"data.speed_perturb: factor {bad[0]} is outside [0.5, 2]")
        self.config, self.feature_config, self.tokenizer_config = data, features, tokenizer
        self.normalizer = TextNormalizer(text)
        self.subsampling, self.cmvn, self.seed = subsampling, cmvn, seed
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.base_tokenizer = base_tokenizer
        self.tokenizer = None
        self.train_set: FeatureDataset | None = None
        self.dev_set: FeatureDataset | None = None
        self.train_durations: list[float] = []
        self.skipped: dict[str, int] = {}
        self._sampler: DurationBucketSampler | None = None
        self.num_replicas, self.rank = 1, 0  # DDP: set from the trainer (set_replicas)
        self.shard_urls: list[str] = []  # streaming (data.train_shards): the shards, in index order
        self.stream_settings: StreamSettings | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if self.config.train_shards:
            self._setup_stream()
            return
        train_utts = read_manifest(self.config.train)
        dev_utts = read_manifest(self.config.dev)
        self.tokenizer = build_tokenizer(self.tokenizer_config, [self.normalizer(u.text) for u in train_utts],
                                         base=self.base_tokenizer)
        t0 = time.perf_counter()
        factors = [1.0] + [f for f in self.config.speed_perturb if f != 1.0]  # the copies, in this order
        train_feats = [feats for f in factors
                       for feats in extract_features(train_utts, self.feature_config, self.cache_dir, speed=f)]
        if self.cmvn == "speaker":
            # A speed-perturbed copy is another voice: its speakers' means are its own.
            speakers = [u.speaker and (u.speaker if f == 1.0 else f"{u.speaker} at speed {f:g}")
                        for f in factors for u in train_utts]
            train_feats = remove_speaker_means(train_feats, speakers)
        train_utts = [u if f == 1.0 else dataclasses.replace(u, id=f"{u.id}-sp{f:g}", duration=u.duration / f)
                      for f in factors for u in train_utts]
        dev_feats = extract_features(dev_utts, self.feature_config, self.cache_dir)
        if self.cmvn == "speaker":
            dev_feats = remove_speaker_means(dev_feats, [u.speaker for u in dev_utts])
        log.info("features for %d + %d utterances in %.1fs", len(train_utts), len(dev_utts), time.perf_counter() - t0)
        self.train_set, self.train_durations = self._build_split("train", train_utts, train_feats,
                                                                 self.config.max_duration)
        self.dev_set, _ = self._build_split("dev", dev_utts, dev_feats, None)
        if self.skipped:
            log.warning("skipped utterances: %s", ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items())))
        log.info("train: %d utterances (%.2f h), dev: %d, vocabulary: %d symbols", len(self.train_set),
                 sum(self.train_durations) / 3600, len(self.dev_set), len(self.tokenizer))

    def _setup_stream(self) -> None:
        """Streaming: vocabulary and durations from the shard set's metadata, CMVN statistics from its first
        ``cmvn_utterances`` utterances; ``train_set`` holds those (features computed here, in this process)."""
        location = self.config.train_shards
        index, self.shard_urls = read_index(location)
        meta = read_metadata(location)
        self.tokenizer = build_tokenizer(self.tokenizer_config, [self.normalizer(m["text"]) for m in meta],
                                         base=self.base_tokenizer)
        self.train_durations = [float(m["duration"]) for m in meta]
        self.stream_settings = StreamSettings(self.feature_config, self.normalizer, self.tokenizer, self.subsampling,
                                              self.config.max_batch_seconds, self.config.max_duration,
                                              self.config.shuffle_buffer, self.seed)
        t0 = time.perf_counter()
        sample = []
        for url in self.shard_urls:
            sample += list(itertools.islice(examples(iter_shard(url), self.stream_settings),
                                            self.config.cmvn_utterances - len(sample)))
            if len(sample) >= self.config.cmvn_utterances:
                break
        if not sample:
            raise ConfigError(f"{location}: no usable training utterances in the shards")
        self.train_set = FeatureDataset([e.id for e in sample], [e.feats for e in sample],
                                        [e.target.tolist() for e in sample], [e.text for e in sample])
        dev_utts = read_manifest(self.config.dev)
        self.dev_set, _ = self._build_split("dev", dev_utts, extract_features(dev_utts, self.feature_config,
                                                                              self.cache_dir), None)
        log.info("streaming %d utterances (%.2f h) from %d shards at %s; CMVN from %d, dev: %d (%.1fs)",
                 index["utterances"], sum(self.train_durations) / 3600, len(self.shard_urls), location, len(sample),
                 len(self.dev_set), time.perf_counter() - t0)

    def batches_per_epoch(self) -> int:
        """Training batches per rank per epoch (epoch 0's, for streaming the planned count)."""
        if self.stream_settings is not None:
            return planned_batches(sum(self.train_durations), self.config.max_batch_seconds, self.num_replicas)
        return len(self.train_sampler)

    def cmvn_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.train_set.feats
        if self.cmvn == "utterance":
            feats = [f - f.mean(0, keepdim=True) for f in feats]
        stats = compute_cmvn(feats)
        return stats.mean, stats.std

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _build_split(self, name: str, utts: list[Utterance], feats: list[torch.Tensor],
                     max_duration: float | None) -> tuple[FeatureDataset, list[float]]:
        ids, kept_feats, targets, texts, durations = [], [], [], [], []
        normalised = [self.normalizer(u.text) for u in utts]
        unknown = count_unknown(self.tokenizer, normalised)
        if unknown:
            log.warning("%s: characters (or words) the tokenizer cannot encode (utterances holding them are "
                        "skipped): %s", name, ", ".join(f"{c!r} x{n}" for c, n in unknown.most_common(20)))
        for utt, f, text in zip(utts, feats, normalised):
            reason = skip_reason(text, utt.duration, self.tokenizer, max_duration)
            if reason:
                self._skip(f"{name}_{reason}")
                continue
            target = self.tokenizer.encode(text)
            if not labels_fit(target, f.shape[0], self.subsampling):
                self._skip(f"{name}_labels_exceed_frames")
                continue
            ids.append(utt.id)
            kept_feats.append(f)
            targets.append(target)
            texts.append(text)
            durations.append(utt.duration)
        if not ids:
            raise ConfigError(f"{name}: no usable utterances left after filtering ({self.skipped})")
        return FeatureDataset(ids, kept_feats, targets, texts), durations

    def set_replicas(self, num_replicas: int, rank: int) -> None:
        """Data-parallel training: this process is ``rank`` of ``num_replicas``; its loaders take its part."""
        if (num_replicas, rank) != (self.num_replicas, self.rank):
            self.num_replicas, self.rank = num_replicas, rank
            self._sampler = None

    def _replicas_from_trainer(self) -> None:
        trainer = self.trainer
        if trainer is not None:
            self.set_replicas(trainer.world_size, trainer.global_rank)

    @property
    def train_sampler(self) -> DurationBucketSampler:
        if self._sampler is None:
            self._sampler = DurationBucketSampler(self.train_durations, self.config.max_batch_seconds,
                                                  self.config.num_buckets, shuffle=True, seed=self.seed,
                                                  num_replicas=self.num_replicas, rank=self.rank)
        return self._sampler

    def train_dataloader(self) -> DataLoader:
        # Called again each epoch (the trainer reloads it): Lightning sets the epoch on a loader's sampler,
        # never on a batch sampler, and reads the loader's length once per load.
        self._replicas_from_trainer()
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        if self.stream_settings is not None:
            stream = ShardStream(self.shard_urls, self.stream_settings, self.batches_per_epoch(), self.num_replicas,
                                 self.rank)
            stream.set_epoch(epoch)
            return DataLoader(stream, batch_size=None, num_workers=self.config.num_workers,
                              worker_init_fn=_one_thread)
        self.train_sampler.set_epoch(epoch)
        return DataLoader(self.train_set, batch_sampler=self.train_sampler, collate_fn=collate, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        # Under DDP each rank scores its own part of the dev set; the task gathers the hypotheses.
        self._replicas_from_trainer()
        hop = self.feature_config.hop_ms / 1000
        durations = [f.shape[0] * hop for f in self.dev_set.feats]
        sampler = DurationBucketSampler(durations, self.config.max_batch_seconds, 1, shuffle=False,
                                        num_replicas=self.num_replicas, rank=self.rank)
        return DataLoader(self.dev_set, batch_sampler=sampler, collate_fn=collate, num_workers=0)
