"""Greedy CTC decoding: best token per frame, merge repeats, drop blanks; words carry times and confidences."""

from __future__ import annotations

import numpy as np
import torch

from asr.decode import Hypothesis, Word


def collapse(best, blank: int) -> list[tuple[int, int]]:
    """Frame-wise best ids (a sequence or a 1-d array) -> [(token, first frame)] with repeats merged and blanks
    removed. In numpy: a Python loop over frames cost more than the network on short files."""
    best = np.asarray(best)
    starts = best != blank
    starts[1:] &= best[1:] != best[:-1]
    frames = np.flatnonzero(starts)
    return list(zip(best[frames].tolist(), frames.tolist()))


def words_from_tokens(
    tokens: list[tuple[int, int]], log_probs: torch.Tensor, tokenizer, frame_shift: float
) -> list[Word]:
    """[(token, frame)] -> words with start/end seconds and a confidence.

    A character's confidence is the posterior of its token at the frame where it was emitted; a word's
    confidence is its least certain character: one doubtful letter makes a doubtful word.
    """
    if not tokens:
        return []
    # Every token's posterior in one numpy indexing call: per-token tensor indexing cost more than the search,
    # and torch's advanced indexing costs several times numpy's on utterance-sized arrays.
    ids, frames = zip(*tokens)
    posteriors = np.exp(log_probs.detach().float().cpu().numpy()[frames, ids]).tolist()
    sep = tokenizer.word_sep_id
    words: list[Word] = []
    start = 0
    for end in [i for i, tok in enumerate(ids) if tok == sep] + [len(ids)]:
        if end > start:
            words.append(Word(tokenizer.decode(ids[start:end]), round(frames[start] * frame_shift, 3),
                              round((frames[end - 1] + 1) * frame_shift, 3), round(min(posteriors[start:end]), 4)))
        start = end + 1
    return words


class GreedyDecoder:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def decode(self, log_probs: torch.Tensor, frame_shift: float) -> Hypothesis:
        """``log_probs``: (frames, vocab) for one utterance; ``frame_shift``: seconds per output frame."""
        tokens = collapse(log_probs.detach().float().cpu().numpy().argmax(axis=-1), self.tokenizer.blank_id)
        words = words_from_tokens(tokens, log_probs, self.tokenizer, frame_shift)
        units = self.tokenizer.unit_string(t for t, _ in tokens)
        return Hypothesis(text=" ".join(w.word for w in words), words=words, units=units)

    def decode_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor, frame_shift: float) -> list[Hypothesis]:
        return [self.decode(log_probs[i, : int(lengths[i])], frame_shift) for i in range(log_probs.shape[0])]
