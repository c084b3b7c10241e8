"""The Python API for inference: ``Transcriber(model_path).transcribe([...paths])``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from asr.audio import audio_info, load_audio, stream_audio
from asr.checkpoint import AsrBundle, load_bundle
from asr.decode import DecoderConfig, Hypothesis, Word, build_decoder
from asr.errors import ConfigError
from asr.features import LogMel
from asr.vad import VadConfig, speech_segments

SEGMENTERS = ("quiet", "vad")


class Transcriber:
    """Loads a model file once; transcribes files or precomputed features in duration-bounded batches."""

    def __init__(
        self,
        model: str | os.PathLike | AsrBundle,
        decoder: DecoderConfig | None = None,
        max_batch_seconds: float = 120.0,
        decoder_overrides: dict | None = None,
        long_audio_seconds: float = 60.0,
        segment_seconds: float = 30.0,
        segmenter: str = "vad",
        vad: VadConfig | None = None,
    ):
        """``decoder`` replaces the model's stored decoder settings; ``decoder_overrides`` changes some of them.

        ``segmenter`` cuts recordings longer than ``long_audio_seconds``: ``vad`` into the speech regions
        Silero VAD finds (``vad`` settings; at most ``segment_seconds`` each), so silence and noise between
        them are not decoded at all; ``quiet`` into segments of ``segment_seconds`` ending at the quietest
        point near each boundary, every sample decoded. ``vad`` had the lower WER on long recordings made of
        yesno and FSDD utterances with silence and noise between them (README, "Long recordings").
        """
        if segmenter not in SEGMENTERS:
            raise ConfigError(f"segmenter must be one of {', '.join(SEGMENTERS)}, got {segmenter!r}")
        self.bundle = model if isinstance(model, AsrBundle) else load_bundle(model)
        self.bundle.model.eval()
        self.logmel = LogMel(self.bundle.features).eval()
        self.decoder_config = dataclasses.replace(decoder or self.bundle.decoder, **(decoder_overrides or {}))
        self.decoder = build_decoder(self.decoder_config, self.bundle.tokenizer, self.bundle.normalizer)
        self.max_batch_frames = int(max_batch_seconds * self.bundle.features.frame_rate)
        # Files longer than this are read as a stream and cut into segments at quiet points, so memory
        # stays flat however long the recording is.
        self.long_audio_seconds = long_audio_seconds
        self.segment_seconds = segment_seconds
        self.segmenter = segmenter
        self.vad = vad or VadConfig()

    @property
    def sample_rate(self) -> int:
        return self.bundle.features.sample_rate

    def features(self, path: str | os.PathLike) -> torch.Tensor:
        with torch.no_grad():
            return self.logmel(load_audio(path, self.sample_rate))

    @torch.no_grad()
    def emissions(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """CTC log-probs (frames', vocab) per utterance, computed in batches of similar length."""
        order = sorted(range(len(feats)), key=lambda i: feats[i].shape[0])
        out: list[torch.Tensor | None] = [None] * len(feats)
        start = 0
        while start < len(order):
            end = start + 1
            # Sorted ascending, so the last item sets the padded size of the batch.
            while end < len(order) and feats[order[end]].shape[0] * (end - start + 1) <= self.max_batch_frames:
                end += 1
            idx = order[start:end]
            lengths = torch.tensor([feats[i].shape[0] for i in idx])
            batch = torch.zeros(len(idx), int(lengths.max()), feats[idx[0]].shape[1])
            for row, i in enumerate(idx):
                batch[row, : feats[i].shape[0]] = feats[i]
            log_probs, out_lengths = self.bundle.model(batch, lengths)
            for row, i in enumerate(idx):
                out[i] = log_probs[row, : int(out_lengths[row])].clone()
            start = end
        return out  # type: ignore[return-value]

    def transcribe_features(self, feats: Sequence[torch.Tensor]) -> list[Hypothesis]:
        shift = self.bundle.frame_shift
        return [self.decoder.decode(e, shift) for e in self.emissions(feats)]

    def transcribe(self, paths: Sequence[str | os.PathLike]) -> list[Hypothesis]:
        results: list[Hypothesis | None] = [None] * len(paths)
        short = []
        for i, path in enumerate(paths):
            if audio_info(path)[2] > self.long_audio_seconds:
                results[i] = self.transcribe_long(path)
            else:
                short.append(i)
        for i, hyp in zip(short, self.transcribe_features([self.features(Path(paths[i])) for i in short])):
            results[i] = hyp
        return results  # type: ignore[return-value]

    def transcribe_long(self, path: str | os.PathLike) -> Hypothesis:
        """Decode a recording of any length segment by segment; word times are relative to the file's start."""
        if self.segmenter == "vad":
            return self._transcribe_regions(path, speech_segments(path, self.segment_seconds, self.vad))
        rate = self.sample_rate
        segment = int(self.segment_seconds * rate)
        words: list[Word] = []
        buffer = torch.zeros(0)
        offset = 0  # samples of the file before `buffer`
        for block in stream_audio(path, rate, chunk_seconds=min(10.0, self.segment_seconds)):
            buffer = torch.cat([buffer, block])
            while buffer.numel() >= segment:
                cut = quiet_cut(buffer, segment, rate)
                words.extend(self._decode_segment(buffer[:cut], offset / rate))
                buffer, offset = buffer[cut:], offset + cut
        if buffer.numel():
            words.extend(self._decode_segment(buffer, offset / rate))
        return Hypothesis(text=" ".join(w.word for w in words), words=words)

    def _transcribe_regions(self, path: str | os.PathLike, regions: Sequence[tuple[float, float]]) -> Hypothesis:
        """Decode only the ``(start, end)`` regions (seconds, in order) of a file read as a stream."""
        rate = self.sample_rate
        bounds = [(int(round(a * rate)), int(round(b * rate))) for a, b in regions]
        words: list[Word] = []
        buffer = torch.zeros(0)
        offset = 0  # samples of the file before `buffer`
        k = 0
        for block in stream_audio(path, rate, chunk_seconds=min(10.0, self.segment_seconds)):
            if k == len(bounds):
                break
            buffer = torch.cat([buffer, block])
            while k < len(bounds) and bounds[k][1] <= offset + buffer.numel():
                start, end = bounds[k]
                words.extend(self._decode_segment(buffer[start - offset : end - offset], start / rate))
                k += 1
            # Keep only what the next region needs.
            keep_from = min(bounds[k][0], offset + buffer.numel()) if k < len(bounds) else offset + buffer.numel()
            buffer, offset = buffer[keep_from - offset :], keep_from
        for start, end in bounds[k:]:  # regions reaching the end of the stream (rounding)
            segment = buffer[max(0, start - offset) : end - offset]
            if segment.numel():
                words.extend(self._decode_segment(segment, max(start, offset) / rate))
        return Hypothesis(text=" ".join(w.word for w in words), words=words)

    def _decode_segment(self, samples: torch.Tensor, start: float) -> list[Word]:
        with torch.no_grad():
            (hyp,) = self.transcribe_features([self.logmel(samples)])
        return [Word(w.word, round(w.start + start, 3), round(w.end + start, 3), w.confidence) for w in hyp.words]


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
