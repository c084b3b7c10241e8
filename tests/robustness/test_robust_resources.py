"""Family 1: resources a small input could blow up. Odd sample rates, header rates, long files in `asr test`.

Rates that share no factor with 16 kHz (44,101 Hz, 7,919 Hz) made torchaudio build a filter bank of
16,000 x 44,101 floats: 8.8 GB for one second of audio. Memory is measured in a subprocess (peak RSS).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import asr.data.dataset
import asr.longform
import asr.transcribe
from asr.audio import audio_info, load_audio, resample, stream_audio
from asr.errors import AudioError


def _sine(rate: int, seconds: float, freq: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz_and_amplitude(signal: np.ndarray, rate: int) -> tuple[float, float]:
    middle = signal[rate // 10 : -rate // 10]  # away from the edges' zero padding
    window = np.hanning(middle.size)
    spectrum = np.abs(np.fft.rfft(middle * window))
    k = int(spectrum.argmax())
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    shift = 0.5 * (a - c) / (a - 2 * b + c)  # parabolic interpolation between bins
    return (k + shift) * rate / middle.size, float(np.sqrt(2) * np.sqrt(np.mean(middle**2)))


@pytest.mark.parametrize("rate", [44_101, 7_919, 44_100, 8_000])
def test_odd_rates_keep_frequency_and_amplitude(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"tone{rate}.wav"
    sf.write(path, _sine(rate, 1.5, 1000.0), rate, subtype="FLOAT")
    whole = load_audio(path, 16000).numpy()
    assert whole.size == int(np.ceil(16000 * int(rate * 1.5) / rate))  # duration kept exactly
    freq, amp = _peak_hz_and_amplitude(whole, 16000)
    assert abs(freq - 1000.0) < 0.5, freq
    assert abs(amp - 0.5) < 0.005, amp
    streamed = torch.cat(list(stream_audio(path, 16000, chunk_seconds=0.3))).numpy()
    assert streamed.shape == whole.shape and np.abs(streamed - whole).max() < 1e-4  # no seams


def test_big_ratio_resampler_matches_torchaudio() -> None:
    """The bounded-memory path computes torchaudio's own filter: same output on a ratio both can do."""
    import torchaudio.functional as AF

    from asr.audio import _PolyphaseResampler

    x = torch.randn(4410, generator=torch.Generator().manual_seed(0))
    for orig, new in ((441, 160), (160, 441)):
        expected = AF.resample(x, orig, new)
        got = _PolyphaseResampler(orig, new, block=1000)(x)
        assert got.shape == expected.shape and (got - expected).abs().max() < 1e-4


_PEAK = textwrap.dedent("""
    import resource, sys
    import numpy as np, soundfile as sf, torch
    from asr.audio import load_audio, stream_audio
    torch.set_num_threads(1)
    path, rate = sys.argv[1], int(sys.argv[2])
    sf.write(path, (0.3 * np.sin(np.arange(rate) * 0.1)).astype(np.float32), rate)
    load_audio(path, 16000, duration=0.01)  # warm-up: torch's own one-time allocations are not the file's
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = load_audio(path, 16000).numel() + sum(b.numel() for b in stream_audio(path, 16000, chunk_seconds=0.5))
    print(n, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
""")


@pytest.mark.parametrize("rate", [44_101, 7_919])
def test_one_second_at_an_odd_rate_stays_in_bounded_memory(tmp_path: Path, rate: int) -> None:
    result = subprocess.run([sys.executable, "-c", _PEAK, str(tmp_path / "odd.wav"), str(rate)],
                            capture_output=True, text=True, timeout=300, check=True)
    samples, growth = map(int, result.stdout.split())
    assert samples == 2 * 16000
    # Before: 8.8 GB (44,101 Hz) and 2.65 GB (7,919 Hz). Now a few MB of filter per block.
    assert growth < 100e6, f"peak memory grew by {growth / 1e6:.0f} MB"


@pytest.mark.parametrize("rate", [500, 1_000_000])
def test_header_rates_outside_the_supported_range_are_refused(tmp_path: Path, rate: int, tiny_model: Path,
                                                              cli) -> None:
    path = tmp_path / "rate.wav"
    sf.write(path, np.zeros(600, np.float32), rate)
    for read in (lambda: audio_info(path), lambda: load_audio(path, 16000), lambda: list(stream_audio(path, 16000))):
        with pytest.raises(AudioError, match=f"sample rate {rate} Hz is outside the supported"):
            read()
    line = cli("transcribe", tiny_model, path).error_line
    assert str(path) in line and "sample rate" in line


def test_resample_identity_and_small_ratios_unchanged() -> None:
    x = torch.randn(1000)
    assert resample(x, 16000, 16000) is x
    assert resample(x, 8000, 16000).numel() == 2000


def _long_corpus(root: Path, seconds: float) -> Path:
    from asr.data.manifest import Utterance, write_manifest

    rate = 8000
    sf.write(root / "long.wav", _sine(rate, seconds, 300.0, 0.3), rate, subtype="PCM_16")
    sf.write(root / "short.wav", _sine(rate, 1.0, 300.0, 0.3), rate, subtype="PCM_16")
    return write_manifest(root / "long.jsonl", [Utterance("long", str(root / "long.wav"), seconds, "ab"),
                                                Utterance("short", str(root / "short.wav"), 1.0, "ba")])


def test_asr_test_streams_long_recordings(tmp_path: Path, tiny_model: Path, cli, monkeypatch) -> None:
    """`asr test` reads a recording longer than a minute as `asr transcribe` does: streamed, in segments."""
    manifest = _long_corpus(tmp_path, 75.0)
    whole_reads: list[str] = []
    real_load = asr.data.dataset.load_audio

    def spy(path, *args, **kwargs):
        whole_reads.append(Path(path).name)
        return real_load(path, *args, **kwargs)

    segments: list[int] = []
    real_emissions = asr.transcribe.Transcriber.emissions

    def counting(self, feats, speaker_means=None):
        segments.extend(f.shape[0] for f in feats)
        return real_emissions(self, feats, speaker_means)

    monkeypatch.setattr(asr.data.dataset, "load_audio", spy)
    monkeypatch.setattr(asr.transcribe.Transcriber, "emissions", counting)
    result = cli("test", tiny_model, manifest, "-o", tmp_path / "out")
    assert result.code == 0, result.err
    assert whole_reads == ["short.wav"]  # the long file never read whole
    # 75 s at 100 frames/s: three segments of at most 30 s (3001 frames each), plus the short file
    assert len(segments) == 4 and max(segments) <= 3001
    hyps = [json.loads(line) for line in (tmp_path / "out" / "hyps.jsonl").read_text().splitlines()]
    assert [h["id"] for h in hyps] == ["long", "short"]


def test_long_emissions_cover_the_whole_recording(tmp_path: Path, tiny_model: Path) -> None:
    from asr.transcribe import Transcriber

    manifest = _long_corpus(tmp_path, 65.0)
    from asr.data.manifest import read_manifest

    transcriber = Transcriber(tiny_model)
    long_out, short_out = asr.longform.manifest_emissions(transcriber, read_manifest(manifest))
    frames_per_second = 1 / transcriber.bundle.frame_shift
    # each segment adds at most one frame of rounding (center=True): 65 s -> 3 segments
    assert abs(long_out.shape[0] - 65 * frames_per_second) <= 4
    assert torch.isfinite(long_out).all() and short_out.shape[0] > 0


def test_a_manifest_understating_a_files_length_is_refused(tmp_path: Path) -> None:
    """Training reads whole files: a claim of 1 s for a long file would load all of it."""
    from asr.data.dataset import extract_features
    from asr.data.manifest import Utterance
    from asr.features import FeatureConfig

    sf.write(tmp_path / "long.wav", np.zeros(8000 * 100, np.int16), 8000, subtype="PCM_16")
    utt = Utterance("liar", str(tmp_path / "long.wav"), 1.0, "ab")
    with pytest.raises(AudioError, match=r"holds 100.0 s of audio, the manifest says 1 s \(utterance 'liar'\)"):
        extract_features([utt], FeatureConfig(sample_rate=8000, n_mels=20))
    honest = Utterance("ok", str(tmp_path / "long.wav"), 99.99, "ab")  # rounding in a manifest is fine
    assert extract_features([honest], FeatureConfig(sample_rate=8000, n_mels=20))[0].shape[0] > 9000
