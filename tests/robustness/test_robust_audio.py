"""Bad audio: a clear AudioError naming the file, or inside a corpus import a counted, logged skip.

Odd but valid audio (8/24/32-bit float, several channels, any common rate, two hours long) must work.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import audio_info, load_audio, stream_audio
from asr.data.dataset import extract_features
from asr.data.importers.kaldi import import_kaldi_dir
from asr.errors import AudioError
from asr.features import FeatureConfig

RATE = 8000
Tone = Callable[..., np.ndarray]


def _cut(path: Path, tone: Tone, keep: int | float, ext: str) -> None:
    """A copy of a good 2-second file, cut after ``keep`` bytes (or that fraction of its size)."""
    full = path.with_name(f"full-{path.name}")
    sf.write(full, tone(RATE, 2.0), RATE, format=ext.upper())
    data = full.read_bytes()
    path.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    full.unlink()


def _with(value: float) -> Callable[[Path, Tone], None]:
    def make(path: Path, tone: Tone) -> None:
        signal = tone(RATE, 1.0)
        signal[100] = value
        sf.write(path, signal, RATE, subtype="FLOAT")

    return make


# name -> (file name, how to make it, what the message must say, caught already when a corpus is imported)
BAD_AUDIO: dict[str, tuple[str, Callable[[Path, Tone], object], str, bool]] = {
    "empty file": ("empty.wav", lambda p, t: p.write_bytes(b""), "empty", True),
    "zero samples": ("zero.ogg", lambda p, t: sf.write(p, np.zeros(0, np.float32), RATE), "no samples", True),
    "header-only WAV": ("header.wav", lambda p, t: _cut(p, t, 44, "wav"), "truncated", True),
    "truncated FLAC": ("cut.flac", lambda p, t: _cut(p, t, 0.5, "flac"), "truncated", True),
    "text file named .wav": ("notes.wav", lambda p, t: p.write_text("not audio\n"), "cannot", True),
    "NaN samples": ("nan.wav", _with(np.nan), "NaN or Inf", False),
    "Inf samples": ("inf.wav", _with(np.inf), "NaN or Inf", False),
    "missing path": ("missing.wav", lambda p, t: None, "not found", True),
    "directory instead of a file": ("folder.wav", lambda p, t: p.mkdir(), "is a directory", True),
}


@pytest.fixture(params=list(BAD_AUDIO), ids=list(BAD_AUDIO))
def bad_audio(request: pytest.FixtureRequest, tmp_path: Path, tone: Tone) -> tuple[Path, str]:
    name, make, message, _ = BAD_AUDIO[request.param]
    path = tmp_path / name
    make(path, tone)
    return path, message


def test_bad_audio_is_an_audio_error_naming_the_file(bad_audio: tuple[Path, str]) -> None:
    path, message = bad_audio
    for read in (lambda: load_audio(path, 16000), lambda: list(stream_audio(path, 16000, chunk_seconds=0.25))):
        with pytest.raises(AudioError, match=message) as info:
            read()
        assert str(path) in str(info.value)


def test_bad_audio_through_the_cli_is_one_line(bad_audio: tuple[Path, str], tiny_model: Path, cli) -> None:
    path, message = bad_audio
    if message == "is a directory":
        # asr transcribe takes folders (their audio files, recursively): an empty one is the error.
        message = "no audio files"
    line = cli("transcribe", tiny_model, path).error_line
    assert str(path) in line and message in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path: Path, tone: Tone, cli, tiny_model: Path) -> None:
    path = tmp_path / "locked.wav"
    sf.write(path, tone(RATE, 1.0), RATE)
    path.chmod(0)
    with pytest.raises(AudioError, match="permission denied"):
        load_audio(path, 16000)
    assert str(path) in cli("transcribe", tiny_model, path).error_line


def test_unreadable_file_simulated(tmp_path: Path, tone: Tone, cli, tiny_model: Path, monkeypatch) -> None:
    """The same path where the test runs as root: the permission check is what denies, as it would for a user."""
    path = tmp_path / "locked.wav"
    sf.write(path, tone(RATE, 1.0), RATE)
    real_access = os.access
    monkeypatch.setattr("asr.audio.os.access", lambda p, mode: False if Path(p) == path else real_access(p, mode))
    with pytest.raises(AudioError, match=f"{path}: permission denied"):
        load_audio(path, 16000)
    assert str(path) in cli("transcribe", tiny_model, path).error_line


def test_bad_audio_in_a_corpus_import_is_a_counted_logged_skip(tmp_path: Path, tone: Tone, caplog) -> None:
    """A Kaldi dir listing every kind of bad file beside one good one imports the good one and counts the rest."""
    sf.write(tmp_path / "good.wav", tone(RATE, 1.0), RATE)
    scp, text, undetectable = ["good good.wav"], ["good a b"], []
    for i, (name, make, _, caught_at_import) in enumerate(BAD_AUDIO.values()):
        make(tmp_path / name, tone)
        scp.append(f"bad{i} {name}")
        text.append(f"bad{i} a")
        if not caught_at_import:
            undetectable.append(f"bad{i}")
    (tmp_path / "wav.scp").write_text("\n".join(scp) + "\n")
    (tmp_path / "text").write_text("\n".join(text) + "\n")
    with caplog.at_level(logging.WARNING):
        utts = import_kaldi_dir(tmp_path)
    skipped = len(BAD_AUDIO) - len(undetectable)
    assert [u.id for u in utts] == ["good", *undetectable]
    assert f"{skipped} utterances skipped because their audio is unreadable" in caplog.text
    for name, _, _, caught in BAD_AUDIO.values():
        assert (name in caplog.text) == caught, name  # each skipped file is named in the log
    # NaN/Inf samples need a full decode to be found: import passes them, feature extraction names the file.
    nan_utt = next(u for u in utts if u.id != "good")
    with pytest.raises(AudioError, match=f"{nan_utt.audio}: contains NaN"):
        extract_features([nan_utt], FeatureConfig(sample_rate=RATE, n_mels=20))


@pytest.mark.parametrize(
    "subtype, channels, tolerance",
    [("PCM_U8", 1, 1e-2), ("PCM_24", 1, 1e-5), ("FLOAT", 1, 1e-6), ("PCM_16", 2, 1e-4), ("PCM_16", 6, 1e-4)],
    ids=["8-bit", "24-bit", "32-bit float", "stereo", "6 channels"],
)
def test_sample_formats_and_channel_counts_work(tmp_path: Path, tone: Tone, cli, tiny_model: Path, subtype: str,
                                                channels: int, tolerance: float) -> None:
    signal = tone(RATE, 1.0, channels=channels)
    path = tmp_path / "x.wav"
    sf.write(path, signal, RATE, subtype=subtype)
    expected = signal if channels == 1 else signal.mean(axis=1)  # mixed down to mono
    wave = load_audio(path, RATE).numpy()
    assert np.max(np.abs(wave - expected)) < tolerance
    streamed = torch.cat(list(stream_audio(path, RATE, chunk_seconds=0.3))).numpy()
    assert np.array_equal(streamed, wave)
    assert cli("transcribe", tiny_model, path).code == 0


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_common_rates_are_resampled(tmp_path: Path, tone: Tone, rate: int) -> None:
    path = tmp_path / f"x{rate}.flac"
    sf.write(path, tone(rate, 1.3, freq=440.0), rate)
    wave = load_audio(path, 16000)
    assert abs(wave.shape[0] - 1.3 * 16000) <= 2
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    assert abs(np.argmax(spectrum) * 16000 / wave.shape[0] - 440.0) < 2.0  # pitch kept
    # Block-wise resampling (blocks of 0.3 s, far shorter than the file) joins up without seams.
    blocks = list(stream_audio(path, 16000, chunk_seconds=0.3))
    assert len(blocks) >= 4
    assert torch.allclose(torch.cat(blocks), wave, atol=1e-4)


# Runs in a fresh process: ru_maxrss is a high-water mark, and this process's may already be high.
_STREAM_2H = textwrap.dedent("""
    import resource, sys
    import torch
    torch.set_num_threads(1)
    from asr.audio import stream_audio

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    # One short pass first, so one-time costs (torch kernels, libsndfile) are not counted against the file.
    for _ in stream_audio(sys.argv[2], 16000, 30.0):
        pass
    before, samples, total = peak(), 0, 0.0
    for block in stream_audio(sys.argv[1], 16000, 30.0):
        samples += block.numel()
        total += float(block.abs().sum())
    print(samples, peak() - before, total)
""")


def test_two_hour_file_streams_in_flat_memory(tmp_path: Path, tone: Tone) -> None:
    rate, hours, minute = RATE, 2, tone(RATE, 60.0)
    long_file, short_file = tmp_path / "two_hours.wav", tmp_path / "short.wav"
    # Written a minute at a time: the test itself must not hold the 2-hour signal either (115 MB on disk).
    with sf.SoundFile(long_file, "w", rate, 1, "PCM_16") as out:
        for _ in range(hours * 60):
            out.write(minute)
    sf.write(short_file, minute, rate, subtype="PCM_16")
    try:
        result = subprocess.run([sys.executable, "-c", _STREAM_2H, str(long_file), str(short_file)],
                                capture_output=True, text=True, timeout=300, check=True)
    finally:
        long_file.unlink()  # pytest keeps the last runs' temp folders; 115 MB each is not worth keeping
    samples, growth, total = result.stdout.split()
    full_signal_bytes = hours * 3600 * 16000 * 4  # float32 at 16 kHz: 460 MB
    assert int(samples) == hours * 3600 * 16000  # every sample, resampled to 16 kHz
    assert int(growth) < 100e6, f"peak memory grew by {int(growth) / 1e6:.0f} MB"
    assert int(growth) < full_signal_bytes / 4
    # The blocks are the signal, not silence: a 0.4-amplitude sine averages 0.4 * 2 / pi in magnitude.
    assert float(total) / int(samples) == pytest.approx(0.4 * 2 / np.pi, rel=0.02)
    print(f"2-hour file: peak memory growth {int(growth) / 1e6:.1f} MB (full signal: {full_signal_bytes / 1e6:.0f} MB)")


def test_stream_matches_load_audio_on_a_shorter_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "noise.wav"
    sf.write(path, (0.2 * rng.standard_normal((int(44100 * 3.7), 2))).astype(np.float32), 44100, subtype="FLOAT")
    whole = load_audio(path, 16000)
    for chunk in (0.001, 0.1, 1.0, 60.0):  # 0.001: shorter than the filter; blocks grow to fit it
        streamed = torch.cat(list(stream_audio(path, 16000, chunk_seconds=chunk)))
        assert streamed.shape == whole.shape
        assert torch.allclose(streamed, whole, atol=1e-4), chunk


def test_audio_info_reads_the_header_and_checks_the_end(tmp_path: Path, tone: Tone) -> None:
    path = tmp_path / "ok.flac"
    sf.write(path, tone(RATE, 0.75), RATE)
    assert audio_info(path) == (RATE, 6000, 0.75)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    assert audio_info(cut, verify=False)[1] == 6000  # the header alone still promises every sample
    with pytest.raises(AudioError, match="truncated"):
        audio_info(cut)
