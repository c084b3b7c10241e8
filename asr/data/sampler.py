"""Batches formed by total audio duration, from buckets of similar length (little padding, steady memory).

Rank-aware for data-parallel training: every rank builds the same epoch-wide batch list from the seed
and the epoch, and takes its own part of it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


def make_divisible(batches: list[list[int]], parts: int) -> list[list[int]]:
    """Split the largest batches in two until ``parts`` divides the batch count; repeat batches only when
    no batch holds two utterances any more (an epoch of fewer utterances than ranks can take apart).

    Splitting keeps every utterance exactly once per epoch; halves stay adjacent, so under DDP they fall
    into the same step on different ranks.
    """
    batches = [list(b) for b in batches]
    need = -len(batches) % parts
    while need:
        i = max(range(len(batches)), key=lambda k: len(batches[k]))
        if len(batches[i]) < 2:
            break
        half = len(batches[i]) // 2
        batches[i : i + 1] = [batches[i][:half], batches[i][half:]]
        need -= 1
    batches += [batches[k % len(batches)] for k in range(need)]
    return batches


class DurationBucketSampler(Sampler[list[int]]):
    """Yields lists of indices whose durations sum to at most ``max_batch_seconds``.

    Utterances are sorted by duration and cut into ``num_buckets`` equal-count buckets; each epoch the
    buckets are shuffled inside, packed into batches, and the batches shuffled across buckets. One
    utterance longer than the budget forms a batch of its own rather than being dropped.

    With ``num_replicas`` > 1 (DDP), the epoch's batches are made a multiple of ``num_replicas`` (see
    :func:`make_divisible`), grouped into steps of ``num_replicas`` neighbouring batches (similar lengths,
    so no rank waits long for another), and the steps shuffled; rank ``r`` takes batch ``r`` of each
    step. The ranks' parts are disjoint, cover the epoch, and have the same length. With one replica the
    batches are exactly those of the single-process sampler.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_batch_seconds: float,
        num_buckets: int = 10,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if max_batch_seconds <= 0:
            raise ValueError("max_batch_seconds must be positive")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.durations = list(durations)
        self.max_batch_seconds = max_batch_seconds
        self.num_buckets = max(1, min(num_buckets, len(self.durations)))
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0
        self._batches = self._make_batches()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._batches = self._make_batches()

    def global_batches(self) -> list[list[int]]:
        """The whole epoch's batches, in the order of steps (every rank computes the same list)."""
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
        world = self.num_replicas
        batches = make_divisible(batches, world)
        steps = [batches[i : i + world] for i in range(0, len(batches), world)]
        if self.shuffle:
            rng.shuffle(steps)
        return [b for step in steps for b in step]

    def _make_batches(self) -> list[list[int]]:
        return self.global_batches()[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches

    def __len__(self) -> int:
        return len(self._batches)
