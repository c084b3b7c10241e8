import random

import pytest

from asr.data.sampler import DurationBucketSampler, make_divisible


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


def _ranks(durations, world, epoch=0, **kwargs):
    samplers = [DurationBucketSampler(durations, num_replicas=world, rank=r, **kwargs) for r in range(world)]
    for s in samplers:
        s.set_epoch(epoch)
    return [list(s) for s in samplers]


@pytest.mark.parametrize("world", [2, 3, 8])
def test_ranks_take_disjoint_equal_parts_covering_every_utterance_once(world):
    rng = random.Random(world)
    durations = [rng.uniform(0.5, 12.0) for _ in range(157)]
    for epoch in range(3):
        parts = _ranks(durations, world, epoch, max_batch_seconds=30.0, num_buckets=4, seed=5)
        assert len({len(p) for p in parts}) == 1  # the same number of batches on every rank
        flat = [i for part in parts for batch in part for i in batch]
        assert sorted(flat) == list(range(157))  # disjoint, and nothing dropped or repeated
        assert all(sum(durations[i] for i in b) <= 30.0 for part in parts for b in part)


def test_rank_parts_are_reproducible_from_the_seed_and_change_with_the_epoch():
    durations = [float(i % 9 + 1) for i in range(120)]
    a = _ranks(durations, 2, 1, max_batch_seconds=20.0, seed=7)
    assert a == _ranks(durations, 2, 1, max_batch_seconds=20.0, seed=7)
    assert a != _ranks(durations, 2, 2, max_batch_seconds=20.0, seed=7)
    assert a != _ranks(durations, 2, 1, max_batch_seconds=20.0, seed=8)


def test_one_replica_gives_the_single_process_batches():
    durations = [float(i % 9 + 1) for i in range(120)]
    single = DurationBucketSampler(durations, 20.0, seed=7)
    assert list(single) == single.global_batches()
    assert list(single) == _ranks(durations, 1, 0, max_batch_seconds=20.0, seed=7)[0]


def test_a_step_pairs_batches_of_similar_length_across_ranks():
    durations = [1.0] * 60 + [10.0] * 60
    parts = _ranks(durations, 2, 0, max_batch_seconds=20.0, num_buckets=2, seed=0)
    for a, b in zip(*parts):
        assert durations[a[0]] == durations[b[0]]


def test_make_divisible_splits_batches_and_repeats_only_singletons():
    assert make_divisible([[0, 1, 2, 3], [4]], 2) == [[0, 1, 2, 3], [4]]  # already even: untouched
    assert make_divisible([[0, 1, 2, 3], [4], [5]], 2) == [[0, 1], [2, 3], [4], [5]]
    assert make_divisible([[0, 1, 2, 3], [4, 5]], 4) == [[0], [1], [2, 3], [4, 5]]
    assert make_divisible([[0], [1], [2]], 2) == [[0], [1], [2], [0]]
    assert make_divisible([[0, 1], [2]], 1) == [[0, 1], [2]]


def test_rank_outside_the_world_is_refused():
    with pytest.raises(ValueError, match="rank 2 is outside 0..1"):
        DurationBucketSampler([1.0], 10.0, num_replicas=2, rank=2)
