"""Decoder types: the words and hypotheses decoders return, their settings, and the Decoder protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch


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
    score: float = 0.0
    nbest: list[tuple[str, float]] = field(default_factory=list)  # (text, score), best first, beam only
    units: str = ""  # the output units of the best path (phones of a phone model), for PER


@dataclass
class DecoderConfig:
    """Decoder settings; stored with a model so ``transcribe`` uses them by default."""

    kind: str = "greedy"  # greedy | beam
    beam_size: int = 50
    # Tokens considered per frame (best acoustic scores first); 0 = all. 8 made lexicon-free LM decoding 3x
    # faster than 0 on the demo dev set at the same WER: every candidate costs a Python LM call.
    beam_size_token: int = 8
    beam_threshold: float = 25.0
    # The compiled search (every beam search of a character model): tokens whose
    # log-probability in a frame is below this are not tried (the frame's best always is), as pyctcdecode's
    # token_min_logp; an utterance left without a hypothesis is searched again without it. -5 cost no WER and
    # halved the search time on speechocean762 (tools/bench/results/decode_*.md); -1000 = off.
    token_min_logp: float = -5.0
    # Before the beam search, every run of frames whose blank probability exceeds this keeps only its first
    # frame (1 = off). Such frames cannot start a surviving hypothesis, and one kept blank still separates
    # repeated letters; CTC output is mostly such runs, so the search sees fewer frames
    # (tools/bench/results/decode_*.md). flashlight's searches only (phone lexicons, no extension built): the
    # compiled search was faster on every frame than with the pre-pass.
    blank_skip: float = 0.999
    lm: str = ""  # word n-gram LM in ARPA format; "" = none
    # "" = lexicon-free (phone models: the model's training words, plus the LM's words when there is an LM);
    # a lexicon or word-list file; "lm" = the LM's vocabulary; "model" = the model's training words (phone models)
    lexicon: str = ""
    lm_weight: float = 0.5
    word_score: float = 0.0
    sil_score: float = 0.0
    unk_score: float = float("-inf")  # lexicon decoding: score of words outside the lexicon
    # Lexicon-free decoding with an LM: a word outside the LM's (and hotwords') words costs this once, when
    # its spelling starts no such word or, if it never does ("callin"), when it ends; in final-score (natural
    # log) units; 0 = off. Without it misspellings compete with real words at the LM's <unk> price
    # (tools/bench/results/decode_*.md). -25 beat -10 by 0.2-0.4 points of WER on speechocean762's tuning
    # half (-15 to -40 within 0.2; recipes/speechocean762/RESULTS.md, sixth session); pyctcdecode charges its
    # unk_score_offset, -10 in log10 units, times alpha x ln 10: about -25 at the weights tuned there.
    unk_prefix_score: float = -25.0
    nbest: int = 1
    # "word", "two words", "word:boost", or "@file" naming a file with one such entry per line
    hotwords: list[str] = field(default_factory=list)
    hotword_boost: float = 4.0  # default boost (log10 LM units, scaled by lm_weight like LM scores)


def describe_decoder(config: DecoderConfig) -> str:
    if config.kind != "beam":
        return config.kind
    parts = [f"beam (size {config.beam_size}, threshold {config.beam_threshold})"]
    if config.lm:
        parts.append(f"lm {config.lm} (weight {config.lm_weight}, word score {config.word_score})")
    parts.append(f"lexicon {config.lexicon}" if config.lexicon else
                 "default lexicon (characters: lexicon-free; phones: training words + LM words)")
    if config.hotwords:
        parts.append(f"hotwords {', '.join(config.hotwords)}")
    return ", ".join(parts)


class Decoder(Protocol):
    def decode(self, log_probs: torch.Tensor, frame_shift: float) -> Hypothesis: ...

    def decode_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor, frame_shift: float) -> list[Hypothesis]: ...
