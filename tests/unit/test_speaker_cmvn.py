"""Speaker mean normalisation (``model.cmvn: speaker``): training, scoring and transcription remove the same means."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.checkpoint import AsrBundle, save_bundle
from asr.data.datamodule import AsrDataModule, DataConfig
from asr.data.dataset import extract_features
from asr.data.manifest import read_manifest
from asr.decode import DecoderConfig
from asr.errors import ConfigError
from asr.features import FeatureConfig, remove_speaker_means
from asr.model import CtcModel, ModelConfig
from asr.scoring import ScoringSet
from asr.text import CharTokenizer, NormalizerConfig, TextNormalizer
from asr.transcribe import Transcriber
from asr.units import TokenizerConfig

RATE = 8000
FEATURES = FeatureConfig(sample_rate=RATE, n_mels=20)


def test_each_utterance_loses_its_speakers_mean_over_all_their_frames():
    a1, a2 = torch.tensor([[1.0, 10.0], [3.0, 10.0]]), torch.tensor([[5.0, 20.0]])
    b = torch.tensor([[7.0, 1.0], [9.0, 3.0]])
    c, d = torch.tensor([[2.0, 4.0]]), torch.tensor([[6.0, 8.0], [8.0, 8.0]])
    out = remove_speaker_means([a1, a2, b, c, d], ["A", "A", "B", None, None])
    speaker_a = torch.tensor([3.0, 40.0 / 3])  # three frames of A: (1 + 3 + 5) / 3, (10 + 10 + 20) / 3
    torch.testing.assert_close(out[0], a1 - speaker_a)
    torch.testing.assert_close(out[1], a2 - speaker_a)  # not zero, as its own mean would leave it
    torch.testing.assert_close(out[2], b - torch.tensor([8.0, 2.0]))
    # No speaker: each is its own (two of them are not pooled).
    torch.testing.assert_close(out[3], torch.zeros(1, 2))
    torch.testing.assert_close(out[4], torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """Four recordings: speaker s (two, at different levels), speaker t, and one without a speaker."""
    rng = np.random.default_rng(3)
    lines = []
    for k, (speaker, gain) in enumerate([("s", 0.05), ("s", 0.4), ("t", 0.2), (None, 0.1)]):
        audio = tmp_path / f"u{k}.wav"
        sf.write(audio, (gain * rng.standard_normal(RATE * (k + 1))).astype(np.float32), RATE)
        entry = {"id": f"u{k}", "audio": str(audio), "duration": k + 1.0, "text": "ab ba"}
        if speaker:
            entry["speaker"] = speaker
        lines.append(json.dumps(entry))
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_training_features_lose_each_speakers_mean_per_speed_copy(manifest: Path, tmp_path: Path):
    data = AsrDataModule(DataConfig(train=str(manifest), dev=str(manifest), speed_perturb=[0.9, 1.0, 1.1]),
                         FEATURES, NormalizerConfig(), TokenizerConfig(), subsampling=2, cmvn="speaker",
                         cache_dir=tmp_path / "cache")
    data.setup()
    utts = read_manifest(manifest)
    raw = {f: extract_features(utts, FEATURES, speed=f) for f in (1.0, 0.9, 1.1)}
    by_id = dict(zip(data.train_set.ids, data.train_set.feats))
    for factor, suffix in ((1.0, ""), (0.9, "-sp0.9"), (1.1, "-sp1.1")):
        feats = raw[factor]
        speaker_s = torch.cat(feats[:2]).mean(0)
        torch.testing.assert_close(by_id[f"u0{suffix}"], feats[0] - speaker_s, atol=1e-5, rtol=0)
        torch.testing.assert_close(by_id[f"u1{suffix}"], feats[1] - speaker_s, atol=1e-5, rtol=0)
        torch.testing.assert_close(by_id[f"u2{suffix}"], feats[2] - feats[2].mean(0), atol=1e-5, rtol=0)
        torch.testing.assert_close(by_id[f"u3{suffix}"], feats[3] - feats[3].mean(0), atol=1e-5, rtol=0)
    # The two recordings of s differ in level by 18 dB: their speaker's mean leaves that difference.
    assert by_id["u1"].mean() - by_id["u0"].mean() > 3.0
    torch.testing.assert_close(data.dev_set.feats[0], raw[1.0][0] - torch.cat(raw[1.0][:2]).mean(0),
                               atol=1e-5, rtol=0)


def test_streamed_training_shards_are_refused_with_speaker_means(manifest: Path):
    with pytest.raises(ConfigError, match="model.cmvn: speaker needs every utterance of a speaker"):
        AsrDataModule(DataConfig(train_shards="shards", dev=str(manifest)), FEATURES, NormalizerConfig(),
                      TokenizerConfig(), subsampling=2, cmvn="speaker")


def speaker_model(tmp_path: Path, cmvn: str = "speaker") -> Path:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["ab", "ba"])
    model = CtcModel(ModelConfig(cell="gru", hidden_size=8, num_layers=1, conv_channels=2, input_dim=6, cmvn=cmvn),
                     FEATURES.n_mels, len(tokenizer)).eval()
    bundle = AsrBundle(model, FEATURES, tokenizer, TextNormalizer(), DecoderConfig("greedy"), {"epoch": 0})
    return save_bundle(bundle, tmp_path / f"{cmvn}.pt")


def run_model(transcriber: Transcriber, feats: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        log_probs, lengths = transcriber.bundle.model(feats[None], torch.tensor([feats.shape[0]]))
    return log_probs[0, : int(lengths[0])]


def test_scoring_removes_the_manifests_speaker_means_and_transcription_each_files_own(manifest: Path, tmp_path):
    model = speaker_model(tmp_path)
    scored = ScoringSet.load(model, manifest)
    transcriber = scored.transcriber
    utts = read_manifest(manifest)
    feats = [transcriber.features(u.audio) for u in utts]
    speaker_s = torch.cat(feats[:2]).mean(0)
    expected = [feats[0] - speaker_s, feats[1] - speaker_s, feats[2] - feats[2].mean(0), feats[3] - feats[3].mean(0)]
    for emission, normed in zip(scored.emissions, expected):
        torch.testing.assert_close(emission, run_model(transcriber, normed), atol=1e-5, rtol=1e-5)
    # A file given alone is its own speaker: u1 without u0 is another input to the model.
    alone = transcriber.emissions([feats[1]])[0]
    torch.testing.assert_close(alone, run_model(transcriber, feats[1] - feats[1].mean(0)), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(alone, scored.emissions[1], atol=1e-3)
    # A model of another normalisation is not handed mean-removed features.
    glob = Transcriber(speaker_model(tmp_path, "global"))
    torch.testing.assert_close(glob.emissions([feats[1]])[0], run_model(glob, feats[1]))
