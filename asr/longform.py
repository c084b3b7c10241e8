"""Emissions of a whole manifest in bounded memory, for scoring (``asr test``, ``asr lm tune``).

Short utterances are featurised a group at a time (never the whole manifest's features at once); a
recording longer than the transcriber's ``long_audio_seconds`` is streamed (:func:`asr.audio.stream_audio`)
and run through the model in segments cut at quiet points, as ``asr transcribe`` does, so only its
emissions (the model's outputs, about 12 KB per second of audio at 30 units) are ever held whole, never its
samples or features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from asr.audio import audio_info, stream_audio
from asr.data.dataset import extract_features
from asr.data.manifest import Utterance
from asr.segments import quiet_segments

GROUP_SECONDS = 600.0  # audio featurised at once for short utterances


def is_long(utt: Utterance, long_seconds: float) -> bool:
    """Whole recordings (no offset) longer than ``long_seconds``, by their header, not the manifest's claim."""
    return not utt.offset and audio_info(utt.audio, verify=False)[2] > long_seconds


def long_emissions(transcriber, path: str) -> torch.Tensor:
    """CTC log-probs of a recording of any length, segment by segment, concatenated in time."""
    rate = transcriber.sample_rate
    blocks = stream_audio(path, rate, chunk_seconds=min(10.0, transcriber.segment_seconds))
    parts: list[torch.Tensor] = []
    with torch.no_grad():
        for samples, _ in quiet_segments(blocks, rate, transcriber.segment_seconds):
            parts.extend(transcriber.emissions([transcriber.logmel(samples)]))
    return torch.cat(parts)


def manifest_emissions(transcriber, utts: Sequence[Utterance]) -> list[torch.Tensor]:
    """Emissions of every utterance, in manifest order, holding at most a group of features at a time."""
    out: list[torch.Tensor | None] = [None] * len(utts)
    group: list[int] = []
    seconds = 0.0

    def flush() -> None:
        feats = extract_features([utts[i] for i in group], transcriber.bundle.features)
        for i, emission in zip(group, transcriber.emissions(feats)):
            out[i] = emission
        group.clear()

    for i, utt in enumerate(utts):
        if is_long(utt, transcriber.long_audio_seconds):
            out[i] = long_emissions(transcriber, utt.audio)
            continue
        group.append(i)
        seconds += utt.duration
        if seconds >= GROUP_SECONDS:
            flush()
            seconds = 0.0
    if group:
        flush()
    return out  # type: ignore[return-value]
