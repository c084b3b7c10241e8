"""Speech regions from Silero VAD, and long recordings decoded region by region."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import load_audio
from asr.checkpoint import AsrBundle, save_bundle
from asr.decode import DecoderConfig, Hypothesis, Word
from asr.features import FeatureConfig
from asr.model import CtcModel, ModelConfig
from asr.text import CharTokenizer, TextNormalizer
from asr.transcribe import Transcriber
from asr.vad import (
    WINDOW,
    VadConfig,
    probabilities_of_blocks,
    regions_from_probabilities,
    speech_probabilities,
    speech_segments,
)

pytest.importorskip("silero_vad")

SECONDS_PER_WINDOW = WINDOW / 16000  # 0.032


def test_regions_follow_the_probabilities_with_padding():
    probs = [0.1] * 50 + [0.9] * 50 + [0.1] * 50  # speech from window 50 (1.6 s) to window 100 (3.2 s)
    total = 150 * WINDOW
    assert regions_from_probabilities(probs, total, 30.0, VadConfig(pad=0.2)) == [(1.4, 3.4)]
    assert regions_from_probabilities(probs, total, 30.0, VadConfig(pad=0.0)) == [(1.6, 3.2)]
    # a short blip is not speech; two bursts 0.16 s apart are one region, 0.64 s apart two (min_silence 0.3)
    config = VadConfig(min_silence=0.3)
    assert regions_from_probabilities([0.1] * 20 + [0.9] * 3 + [0.1] * 20, 43 * WINDOW, 30.0, config) == []
    close = [0.1] * 20 + [0.9] * 20 + [0.1] * 5 + [0.9] * 20 + [0.1] * 40
    assert len(regions_from_probabilities(close, len(close) * WINDOW, 30.0, config)) == 1
    assert len(regions_from_probabilities(close, len(close) * WINDOW, 30.0, VadConfig(min_silence=0.1))) == 2
    apart = [0.1] * 20 + [0.9] * 20 + [0.1] * 20 + [0.9] * 20 + [0.1] * 40
    assert len(regions_from_probabilities(apart, len(apart) * WINDOW, 30.0, config)) == 2


def test_long_speech_is_split_within_the_maximum():
    probs = [0.9] * 1500 + [0.1] * 30  # 48 s of speech
    regions = regions_from_probabilities(probs, len(probs) * WINDOW, 10.0)
    assert len(regions) >= 5 and all(0 < end - start <= 10.0 for start, end in regions)
    assert all(a[1] <= b[0] for a, b in zip(regions, regions[1:]))
    assert regions[0][0] == 0.0 and regions[-1][1] >= 1500 * SECONDS_PER_WINDOW


def spoken_file(corpora_dir: Path, tmp_path: Path) -> tuple[Path, list[tuple[float, float]]]:
    """Three FSDD digits with 1.5 s of silence and noise around them; returns the file and the digits' spans."""
    rng = np.random.default_rng(0)
    pieces, spans, t = [], [], 0.0
    for name in ("3_george_5.wav", "7_lucas_9.wav", "0_nicolas_12.wav"):
        gap = (0.003 * rng.standard_normal(12000)).astype(np.float32)
        gap[4000:6000] += (0.03 * rng.standard_normal(2000)).astype(np.float32)  # a quiet noise burst
        audio, rate = sf.read(corpora_dir / "fsdd" / "recordings" / name, dtype="float32")
        assert rate == 8000
        pieces += [gap, audio]
        spans.append((t + 1.5, t + 1.5 + len(audio) / rate))
        t = spans[-1][1]
    pieces.append(np.zeros(12000, dtype=np.float32))
    path = tmp_path / "three.wav"
    sf.write(path, np.concatenate(pieces), 8000)
    return path, spans


def test_silero_finds_the_spoken_digits(corpora_dir, tmp_path):
    path, spans = spoken_file(corpora_dir, tmp_path)
    threads = torch.get_num_threads()
    probs, total = speech_probabilities(path)
    assert torch.get_num_threads() == threads  # importing silero_vad sets 1 for the process; undone
    assert total == round(sf.info(path).frames * 2) and len(probs) == -(-total // WINDOW)  # read at 16 kHz
    regions = speech_segments(path, 30.0, VadConfig(pad=0.1))
    assert len(regions) == 3
    for (start, end), (true_start, true_end) in zip(regions, spans):
        # each region holds its digit (FSDD clips have some silence at their ends), not the noise burst 0.75 s
        # before it; the end lags: speech ends once the probability stays low for min_silence
        assert true_start - 0.15 <= start <= true_start + 0.2 and true_end - 0.2 <= end <= true_end + 0.3


def test_windows_scored_in_batches_match_silero_called_window_by_window(corpora_dir, tmp_path, monkeypatch):
    import asr.vad

    path, _ = spoken_file(corpora_dir, tmp_path)
    samples = load_audio(path, 16000)
    assert asr.vad._batchable(asr.vad.load_vad_model())  # the fast path is the one in use with this silero-vad
    samples = samples[: (samples.numel() // WINDOW - 1) * WINDOW + 100]  # a last window of 100 samples, padded
    sizes = itertools.cycle([1000, 7 * WINDOW, 333, 16000])  # blocks that end inside windows
    blocks, start = [], 0
    while start < samples.numel():
        blocks.append(samples[start : start + next(sizes)])
        start += blocks[-1].numel()
    batched, total = probabilities_of_blocks(blocks)
    monkeypatch.setattr(asr.vad, "_batchable", lambda model: False)
    one_by_one, total_one = probabilities_of_blocks(blocks)
    assert total == total_one and len(batched) == len(one_by_one) == -(-total // WINDOW)
    assert max(abs(a - b) for a, b in zip(batched, one_by_one)) < 1e-4
    assert max(one_by_one) > 0.9 and min(one_by_one) < 0.1  # speech and silence both present
    assert regions_from_probabilities(batched, total, 30.0) == regions_from_probabilities(one_by_one, total, 30.0)


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["ab", "ba"])
    features = FeatureConfig(sample_rate=8000, n_mels=20)
    model = CtcModel(ModelConfig(cell="gru", hidden_size=8, num_layers=1, conv_channels=2, input_dim=6),
                     features.n_mels, len(tokenizer)).eval()
    bundle = AsrBundle(model, features, tokenizer, TextNormalizer(), DecoderConfig("greedy"), {"epoch": 0})
    return save_bundle(bundle, tmp_path / "model.pt")


def test_long_files_decode_exactly_the_vad_regions(tiny_model, tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(path, (0.1 * np.random.default_rng(1).standard_normal(8000 * 12)).astype(np.float32), 8000)
    regions = [(0.5, 1.0), (2.95, 3.6), (3.6, 4.25), (9.0, 12.0)]  # across and at the 1 s stream blocks
    monkeypatch.setattr("asr.transcribe.speech_segments", lambda p, seconds, config: regions)
    transcriber = Transcriber(tiny_model, long_audio_seconds=5.0, segment_seconds=1.0, segmenter="vad")
    seen = []

    def features(samples):  # what the model would be given: the samples of each segment
        seen.append(samples.clone())
        return samples

    def decode(feats):
        return [Hypothesis(f"w{len(seen) - len(feats) + k + 1}",
                           [Word(f"w{len(seen) - len(feats) + k + 1}", 0.1, 0.2, 1.0)]) for k in range(len(feats))]

    monkeypatch.setattr(transcriber, "logmel", features)
    monkeypatch.setattr(transcriber, "transcribe_features", decode)
    (hyp,) = transcriber.transcribe([path])
    whole = load_audio(path, 8000)
    assert [w.start - 0.1 for w in hyp.words] == pytest.approx([a for a, _ in regions])  # times in the file
    assert len(seen) == len(regions)
    for samples, (a, b) in zip(seen, regions):
        assert torch.equal(samples, whole[round(a * 8000) : round(b * 8000)])
    assert hyp.text == "w1 w2 w3 w4" and hyp.words[1].start == pytest.approx(3.05)
    # the default cuts the same file into 1 s quiet-point segments instead, covering all of it
    seen.clear()
    transcriber.segmenter = "quiet"
    transcriber.transcribe([path])
    assert sum(s.numel() for s in seen) == whole.numel()


def test_unknown_segmenter_is_a_config_error(tiny_model):
    from asr.errors import ConfigError

    with pytest.raises(ConfigError, match="segmenter must be one of quiet, vad"):
        Transcriber(tiny_model, segmenter="energy")
