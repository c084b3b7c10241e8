"""Load audio from any format soundfile reads, as mono float32 at the requested rate.

Every failure becomes an :class:`AudioError` that names the file, never a library traceback.
:func:`load_audio` returns the whole signal; :func:`stream_audio` yields it in blocks, in memory
that does not grow with the file's length (a 2-hour file at 16 kHz is 460 MB as float32).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT

from asr.errors import AudioError
from asr.limits import MAX_ABS_SAMPLE, MAX_RESAMPLE_KERNEL, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, file_kind


def _check_path(path: Path) -> None:
    kind = file_kind(path)  # os.stat only: a FIFO is never opened (that would wait for a writer forever)
    if kind == "not found":
        raise AudioError(f"{path}: audio file not found")
    if kind == "a directory":
        raise AudioError(f"{path}: is a directory, expected an audio file")
    if kind is not None:
        raise AudioError(f"{path}: audio file is {kind}" + ("" if kind.startswith("not") else
                                                             ", expected a regular file"))
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")


def _check_samples(path: Path, mono: np.ndarray) -> None:
    if not np.isfinite(mono).all():
        raise AudioError(f"{path}: contains NaN or Inf samples")
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    # Float files hold samples in [-1, 1]; one at integer scale would decode to nonsense, with exit code 0.
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(f"{path}: samples reach {peak:.3g}, expected floats in [-1, 1]: the file is scaled "
                         f"wrongly (integer sample values stored as floats?)")


def _check_rate(path: Path, rate: int) -> None:
    # A header can claim any rate: 1 Hz makes a 1 MB file days long at 16 kHz, 2^31 Hz a huge filter.
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{path}: sample rate {rate} Hz is outside the supported {MIN_SAMPLE_RATE} to "
                         f"{MAX_SAMPLE_RATE} Hz")


def _check_wav_complete(path: Path) -> None:
    """A WAV whose data chunk is shorter than its header declares was cut off (libsndfile reads it silently)."""
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        size = path.stat().st_size
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return
            chunk_id, chunk_size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF mark a size that streaming writers never filled in.
                if chunk_size not in (0, 0xFFFFFFFF) and handle.tell() + chunk_size > size:
                    raise AudioError(
                        f"{path}: truncated: the header promises {chunk_size} bytes of samples, "
                        f"the file holds {size - handle.tell()}"
                    )
                return
            handle.seek(chunk_size + (chunk_size & 1), 1)


def _open(path: Path) -> sf.SoundFile:
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        # libsndfile's own reason ("Format not recognised", "file is malformed") says which it is.
        raise AudioError(f"{path}: cannot open as audio, not an audio file or a damaged header ({exc})") from None
    try:
        _check_rate(path, handle.samplerate)
    except AudioError:
        handle.close()
        raise
    return handle


def _decode_error(path: Path, exc: Exception) -> AudioError:
    return AudioError(f"{path}: cannot decode audio, the file is truncated or corrupt ({exc})")


def audio_info(path: str | os.PathLike, verify: bool = True) -> tuple[int, int, float]:
    """Return ``(sample_rate, frames, duration_seconds)`` from the header, without decoding the whole file.

    A WAV whose data chunk is cut off is always reported (that needs the header only). ``verify`` also
    checks that the last 0.1 s decode (a cut-off FLAC or Ogg fails to seek there or reads short).
    Corpus importers call this for every file, so a truncated file is a logged skip at import rather than
    an error that stops training later. NaN samples and damage in the middle of a compressed file still
    need a full decode to be found (load_audio reports them, naming the file).
    """
    path = Path(path)
    _check_path(path)
    _check_wav_complete(path)  # first (and cheap: the header alone): a cut-off WAV otherwise looks empty
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{path}: cannot read audio header ({exc})") from None
    if info.frames <= 0:
        raise AudioError(f"{path}: holds no samples")
    _check_rate(path, info.samplerate)
    if verify:
        with _open(path) as handle:
            tail = min(handle.frames, max(1, handle.samplerate // 10))
            try:
                handle.seek(handle.frames - tail)
                got = handle.read(tail, dtype="float32", always_2d=True).shape[0]
            except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
                raise _decode_error(path, exc) from None
            # MP3 headers only estimate the length (VBR without a Xing frame): a short read there is no proof.
            if got < tail and handle.format != "MP3":
                raise AudioError(f"{path}: truncated: the header promises {handle.frames} samples, "
                                 f"the last {tail - got} of them are missing or unreadable")
    return info.samplerate, info.frames, info.frames / info.samplerate


def read_audio(path: str | os.PathLike, offset: float = 0.0, duration: float | None = None) -> tuple[np.ndarray, int]:
    """Decode a file (or a segment of it) to a mono float32 array at the file's own rate."""
    path = Path(path)
    _check_path(path)
    _check_wav_complete(path)
    with _open(path) as handle:
        rate = handle.samplerate
        try:
            start = int(round(offset * rate))
            if start:
                handle.seek(start)
            frames = -1 if duration is None else int(round(duration * rate))
            data = handle.read(frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise _decode_error(path, exc) from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: holds no samples" + (f" at offset {offset}s" if offset else ""))
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    _check_samples(path, mono)
    return np.ascontiguousarray(mono), rate


def _reduced_ratio(orig: int, new: int) -> tuple[int, int]:
    # torchaudio builds a filter bank per (orig, new) pair: the reduced ratio keeps it as small as possible.
    g = math.gcd(orig, new)
    return orig // g, new // g


_LOWPASS_WIDTH = 6  # zero crossings of the sinc on each side (torchaudio's default)
_ROLLOFF = 0.99


class _PolyphaseResampler:
    """torchaudio's ``sinc_interp_hann`` resampling, with the filter computed per output block.

    torchaudio builds a filter bank of ``new x (orig + 2 width)`` floats for the reduced ratio: for rates
    that share no factor with the target (44,101 Hz to 16 kHz: 16,000 x 44,101) that is gigabytes. This
    computes the same taps for a block of outputs at a time, so memory stays bounded by the block, and
    the output matches torchaudio's to float rounding.
    """

    def __init__(self, orig: int, new: int, block: int = 16384):
        self.orig, self.new, self.block = orig, new, block
        self.base = min(orig, new) * _ROLLOFF
        self.width = math.ceil(_LOWPASS_WIDTH * orig / self.base)  # input samples each side, as torchaudio

    def __call__(self, samples: torch.Tensor) -> torch.Tensor:
        x = samples.detach().to(torch.float64).reshape(-1)
        length = x.numel()
        total = math.ceil(self.new * length / self.orig)
        padded = torch.nn.functional.pad(x, (self.width + 1, self.width + 1))
        taps = torch.arange(-self.width, self.width + 2, dtype=torch.int64)
        out = torch.empty(total, dtype=torch.float64)
        for start in range(0, total, self.block):
            j = torch.arange(start, min(total, start + self.block), dtype=torch.int64)
            first = (j * self.orig) // self.new  # the input sample at or before output j
            i = first[:, None] + taps[None, :]  # (outputs, taps) input indices
            # t = (i / orig - j / new) * base, from exact integers: no drift over hours of audio
            t = (i * self.new - j[:, None] * self.orig).to(torch.float64) * (self.base / (self.orig * self.new))
            t = t.clamp_(-_LOWPASS_WIDTH, _LOWPASS_WIDTH)
            window = torch.cos(t * (math.pi / _LOWPASS_WIDTH / 2)) ** 2
            t = t * math.pi
            sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, 1.0, t))
            weights = sinc * window * (self.base / self.orig)
            out[start : start + j.numel()] = (padded[i + self.width + 1] * weights).sum(dim=1)
        return out.to(samples.dtype)


def _resampler(orig: int, new: int):
    """A callable resampling reduced-ratio ``orig`` to ``new`` samples, with a ``width`` in input samples."""
    width = math.ceil(_LOWPASS_WIDTH * orig / (min(orig, new) * _ROLLOFF))
    if new * (orig + 2 * width) <= MAX_RESAMPLE_KERNEL:
        return AT.Resample(orig, new)
    return _PolyphaseResampler(orig, new)


def resample(samples: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    if orig_rate == new_rate:
        return samples
    orig, new = _reduced_ratio(orig_rate, new_rate)
    resampler = _resampler(orig, new)
    if isinstance(resampler, _PolyphaseResampler):
        return resampler(samples)
    return AF.resample(samples, orig, new)


def change_speed(samples: torch.Tensor, sample_rate: int, factor: float) -> torch.Tensor:
    """Play ``samples`` ``factor`` times faster, tempo and pitch together (sox ``speed``, Kaldi's speed perturbation).

    The signal is read as if sampled at ``factor * sample_rate`` and resampled to ``sample_rate``: 1.1 gives
    a signal 1/1.1 as long, one tenth higher; 0.9 a longer, lower one.
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    if factor == 1.0:
        return samples
    # Rounded to 10 Hz: a small reduced ratio keeps the resampling filter bank small (0.9 at 16 kHz: 9/10).
    source_rate = int(round(sample_rate * factor / 10)) * 10
    return resample(samples, source_rate, sample_rate)


def load_audio(
    path: str | os.PathLike, sample_rate: int, offset: float = 0.0, duration: float | None = None
) -> torch.Tensor:
    """Load ``path`` as a 1-D float32 tensor at ``sample_rate`` Hz, mixed to mono."""
    samples, rate = read_audio(path, offset=offset, duration=duration)
    return resample(torch.from_numpy(samples), rate, sample_rate)


def _mono_block(handle: sf.SoundFile, frames: int, path: Path) -> np.ndarray:
    try:
        data = handle.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise _decode_error(path, exc) from None
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    _check_samples(path, mono)
    return np.ascontiguousarray(mono)


def stream_audio(path: str | os.PathLike, sample_rate: int, chunk_seconds: float = 30.0) -> Iterator[torch.Tensor]:
    """Yield ``path`` as consecutive mono float32 blocks at ``sample_rate`` Hz, about ``chunk_seconds`` each.

    Memory stays flat whatever the file's length. Joined, the blocks equal :func:`load_audio`'s output
    (to float rounding): each block is resampled with enough of its neighbours around it to cover the
    resampling filter, and starts on a sample where input and output grids meet, so no seams appear.
    """
    path = Path(path)
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
    _check_path(path)
    _check_wav_complete(path)
    with _open(path) as handle:
        rate = handle.samplerate
        orig, new = _reduced_ratio(rate, sample_rate)
        resampler = _resampler(orig, new) if orig != new else None
        # Blocks and context are whole multiples of `orig` input samples (= `new` output samples): a block
        # boundary is then a point of both grids, and output sample j sees the same inputs as in one pass.
        step = orig if resampler is not None else 1
        context = step * math.ceil(resampler.width / step) if resampler is not None else 0
        # A block at least as long as the context, so the next block alone supplies the right-hand context.
        block = max(1, round(chunk_seconds * rate / step), context // step) * step

        left = np.zeros(0, dtype=np.float32)
        current = _mono_block(handle, block, path)
        if current.size == 0:
            raise AudioError(f"{path}: holds no samples")
        while current.size:
            following = _mono_block(handle, block, path)
            if resampler is None:
                yield torch.from_numpy(current)
            else:
                segment = torch.from_numpy(np.concatenate([left, current, following[:context]]))
                with torch.no_grad():
                    out = resampler(segment)
                start = left.size // orig * new
                # Inner blocks map exactly; the last one rounds up, as resampling the whole signal does.
                count = math.ceil(current.size * new / orig) if following.size == 0 else current.size // orig * new
                yield out[start : start + count].clone()
                left = np.concatenate([left, current])[-context:] if context else left
            current = following
