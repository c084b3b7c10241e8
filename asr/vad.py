"""Speech detection with Silero VAD (the ``silero-vad`` wheel carries its model: nothing is downloaded).

:func:`speech_segments` streams a file once at 16 kHz, scores each 32 ms window with the VAD model and
returns the speech regions in seconds, none longer than ``max_seconds``. Memory holds the block being read
and one probability per window (225 k floats, 0.9 MB, for 2 hours).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from asr.audio import stream_audio
from asr.errors import ConfigError

VAD_RATE = 16000
WINDOW = 512  # samples per VAD decision at 16 kHz (32 ms)


@dataclass(frozen=True)
class VadConfig:
    """Silero's own defaults. Wider padding (0.1-0.4 s) or longer pauses (0.3-1 s) made no difference on the
    yesno recording and were worse on the FSDD one (see README, "Long recordings")."""

    threshold: float = 0.5  # speech probability that starts a region (it ends below threshold - 0.15)
    min_speech: float = 0.25  # seconds: shorter regions are dropped
    min_silence: float = 0.1  # seconds of non-speech that end a region
    pad: float = 0.03  # seconds added on both sides of a region (less where two regions are closer)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_MODEL = None


def _silero():
    """The silero_vad module; importing it sets torch's thread count to 1 for the whole process, undone here."""
    threads = torch.get_num_threads()
    try:
        import silero_vad
    except ImportError:
        raise ConfigError("--segmenter vad needs the silero-vad package: pip install silero-vad") from None
    finally:
        torch.set_num_threads(threads)
    return silero_vad


def load_vad_model():
    """The Silero VAD model bundled with the silero-vad package (loaded once per process)."""
    global _MODEL
    if _MODEL is None:
        silero_vad = _silero()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            _MODEL = silero_vad.load_silero_vad()
    return _MODEL


def speech_probabilities(path: str | os.PathLike) -> tuple[array, int]:
    """One speech probability per 32 ms window of ``path``, and the file's length in samples at 16 kHz."""
    return probabilities_of_blocks(stream_audio(path, VAD_RATE, chunk_seconds=10.0))


def probabilities_of_blocks(blocks: Iterable[torch.Tensor]) -> tuple[array, int]:
    """Speech probabilities of consecutive blocks of 16 kHz samples (a stream, or samples in memory)."""
    model = load_vad_model()
    model.reset_states()
    probs = array("f")  # 4 bytes a window: 0.9 MB for 2 hours
    carry = torch.zeros(0)
    total = 0
    # The model is a small recurrent net called once per window: one thread is several times faster than
    # two here (thread start-up dominates), and leaves the other core to whatever else runs.
    with _threads(1), torch.no_grad():
        for block in blocks:
            total += block.numel()
            carry = torch.cat([carry, block])
            usable = carry.numel() // WINDOW * WINDOW
            for start in range(0, usable, WINDOW):
                probs.append(float(model(carry[start : start + WINDOW], VAD_RATE)))
            carry = carry[usable:]
        if carry.numel():
            probs.append(float(model(torch.nn.functional.pad(carry, (0, WINDOW - carry.numel())), VAD_RATE)))
    return probs, total


def regions_from_probabilities(probs: Sequence[float], total: int, max_seconds: float,
                               config: VadConfig | None = None) -> list[tuple[float, float]]:
    """Speech regions ``(start, end)`` in seconds from window probabilities (Silero's own hysteresis rules)."""
    config = config or VadConfig()
    regions = _silero().get_speech_timestamps_from_probs(
        probs, sampling_rate=VAD_RATE, threshold=config.threshold,
        min_speech_duration_ms=int(config.min_speech * 1000), max_speech_duration_s=max_seconds,
        min_silence_duration_ms=int(config.min_silence * 1000), speech_pad_ms=int(config.pad * 1000),
        audio_length_samples=total,
    )
    return [(r["start"] / VAD_RATE, r["end"] / VAD_RATE) for r in regions]


def speech_segments(path: str | os.PathLike, max_seconds: float = 30.0,
                    config: VadConfig | None = None) -> list[tuple[float, float]]:
    """The speech regions of ``path`` in seconds, in order, non-overlapping, each at most ``max_seconds``."""
    probs, total = speech_probabilities(path)
    return regions_from_probabilities(probs, total, max_seconds, config)


def speech_segments_of_samples(samples: torch.Tensor, max_seconds: float = 30.0,
                               config: VadConfig | None = None) -> list[tuple[float, float]]:
    """:func:`speech_segments` of 16 kHz samples held in memory."""
    blocks = (samples[i : i + 10 * VAD_RATE] for i in range(0, samples.numel(), 10 * VAD_RATE))
    probs, total = probabilities_of_blocks(blocks)
    return regions_from_probabilities(probs, total, max_seconds, config)
