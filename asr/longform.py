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
from asr.features import SpeakerMeans, speaker_keys
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


def _groups(utts: Sequence[Utterance], indices: list[int]) -> list[list[int]]:
    """``indices`` in runs of about GROUP_SECONDS of audio, featurised together."""
    groups: list[list[int]] = [[]]
    seconds = 0.0
    for i in indices:
        if seconds >= GROUP_SECONDS:
            groups.append([])
            seconds = 0.0
        groups[-1].append(i)
        seconds += utts[i].duration
    return [g for g in groups if g]


def manifest_emissions(transcriber, utts: Sequence[Utterance]) -> list[torch.Tensor]:
    """Emissions of every utterance, in manifest order, holding at most a group of features at a time.

    A model normalised per speaker (``model.cmvn: speaker``) takes each speaker's mean over the manifest's
    short utterances (the manifest's ``speaker`` field; an utterance without one is its own speaker), in a first
    pass over the features; a long recording's segments are each their own speaker, as in ``asr transcribe``.
    """
    out: list[torch.Tensor | None] = [None] * len(utts)
    short = []
    for i, utt in enumerate(utts):
        if is_long(utt, transcriber.long_audio_seconds):
            out[i] = long_emissions(transcriber, utt.audio)
        else:
            short.append(i)
    groups = _groups(utts, short)
    config = transcriber.bundle.features
    means, held = None, {}
    if transcriber.bundle.model.config.cmvn == "speaker":
        means, keys = SpeakerMeans(), speaker_keys([u.speaker for u in utts])
        for group in groups:
            feats = extract_features([utts[i] for i in group], config)
            for i, f in zip(group, feats):
                means.add(keys[i], f)
            if len(groups) == 1:  # the common case: one group, featurised once
                held = dict(zip(group, feats))
    for group in groups:
        feats = [held[i] for i in group] if held else extract_features([utts[i] for i in group], config)
        offsets = None if means is None else [means.mean(keys[i]) for i in group]
        for i, emission in zip(group, transcriber.emissions(feats, offsets)):
            out[i] = emission
    return out  # type: ignore[return-value]
