"""The Python API for inference: ``Transcriber(model_path).transcribe([...paths])``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from asr.audio import load_audio
from asr.checkpoint import AsrBundle, load_bundle
from asr.decode import DecoderConfig, Hypothesis, build_decoder
from asr.features import LogMel


class Transcriber:
    """Loads a model file once; transcribes files or precomputed features in duration-bounded batches."""

    def __init__(
        self,
        model: str | os.PathLike | AsrBundle,
        decoder: DecoderConfig | None = None,
        max_batch_seconds: float = 120.0,
        decoder_overrides: dict | None = None,
    ):
        """``decoder`` replaces the model's stored decoder settings; ``decoder_overrides`` changes some of them."""
        self.bundle = model if isinstance(model, AsrBundle) else load_bundle(model)
        self.bundle.model.eval()
        self.logmel = LogMel(self.bundle.features).eval()
        self.decoder_config = dataclasses.replace(decoder or self.bundle.decoder, **(decoder_overrides or {}))
        self.decoder = build_decoder(self.decoder_config, self.bundle.tokenizer, self.bundle.normalizer)
        self.max_batch_frames = int(max_batch_seconds * self.bundle.features.frame_rate)

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
        return self.transcribe_features([self.features(Path(p)) for p in paths])
