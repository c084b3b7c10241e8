"""Batches formed by total audio duration, from buckets of similar length (little padding, steady memory)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class DurationBucketSampler(Sampler[list[int]]):
    """Yields lists of indices whose durations sum to at most ``max_batch_seconds``.

    Utterances are sorted by duration and cut into ``num_buckets`` equal-count buckets; each epoch the
    buckets are shuffled inside, packed into batches, and the batches shuffled across buckets. One
    utterance longer than the budget forms a batch of its own rather than being dropped.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_batch_seconds: float,
        num_buckets: int = 10,
        shuffle: bool = True,
        seed: int = 0,
    ):
        if max_batch_seconds <= 0:
            raise ValueError("max_batch_seconds must be positive")
        self.durations = list(durations)
        self.max_batch_seconds = max_batch_seconds
        self.num_buckets = max(1, min(num_buckets, len(self.durations)))
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self._batches = self._make_batches()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._batches = self._make_batches()

    def _make_batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        order = sorted(range(len(self.durations)), key=lambda i: self.durations[i])
        size = -(-len(order) // self.num_buckets)
        batches: list[list[int]] = []
        for start in range(0, len(order), size):
            bucket = order[start : start + size]
            if self.shuffle:
                rng.shuffle(bucket)
            batch: list[int] = []
            total = 0.0
            for idx in bucket:
                if batch and total + self.durations[idx] > self.max_batch_seconds:
                    batches.append(batch)
                    batch, total = [], 0.0
                batch.append(idx)
                total += self.durations[idx]
            if batch:
                batches.append(batch)
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches

    def __len__(self) -> int:
        return len(self._batches)
