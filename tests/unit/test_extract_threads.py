"""Feature extraction runs on one torch thread and gives training its thread count back."""

import numpy as np
import soundfile as sf
import torch

from asr.data import dataset
from asr.data.manifest import Utterance
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
