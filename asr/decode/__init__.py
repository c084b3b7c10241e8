"""CTC decoders. Each turns (frames, vocab) log-probs into a :class:`Hypothesis`.

Greedy decoding lives in ``greedy.py``; a beam search with n-gram LMs plugs in beside it through
``build_decoder`` with ``DecoderConfig.kind = "beam"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from asr.errors import ConfigError
from asr.text import CharTokenizer


@dataclass
class Word:
    word: str
    start: float  # seconds
    end: float
    confidence: float  # in [0, 1]


@dataclass
class Hypothesis:
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class DecoderConfig:
    kind: str = "greedy"


class Decoder(Protocol):
    def decode(self, log_probs: torch.Tensor, frame_shift: float) -> Hypothesis: ...

    def decode_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor, frame_shift: float) -> list[Hypothesis]: ...


def build_decoder(config: DecoderConfig, tokenizer: CharTokenizer) -> Decoder:
    if config.kind == "greedy":
        from asr.decode.greedy import GreedyDecoder

        return GreedyDecoder(tokenizer)
    raise ConfigError(f"decoder kind must be 'greedy' (beam search is not available yet), got {config.kind!r}")
