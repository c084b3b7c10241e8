"""What the Transcriber decodes: each input (a file, or samples in memory) as segments with their start times.

A short input is one segment. A long one is cut either at the speech regions Silero VAD finds
(:func:`region_segments`), or into pieces of at most ``segment_seconds`` ending at the quietest point near
each boundary (:func:`quiet_segments`). Both read blocks of samples as they come, so a file streamed from
disk is never held whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from asr.errors import AudioError
from asr.limits import MAX_ABS_SAMPLE, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

Segment = tuple[torch.Tensor, float]  # (samples at the model's rate, start in seconds within the input)


def quiet_cut(samples: torch.Tensor, segment: int, rate: int, search_seconds: float = 5.0) -> int:
    """Where to end a segment of at most ``segment`` samples: the quietest 20 ms in its last seconds.

    Cutting in a pause keeps words whole; a bidirectional model cannot carry its state across the cut.
    """
    frame = max(1, rate // 50)
    low = max(frame, segment - int(search_seconds * rate))
    window = samples[low:segment]
    usable = (window.numel() // frame) * frame
    if usable == 0:
        return segment
    energy = window[:usable].reshape(-1, frame).pow(2).mean(dim=1)
    return low + int(energy.argmin()) * frame + frame // 2


def quiet_segments(blocks: Iterable[torch.Tensor], rate: int, segment_seconds: float) -> Iterator[Segment]:
    """Every sample, in segments of at most ``segment_seconds`` cut at quiet points."""
    segment = int(segment_seconds * rate)
    buffer = torch.zeros(0)
    offset = 0  # samples before `buffer`
    for block in blocks:
        buffer = torch.cat([buffer, block])
        while buffer.numel() >= segment:
            cut = quiet_cut(buffer, segment, rate)
            yield buffer[:cut], offset / rate
            buffer, offset = buffer[cut:], offset + cut
    if buffer.numel():
        yield buffer, offset / rate


def region_segments(blocks: Iterable[torch.Tensor], rate: int,
                    regions: Sequence[tuple[float, float]]) -> Iterator[Segment]:
    """Only the ``(start, end)`` regions (seconds, in order) of the samples; the rest is never held for long."""
    bounds = [(int(round(a * rate)), int(round(b * rate))) for a, b in regions]
    buffer = torch.zeros(0)
    offset = 0  # samples before `buffer`
    k = 0
    for block in blocks:
        if k == len(bounds):
            break
        buffer = torch.cat([buffer, block])
        while k < len(bounds) and bounds[k][1] <= offset + buffer.numel():
            start, end = bounds[k]
            yield buffer[start - offset : end - offset], start / rate
            k += 1
        # Keep only what the next region needs.
        keep_from = min(bounds[k][0], offset + buffer.numel()) if k < len(bounds) else offset + buffer.numel()
        buffer, offset = buffer[keep_from - offset :], keep_from
    for start, end in bounds[k:]:  # regions reaching the end of the stream (rounding)
        segment = buffer[max(0, start - offset) : end - offset]
        if segment.numel():
            yield segment, max(start, offset) / rate


def blocks_of(samples: torch.Tensor, rate: int, seconds: float = 10.0) -> Iterator[torch.Tensor]:
    """Samples in memory as the blocks a stream would give."""
    step = max(1, int(seconds * rate))
    for start in range(0, samples.numel(), step):
        yield samples[start : start + step]


def samples_from_array(array, sample_rate: int | None, name: str) -> tuple[torch.Tensor, int]:
    """A 1-D float tensor and its rate from a numpy array or tensor given to the Transcriber; AudioError naming
    ``name`` for what cannot be audio (no rate, more than one dimension, no samples, NaN, absurd values)."""
    if sample_rate is None:
        raise AudioError(f"{name}: samples given without a sample rate (sample_rate=...)")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or not (
            MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE):
        raise AudioError(f"{name}: sample rate must be an integer from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, "
                         f"got {sample_rate!r}")
    tensor = array if isinstance(array, torch.Tensor) else torch.from_numpy(np.asarray(array))
    if tensor.ndim != 1:
        raise AudioError(f"{name}: expected one channel of samples (a 1-D array), got shape {tuple(tensor.shape)}; "
                         "mix the channels first (x.mean(axis=...))")
    if tensor.numel() == 0:
        raise AudioError(f"{name}: holds no samples")
    if not (tensor.is_floating_point() or tensor.dtype in (torch.int16, torch.int32)):
        raise AudioError(f"{name}: samples must be float (or int16/int32 PCM), got {tensor.dtype}")
    if tensor.dtype == torch.int16:
        tensor = tensor.float() / 32768.0
    elif tensor.dtype == torch.int32:
        tensor = tensor.double() / 2147483648.0
    tensor = tensor.detach().cpu().float()
    if not torch.isfinite(tensor).all():
        raise AudioError(f"{name}: samples include NaN or infinite values")
    if tensor.abs().max() > MAX_ABS_SAMPLE:
        raise AudioError(f"{name}: samples reach {float(tensor.abs().max()):.3g}; float audio lies in [-1, 1]")
    return tensor.contiguous(), int(sample_rate)
