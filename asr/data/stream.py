"""Training batches streamed from tar shards (asr/data/shards.py), features computed in DataLoader workers.

The corpus never has to fit on a disk or in memory: each DataLoader worker of each rank reads its own
shards in a fresh order every epoch, shuffles utterances through a buffer, computes log-mel features,
and packs batches by total duration from a buffer sorted by length (the streaming form of the
duration buckets in asr/data/sampler.py). Every rank yields the same number of batches per epoch (DDP
waits for all ranks at each step), so an epoch is a nominal pass: ``batches_per_epoch`` batches per rank,
planned from the index; a worker that runs out of shards starts another shuffled pass over its own.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import IterableDataset, get_worker_info

from asr.data.dataset import Example, collate, labels_fit, skip_reason
from asr.data.shards import ShardSample, decode_sample, iter_shard
from asr.features import FeatureConfig, LogMel


@dataclass
class StreamSettings:
    feature_config: FeatureConfig
    normalizer: object  # asr.text.TextNormalizer
    tokenizer: object  # a character or phone tokenizer
    subsampling: int
    max_batch_seconds: float
    max_duration: float | None = None
    shuffle_buffer: int = 1000  # utterances shuffled across shards before batching; also the bucketing buffer
    seed: int = 0


def shard_part(shards: Sequence[str], epoch: int, seed: int, reader: int, readers: int) -> list[str]:
    """The shards that reader ``reader`` of ``readers`` (rank x worker) reads this epoch: the epoch's shuffled
    order dealt round-robin. With fewer shards than readers, readers share shards (read in other orders)."""
    order = list(shards)
    random.Random(seed * 100003 + epoch).shuffle(order)
    part = order[reader::readers]
    return part or [order[reader % len(order)]]


def examples(samples: Iterator[ShardSample], settings: StreamSettings) -> Iterator[Example]:
    """Samples -> training examples (features, targets), skipping what the manifest path filters out."""
    logmel = LogMel(settings.feature_config).eval()
    for sample in samples:
        text = settings.normalizer(sample.text)
        if skip_reason(text, sample.duration, settings.tokenizer, settings.max_duration):
            continue
        with torch.no_grad():
            feats = logmel(decode_sample(sample, settings.feature_config.sample_rate))
        target = settings.tokenizer.encode(text)
        if not labels_fit(target, feats.shape[0], settings.subsampling):
            continue
        yield Example(sample.id, feats, torch.tensor(target, dtype=torch.long), text)


def _shuffled(items: Iterator, size: int, rng: random.Random) -> Iterator:
    """A shuffle buffer: holds ``size`` items and yields a random one as each new item arrives."""
    buffer = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= size:
            yield buffer.pop(rng.randrange(len(buffer)))
    rng.shuffle(buffer)
    yield from buffer


def _batches(items: Iterator[Example], settings: StreamSettings, hop: float, rng: random.Random) -> Iterator[list]:
    """Pack examples into batches of at most ``max_batch_seconds`` from length-sorted buffers."""
    def pack(buffer: list[Example]) -> list[list[Example]]:
        buffer.sort(key=lambda e: e.feats.shape[0])
        out, batch, total = [], [], 0.0
        for e in buffer:
            seconds = e.feats.shape[0] * hop
            if batch and total + seconds > settings.max_batch_seconds:
                out.append(batch)
                batch, total = [], 0.0
            batch.append(e)
            total += seconds
        if batch:
            out.append(batch)
        rng.shuffle(out)
        return out

    buffer: list[Example] = []
    for e in items:
        buffer.append(e)
        if len(buffer) >= settings.shuffle_buffer:
            yield from pack(buffer)
            buffer = []
    if buffer:
        yield from pack(buffer)


class ShardStream(IterableDataset):
    """Batches (asr.data.dataset.Batch) from shards; ``len`` is this rank's batches per epoch."""

    def __init__(self, shards: Sequence[str], settings: StreamSettings, batches_per_epoch: int,
                 num_replicas: int = 1, rank: int = 0):
        self.shards, self.settings = list(shards), settings
        self.batches_per_epoch = max(1, batches_per_epoch)
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _worker(self) -> tuple[int, int]:
        info = get_worker_info()
        return (info.id, info.num_workers) if info is not None else (0, 1)

    def __iter__(self) -> Iterator:
        worker, workers = self._worker()
        # The DataLoader takes one batch from each worker in turn: each yields its share of the epoch's batches.
        quota = self.batches_per_epoch // workers + (worker < self.batches_per_epoch % workers)
        reader = self.rank * workers + worker
        readers = self.num_replicas * workers
        seed = self.settings.seed
        rng = random.Random((seed * 100003 + self.epoch) * 1009 + reader)
        hop = self.settings.feature_config.hop_ms / 1000

        part = shard_part(self.shards, self.epoch, seed, reader, readers)

        def samples() -> Iterator[ShardSample]:
            # Further passes (only when the quota outlasts the shards) reread this reader's own part in
            # another order, so the readers' utterances stay disjoint within an epoch.
            order = list(part)
            for _ in range(1_000_000):
                yield from (sample for url in order for sample in iter_shard(url))
                rng.shuffle(order)

        stream = examples(_shuffled(samples(), self.settings.shuffle_buffer, rng), self.settings)
        for count, batch in enumerate(_batches(stream, self.settings, hop, rng)):
            if count >= quota:
                return
            yield collate(batch)


def planned_batches(total_seconds: float, max_batch_seconds: float, num_replicas: int) -> int:
    """Batches per rank per epoch: the corpus's audio over the batch budget, shared by the ranks."""
    return max(1, math.ceil(total_seconds / max_batch_seconds / num_replicas))
