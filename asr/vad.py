"""Speech detection with Silero VAD (the ``silero-vad`` wheel carries its model: nothing is downloaded).

:func:`speech_segments` streams a file once at 16 kHz, scores each 32 ms window with the VAD model and
returns the speech regions in seconds, none longer than ``max_seconds``. Memory holds the block being read
and one probability per window (225 k floats, 0.9 MB, for 2 hours).

Silero's model is meant to be called once per window, carrying a recurrent state and the last 64 samples from
call to call: about 0.2 ms of interpreter and dispatch a call, most of a long file's transcription time
(README, "Long recordings", has the before and after). Only its LSTM cell depends on earlier windows; the STFT and the
convolutional encoder see one window and its 64 samples of context, known in advance. So
:func:`_windows_in_batches` runs the encoder on all the windows of a block at once and the cell's weights as
one LSTM call over them, then the output layer at once: the same probabilities to float rounding (tested
against the per-window call) for several times less CPU. A model without that structure (another
silero-vad release) is called window by window as before.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from asr.audio import stream_audio
from asr.errors import ConfigError

VAD_RATE = 16000
WINDOW = 512  # samples per VAD decision at 16 kHz (32 ms)
CONTEXT = 64  # samples before each window that the 16 kHz model sees with it
_CELL_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # of the model's LSTM cell


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
    score = _windows_in_batches(model) if _batchable(model) else _window_by_window(model)
    probs = array("f")  # 4 bytes a window: 0.9 MB for 2 hours
    carry = torch.zeros(0)
    total = 0
    # A small recurrent net: one thread is several times faster than two here (thread start-up dominates),
    # and leaves the other core to whatever else runs.
    with _threads(1), torch.no_grad():
        for block in blocks:
            total += block.numel()
            carry = torch.cat([carry, block])
            usable = carry.numel() // WINDOW * WINDOW
            if usable:
                probs.extend(score(carry[:usable]).tolist())
            carry = carry[usable:]
        if carry.numel():
            probs.extend(score(torch.nn.functional.pad(carry, (0, WINDOW - carry.numel()))).tolist())
    return probs, total


def _window_by_window(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """Silero's own use: one call per window, the model keeping its state and context."""

    def score(samples: torch.Tensor) -> torch.Tensor:
        return torch.tensor([float(model(window, VAD_RATE)) for window in samples.split(WINDOW)])

    return score


def _batchable(model) -> bool:
    """Whether ``model`` has the 16 kHz structure :func:`_windows_in_batches` relies on (silero-vad 5 and 6)."""
    net = getattr(model, "_model", None)
    rnn = getattr(getattr(net, "decoder", None), "rnn", None)
    return (getattr(net, "context_size_samples", None) == CONTEXT and hasattr(net, "stft") and hasattr(net, "encoder")
            and hasattr(net.decoder, "decoder") and all(hasattr(rnn, name) for name in _CELL_PARAMETERS))


def _windows_in_batches(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """The per-window call's probabilities for a whole block of windows at once (state carried across blocks)."""
    net = model._model
    cell = net.decoder.rnn
    params = [getattr(cell, name) for name in _CELL_PARAMETERS]
    state = (torch.zeros(1, 1, cell.hidden_size), torch.zeros(1, 1, cell.hidden_size))
    context = torch.zeros(CONTEXT)
    steps = torch.arange(CONTEXT + WINDOW).unsqueeze(0)

    def score(samples: torch.Tensor) -> torch.Tensor:
        nonlocal state, context
        audio = torch.cat([context, samples])
        starts = torch.arange(samples.numel() // WINDOW).unsqueeze(1) * WINDOW
        windows = audio[starts + steps]  # (n, 64 + 512): each window after its context
        encoded = net.encoder(net.stft(windows)).squeeze(-1)  # (n, 128)
        # The cell over the n windows in order: one layer, unidirectional, time-major, batch of 1.
        outputs, h, c = torch.lstm(encoded.unsqueeze(1), state, params, True, 1, 0.0, False, False, False)
        state = (h, c)
        context = audio[-CONTEXT:]
        return net.decoder.decoder(outputs.squeeze(1).unsqueeze(-1)).squeeze(1).mean(-1)

    return score


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
