import random

from asr.data.sampler import DurationBucketSampler


def test_every_utterance_once_per_epoch_within_budget():
    rng = random.Random(0)
    durations = [rng.uniform(0.5, 12.0) for _ in range(300)]
    sampler = DurationBucketSampler(durations, max_batch_seconds=30.0, num_buckets=5, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(300))
        assert all(sum(durations[i] for i in b) <= 30.0 for b in batches)
        assert len(sampler) == len(batches)


def test_buckets_keep_similar_lengths_together():
    durations = [1.0] * 50 + [10.0] * 50
    sampler = DurationBucketSampler(durations, max_batch_seconds=20.0, num_buckets=2)
    for batch in sampler:
        assert len({durations[i] for i in batch}) == 1


def test_long_utterance_gets_its_own_batch_instead_of_being_dropped():
    sampler = DurationBucketSampler([50.0, 1.0, 1.0], max_batch_seconds=10.0, num_buckets=1, shuffle=False)
    assert sorted(map(sorted, sampler)) == [[0], [1, 2]]


def test_order_is_deterministic_per_epoch_and_changes_between_epochs():
    durations = [float(i % 7 + 1) for i in range(100)]
    a = DurationBucketSampler(durations, 15.0, seed=3)
    b = DurationBucketSampler(durations, 15.0, seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
