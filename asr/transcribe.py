"""The Python API for inference: ``Transcriber(model_path).transcribe(["a.wav", samples, ...], sample_rate=...)``.

Inputs are audio files (any format and rate :mod:`asr.audio` reads) or samples in memory (1-D numpy arrays
or tensors, with ``sample_rate``, or ``(samples, rate)`` pairs). Each becomes one or more segments
(:mod:`asr.segments`); segments of consecutive inputs are gathered until ``max_batch_seconds`` of audio,
run through the model in padded batches of similar length, and decoded; hypotheses come out in input order.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import torch

from asr.audio import audio_info, load_audio, resample, stream_audio
from asr.checkpoint import AsrBundle, load_bundle
from asr.decode import DecoderConfig, Hypothesis, Word, build_decoder
from asr.errors import AsrError, ConfigError
from asr.features import LogMel
from asr.read_ahead import read_ahead
from asr.segments import Segment, blocks_of, quiet_cut, quiet_segments, region_segments, samples_from_array
from asr.vad import VAD_RATE, VadConfig, speech_segments, speech_segments_of_samples

SEGMENTERS = ("quiet", "vad")
# Files read ahead on reading threads while the model runs: enough to cover a batch's model time on
# speechocean762's Opus files (4 left the readers idle for part of it: 16-17 s against 15.7 s for its 820 dev
# files); memory holds at most this many short files (each at most long_audio_seconds) beyond the batch.
READ_AHEAD_FILES = 32

__all__ = ["SEGMENTERS", "Transcriber", "ensemble_member", "input_name", "quiet_cut"]


def input_name(item, index: int) -> str:
    """How errors name an input: its path, or ``<array N>`` for samples in memory."""
    return str(item) if isinstance(item, (str, os.PathLike)) else f"<array {index}>"


def _is_single(inputs) -> bool:
    if isinstance(inputs, (str, os.PathLike, torch.Tensor)):
        return True
    if isinstance(inputs, np.ndarray):
        return inputs.ndim == 1 or inputs.dtype != object
    return isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[1], (int, np.integer)) \
        and not isinstance(inputs[0], (str, os.PathLike))


class Transcriber:
    """Loads a model file once; transcribes files or samples in memory, several segments per model batch."""

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
        ensemble: Sequence[str | os.PathLike | AsrBundle] = (),
    ):
        """``decoder`` replaces the model's stored decoder settings; ``decoder_overrides`` changes some of them.

        ``max_batch_seconds``: audio gathered (and padded frames per model batch) before the model runs.
        ``segmenter`` cuts inputs longer than ``long_audio_seconds``: ``vad`` into the speech regions
        Silero VAD finds (``vad`` settings; at most ``segment_seconds`` each), so silence and noise between
        them are not decoded at all; ``quiet`` into segments of ``segment_seconds`` ending at the quietest
        point near each boundary, every sample decoded. ``vad`` had the lower WER on long recordings made of
        yesno and FSDD utterances with silence and noise between them (README, "Long recordings").
        ``ensemble``: more model files whose per-frame posteriors are averaged with this one's (same features,
        units and subsampling; the first model's decoder settings decode the average).
        """
        if segmenter not in SEGMENTERS:
            raise ConfigError(f"segmenter must be one of {', '.join(SEGMENTERS)}, got {segmenter!r}")
        self.bundle = model if isinstance(model, AsrBundle) else load_bundle(model)
        self.bundle.model.eval()
        self.ensemble = [ensemble_member(self.bundle, member) for member in ensemble]
        self.logmel = LogMel(self.bundle.features).eval()
        self.decoder_config = dataclasses.replace(decoder or self.bundle.decoder, **(decoder_overrides or {}))
        self.decoder = build_decoder(self.decoder_config, self.bundle.tokenizer, self.bundle.normalizer)
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_frames = int(max_batch_seconds * self.bundle.features.frame_rate)
        # Files longer than this are read as a stream and cut into segments, so memory stays flat however
        # long the recording is.
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
    def emissions(self, feats: Sequence[torch.Tensor], speaker_means: Sequence[torch.Tensor] | None = None
                  ) -> list[torch.Tensor]:
        """CTC log-probs (frames', vocab) per utterance, computed in batches of similar length.

        A model normalised per speaker (``model.cmvn: speaker``) gets each utterance minus its speaker's mean,
        ``speaker_means[i]``; without them each input is its own speaker (a file, or a segment of a long one).
        """
        if self.bundle.model.config.cmvn == "speaker":
            feats = [f - (f.mean(0) if speaker_means is None else speaker_means[i]) for i, f in enumerate(feats)]
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
            if self.ensemble:
                # The mean of the models' probabilities, in the log domain.
                members = [log_probs] + [member.model(batch, lengths)[0] for member in self.ensemble]
                log_probs = torch.logsumexp(torch.stack(members), 0) - math.log(len(members))
            for row, i in enumerate(idx):
                out[i] = log_probs[row, : int(out_lengths[row])].clone()
            start = end
        return out  # type: ignore[return-value]

    def transcribe_features(self, feats: Sequence[torch.Tensor]) -> list[Hypothesis]:
        shift = self.bundle.frame_shift
        return [self.decoder.decode(e, shift) for e in self.emissions(feats)]

    def transcribe(self, inputs, sample_rate: int | None = None) -> list[Hypothesis]:
        """Hypotheses (text, words with start/end times in seconds and confidences, n-best) in input order.

        ``inputs``: a list of paths, 1-D sample arrays/tensors and ``(samples, rate)`` pairs, or one of them
        (still answered with a list of one). ``sample_rate`` is the rate of arrays given without their own.
        """
        return list(self.transcribe_iter([inputs] if _is_single(inputs) else inputs, sample_rate))

    def transcribe_iter(self, inputs: Iterable, sample_rate: int | None = None) -> Iterator[Hypothesis]:
        """Like :meth:`transcribe`, one hypothesis at a time, in input order, as soon as its batch is decoded.

        An input that cannot be read raises :class:`~asr.errors.AsrError` naming it, after the hypotheses
        of the inputs before it have been yielded.
        """
        pending: list[tuple[int, torch.Tensor, float]] = []  # (input, samples, start) not yet decoded
        parts: dict[int, list[tuple[Hypothesis, float]]] = {}
        next_out, seconds, finished = 0, 0.0, -1

        def flush() -> None:
            nonlocal seconds
            with torch.no_grad():  # only here: a no_grad held across the yields would leak into the caller
                hyps = self.transcribe_features([self.logmel(samples) for _, samples, _ in pending])
            for (i, _, start), hyp in zip(pending, hyps):
                parts.setdefault(i, []).append((hyp, start))
            pending.clear()
            seconds = 0.0

        def ready() -> Iterator[Hypothesis]:
            nonlocal next_out
            while next_out <= finished:
                yield _join(parts.pop(next_out, []))
                next_out += 1

        for i, item, read in read_ahead(inputs, self._read_short, torch.get_num_threads(), depth=READ_AHEAD_FILES):
            try:
                for samples, start in self._segments(item, i, sample_rate, read):
                    pending.append((i, samples, start))
                    seconds += samples.numel() / self.sample_rate
                    if seconds >= self.max_batch_seconds:
                        flush()
                        yield from ready()
            except AsrError:
                del pending[next((k for k, p in enumerate(pending) if p[0] == i), len(pending)):]
                flush()
                yield from ready()
                raise
            finished = i
        flush()
        yield from ready()

    def _read_short(self, path: str | os.PathLike) -> torch.Tensor | None:
        """A file's samples at the model's rate, or None for a file long enough to be streamed in segments."""
        # No tail check (verify): load_audio and stream_audio report a cut-off file themselves, and the
        # check would decode each file's end a second time.
        if audio_info(path, verify=False)[2] <= self.long_audio_seconds:
            return load_audio(path, self.sample_rate)
        return None

    def _segments(self, item, index: int, sample_rate: int | None, read: Future | None = None) -> Iterator[Segment]:
        """``read``: :meth:`_read_short` of a path input, already under way on a reading thread."""
        rate = self.sample_rate
        if isinstance(item, (str, os.PathLike)):
            samples = read.result() if read is not None else self._read_short(item)
            if samples is not None:
                yield samples, 0.0
                return
            blocks = stream_audio(item, rate, chunk_seconds=min(10.0, self.segment_seconds))
            regions = speech_segments(item, self.segment_seconds, self.vad) if self.segmenter == "vad" else None
        else:
            array, own_rate = item if isinstance(item, tuple) else (item, sample_rate)
            samples, own_rate = samples_from_array(array, own_rate, input_name(item, index))
            samples = resample(samples, own_rate, rate)
            if samples.numel() <= self.long_audio_seconds * rate:
                yield samples, 0.0
                return
            blocks = blocks_of(samples, rate)
            regions = None
            if self.segmenter == "vad":
                at_16k = resample(samples, rate, VAD_RATE) if rate != VAD_RATE else samples
                regions = speech_segments_of_samples(at_16k, self.segment_seconds, self.vad)
        if regions is None:
            yield from quiet_segments(blocks, rate, self.segment_seconds)
        else:
            yield from region_segments(blocks, rate, regions)

    def transcribe_long(self, path: str | os.PathLike) -> Hypothesis:
        """Decode a recording of any length segment by segment; word times are relative to the file's start."""
        (hyp,) = self.transcribe_iter([path])
        return hyp

    def load_for_plot(self, item, sample_rate: int | None = None, max_seconds: float = 600.0) -> torch.Tensor:
        """The log-mel features the model sees of an input's first ``max_seconds`` (for :mod:`asr.plots`)."""
        rate = self.sample_rate
        if isinstance(item, (str, os.PathLike)):
            samples = load_audio(Path(item), rate, duration=min(max_seconds, audio_info(item)[2]))
        else:
            array, own_rate = item if isinstance(item, tuple) else (item, sample_rate)
            samples, own_rate = samples_from_array(array, own_rate, "<array>")
            samples = resample(samples, own_rate, rate)[: int(max_seconds * rate)]
        with torch.no_grad():
            return self.logmel(samples)


def ensemble_member(first: AsrBundle, member: str | os.PathLike | AsrBundle) -> AsrBundle:
    """``member`` loaded and checked against the first model: its frames must mean the same outputs at the same
    times, so features, units and subsampling must agree (its normaliser and decoder settings are not used)."""
    bundle = member if isinstance(member, AsrBundle) else load_bundle(member)
    name = "ensemble model" if isinstance(member, AsrBundle) else str(member)
    checks = (("features", first.features, bundle.features),
              ("output units", (type(first.tokenizer).__name__, first.tokenizer.symbols),
               (type(bundle.tokenizer).__name__, bundle.tokenizer.symbols)),
              ("subsampling", first.model.config.subsampling, bundle.model.config.subsampling),
              ("normalisation (model.cmvn)", first.model.config.cmvn, bundle.model.config.cmvn))
    for what, ours, theirs in checks:
        if ours != theirs:
            detail = f" ({theirs} against {ours})" if what in ("subsampling", "normalisation (model.cmvn)") else ""
            raise ConfigError(f"{name}: cannot be averaged with the first model: its {what} differ{detail}")
    bundle.model.eval()
    return bundle


def _join(parts: list[tuple[Hypothesis, float]]) -> Hypothesis:
    """One input's hypothesis from its segments' (word times moved by each segment's start)."""
    if len(parts) == 1 and parts[0][1] == 0.0:
        return parts[0][0]  # a short input: the decoder's hypothesis, n-best included
    words = [Word(w.word, round(w.start + start, 3), round(w.end + start, 3), w.confidence)
             for hyp, start in parts for w in hyp.words]
    text = " ".join(hyp.text for hyp, _ in parts if hyp.text)
    score = sum(hyp.score for hyp, _ in parts)
    units = " ".join(hyp.units for hyp, _ in parts if hyp.units)
    return Hypothesis(text=text, words=words, score=score, units=units)
