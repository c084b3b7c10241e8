import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import audio_info, change_speed, load_audio
from asr.errors import AudioError


def tone(rate: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resamples_to_model_rate_keeping_duration_and_pitch(tmp_path, rate):
    path = tmp_path / f"a{rate}.wav"
    sf.write(path, tone(rate, 1.0, 440.0), rate)
    wave = load_audio(path, 16000)
    assert wave.dtype == torch.float32 and wave.ndim == 1
    assert abs(wave.shape[0] - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    assert abs(np.argmax(spectrum) * 16000 / wave.shape[0] - 440.0) < 3.0


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_change_scales_length_and_pitch_together(rate, factor):
    wave = change_speed(torch.from_numpy(tone(rate, 1.0, 440.0)), rate, factor)
    assert abs(wave.shape[0] - rate / factor) <= 2
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    assert abs(np.argmax(spectrum) * rate / wave.shape[0] - 440.0 * factor) < 3.0
    assert change_speed(torch.ones(5), rate, 1.0).tolist() == [1.0] * 5


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "FLOAT"])
def test_sample_formats_decode_to_the_same_signal(tmp_path, subtype):
    signal = tone(16000)
    path = tmp_path / "x.wav"
    sf.write(path, signal, 16000, subtype=subtype)
    wave = load_audio(path, 16000).numpy()
    tolerance = 1e-2 if subtype == "PCM_U8" else 1e-4
    assert np.max(np.abs(wave - signal)) < tolerance


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = tone(16000, freq=300), tone(16000, freq=500)
    path = tmp_path / "s.flac"
    sf.write(path, np.stack([left, right], axis=1), 16000)
    wave = load_audio(path, 16000).numpy()
    assert np.allclose(wave, (left + right) / 2, atol=1e-3)


def test_offset_and_duration_select_a_segment(tmp_path):
    signal = np.concatenate([np.zeros(8000), np.ones(8000) * 0.5, np.zeros(8000)]).astype(np.float32)
    path = tmp_path / "seg.wav"
    sf.write(path, signal, 16000, subtype="FLOAT")
    seg = load_audio(path, 16000, offset=0.5, duration=0.5).numpy()
    assert seg.shape[0] == 8000 and np.allclose(seg, 0.5)


def test_info_reads_header(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(8000, 0.75), 8000)
    assert audio_info(path) == (8000, 6000, 0.75)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("this is not audio\n"), "cannot"),
        (lambda p: p.mkdir(), "directory"),
    ],
)
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=message) as info:
        load_audio(path, 16000)
    assert str(path) in str(info.value)


def test_nan_samples_are_rejected(tmp_path):
    signal = tone(16000)
    signal[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, signal, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(path, 16000)


def test_header_only_wav_has_no_samples(tmp_path):
    path = tmp_path / "header.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=str(path)):
        load_audio(path, 16000)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.wav"
    sf.write(path, tone(16000), 16000)
    path.chmod(0)
    if os.geteuid() == 0:  # root (as in CI) may read any file: answer access() as for any other user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != path and real_access(p, mode, **kw))
    for read in (lambda: load_audio(path, 16000), lambda: audio_info(path)):
        with pytest.raises(AudioError, match="permission denied") as info:
            read()
        assert str(path) in str(info.value)
    path.chmod(0o644)
    monkeypatch.undo()
    assert load_audio(path, 16000).shape[0] == 8000  # readable again: the same file loads


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_truncated_files_are_reported(tmp_path, ext):
    full = tmp_path / f"full.{ext}"
    sf.write(full, tone(16000, 2.0), 16000)
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(AudioError, match="truncated|malformed") as info:
        load_audio(cut, 16000)
    assert str(cut) in str(info.value)
    assert load_audio(full, 16000).shape[0] == 32000  # the intact file still loads completely
