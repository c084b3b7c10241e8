"""Reading input files ahead on threads: order, bounded look-ahead, and errors where they would be without it."""

import threading
from pathlib import Path

import pytest

from asr.read_ahead import read_ahead


def _reader(log: list):
    def read(path):
        log.append(threading.current_thread().name)
        return f"read {Path(path).name}"
    return read


def test_paths_are_read_on_threads_and_handed_out_in_input_order():
    names = []
    inputs = [f"f{i}.wav" for i in range(10)] + [[0.0, 0.1]] + ["g.wav"]
    out = list(read_ahead(inputs, _reader(names), workers=2))
    assert [index for index, _, _ in out] == list(range(12))
    assert [item for _, item, _ in out] == inputs
    assert [future.result() for _, _, future in out if future is not None] == \
        [f"read f{i}.wav" for i in range(10)] + ["read g.wav"]
    assert out[10][2] is None  # samples in memory are not "read"
    assert len(names) == 11 and all(name.startswith("asr-read") for name in names)


def test_one_worker_reads_nothing_ahead():
    names = []
    assert [future for _, _, future in read_ahead(["a.wav", "b.wav"], _reader(names), workers=1)] == [None, None]
    assert names == []


def test_at_most_depth_inputs_are_taken_ahead_of_the_consumer():
    pulled = []

    def source():
        for i in range(100):
            pulled.append(i)
            yield f"f{i}.wav"

    stream = read_ahead(source(), _reader([]), workers=2, depth=5)
    next(stream)
    assert len(pulled) == 5
    next(stream)
    assert len(pulled) == 6
    stream.close()


def test_a_failing_input_list_fails_after_the_inputs_before_it():
    def source():
        yield "a.wav"
        yield "b.wav"
        raise OSError("cannot list folder x")

    stream = read_ahead(source(), _reader([]), workers=2)
    assert [item for _, item, _ in (next(stream), next(stream))] == ["a.wav", "b.wav"]
    with pytest.raises(OSError, match="folder x"):
        next(stream)


def test_a_failed_read_fails_at_its_own_result():
    def read(path):
        if path == "bad.wav":
            raise ValueError("bad.wav: not audio")
        return path

    futures = [future for _, _, future in read_ahead(["a.wav", "bad.wav", "c.wav"], read, workers=2)]
    assert futures[0].result() == "a.wav" and futures[2].result() == "c.wav"
    with pytest.raises(ValueError, match="bad.wav"):
        futures[1].result()
