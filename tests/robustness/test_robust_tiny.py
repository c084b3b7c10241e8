"""Tiny inputs: audio shorter than one feature window, one-character transcripts, one-utterance corpora.
They work (a clip shorter than the window is padded with silence to one frame) instead of a torch traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.features import FeatureConfig, LogMel

RATE = 8000


@pytest.mark.parametrize("samples", [1, 10, 128, 129, 200])
def test_logmel_of_clips_shorter_than_a_window(samples: int) -> None:
    config = FeatureConfig(sample_rate=RATE, n_mels=20)  # 25 ms window: 200 samples, FFT 256
    feats = LogMel(config)(torch.full((samples,), 0.1))
    assert feats.shape[0] >= 1 and feats.shape[1] == 20 and torch.isfinite(feats).all()


def test_longer_audio_is_not_padded() -> None:
    config = FeatureConfig(sample_rate=RATE, n_mels=20)
    wave = torch.randn(RATE, generator=torch.Generator().manual_seed(0))
    assert LogMel(config)(wave).shape[0] == RATE // config.hop_length + 1  # center=True framing, unchanged


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
@pytest.mark.parametrize("samples", [1, 10, 100])
def test_transcribing_a_click(tmp_path: Path, tiny_model: Path, cli, samples: int, decoder: str) -> None:
    path = tmp_path / "click.wav"
    sf.write(path, np.full(samples, 0.1, np.float32), RATE)
    result = cli("transcribe", tiny_model, path, "--decoder", decoder)
    assert result.code == 0 and result.err == ""


def test_scoring_a_one_sample_utterance(tmp_path: Path, tiny_model: Path, cli) -> None:
    sf.write(tmp_path / "one.wav", np.full(1, 0.1, np.float32), RATE)
    manifest = tmp_path / "one.jsonl"
    manifest.write_text(json.dumps({"id": "x", "audio": "one.wav", "duration": 1 / RATE, "text": "a"}) + "\n")
    result = cli("test", tiny_model, manifest, "-o", tmp_path / "out")
    assert result.code == 0 and "WER" in result.out
    assert json.loads((tmp_path / "out" / "hyps.jsonl").read_text())["id"] == "x"


def test_training_on_one_short_utterance_with_one_character(tmp_path: Path, overrides, cli) -> None:
    (tmp_path / "wav").mkdir()
    sf.write(tmp_path / "wav" / "u.wav", (0.1 * np.random.default_rng(0).standard_normal(50)).astype(np.float32),
             RATE)  # 6 ms: shorter than one 25 ms window
    for name in ("train", "dev"):
        (tmp_path / f"{name}.jsonl").write_text(
            json.dumps({"id": "u", "audio": "wav/u.wav", "duration": 50 / RATE, "text": "a"}) + "\n")
    result = cli("train", *overrides(tmp_path, **{"trainer.max_epochs": 1}))
    assert result.code == 0, result.err
    assert (tmp_path / "exp" / "model_best.pt").is_file()
