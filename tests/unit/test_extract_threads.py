"""Feature extraction runs on one torch thread and gives training its thread count back."""

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.data import dataset
from asr.data.manifest import Utterance
from asr.errors import AudioError
from asr.features import FeatureConfig, LogMel


def test_extraction_uses_one_thread_and_restores_the_count(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    utts = []
    for i in range(3):
        path = tmp_path / f"u{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(8000 + 1000 * i)).astype(np.float32), 16000)
        utts.append(Utterance(id=f"u{i}", audio=str(path), duration=(8000 + 1000 * i) / 16000, text="a"))
    config = FeatureConfig(n_mels=20)
    seen = []
    original = dataset.utterance_features

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(dataset, "utterance_features", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        feats = dataset.extract_features(utts, config)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1, 1]
    logmel = LogMel(config).eval()
    for utt, got in zip(utts, feats):
        wave = torch.from_numpy(sf.read(utt.audio, dtype="float32")[0])
        assert torch.allclose(got, logmel(wave), atol=1e-5)
        assert got.shape == (wave.shape[0] // 160 + 1, 20)


def _noise_utterances(tmp_path, count: int) -> list[Utterance]:
    rng = np.random.default_rng(1)
    utts = []
    for i in range(count):
        samples = 4000 + 800 * i
        path = tmp_path / f"n{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(samples)).astype(np.float32), 16000)
        utts.append(Utterance(id=f"n{i}", audio=str(path), duration=samples / 16000, text="a"))
    return utts


def _with_threads(count: int, function):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        return function()
    finally:
        torch.set_num_threads(before)


def test_extraction_spreads_utterances_over_the_thread_budget_in_manifest_order(tmp_path, monkeypatch):
    import threading

    utts = _noise_utterances(tmp_path, 12)
    config = FeatureConfig(n_mels=20)
    alone = _with_threads(1, lambda: dataset.extract_features(utts, config))
    workers = set()
    original = dataset.utterance_features

    def spy(*args, **kwargs):
        workers.add(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(dataset, "utterance_features", spy)
    spread = _with_threads(2, lambda: dataset.extract_features(utts, config))
    assert len(workers) == 2 and all(name.startswith("asr-features") for name in workers)
    assert [f.shape[0] for f in spread] == [f.shape[0] for f in alone]  # lengths grow with the index: order kept
    assert all(torch.equal(a, b) for a, b in zip(alone, spread))


def test_the_first_unreadable_file_in_manifest_order_is_the_one_reported(tmp_path):
    utts = _noise_utterances(tmp_path, 8)
    for i in (3, 6):
        (tmp_path / f"n{i}.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="n3.wav"):
        _with_threads(2, lambda: dataset.extract_features(utts, FeatureConfig(n_mels=20)))
