"""Greedy CTC decoding: best token per frame, merge repeats, drop blanks; words carry times and confidences."""

from __future__ import annotations

import torch

from asr.decode import Hypothesis, Word


def collapse(best: list[int], blank: int) -> list[tuple[int, int]]:
    """Frame-wise best ids -> [(token, first frame)] with repeats merged and blanks removed."""
    out: list[tuple[int, int]] = []
    prev = -1
    for frame, tok in enumerate(best):
        if tok != prev and tok != blank:
            out.append((tok, frame))
        prev = tok
    return out


def words_from_tokens(
    tokens: list[tuple[int, int]], log_probs: torch.Tensor, tokenizer, frame_shift: float
) -> list[Word]:
    """[(token, frame)] -> words with start/end seconds and a confidence.

    A character's confidence is the posterior of its token at the frame where it was emitted; a word's
    confidence is its least certain character: one doubtful letter makes a doubtful word.
    """
    sep = tokenizer.word_sep_id
    words: list[Word] = []
    if not tokens:
        return words
    # Every token's posterior in one indexing call: per-token tensor indexing cost more than the search.
    ids, frames = zip(*tokens)
    posteriors = log_probs[list(frames), list(ids)].exp().tolist()
    current: list[int] = []  # indices into tokens

    def flush() -> None:
        if not current:
            return
        first, last = tokens[current[0]][1], tokens[current[-1]][1]
        conf = min(posteriors[i] for i in current)
        text = tokenizer.decode(ids[i] for i in current)
        words.append(Word(text, round(first * frame_shift, 3), round((last + 1) * frame_shift, 3), round(conf, 4)))
        current.clear()

    for i, tok in enumerate(ids):
        if tok == sep:
            flush()
        else:
            current.append(i)
    flush()
    return words


class GreedyDecoder:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def decode(self, log_probs: torch.Tensor, frame_shift: float) -> Hypothesis:
        """``log_probs``: (frames, vocab) for one utterance; ``frame_shift``: seconds per output frame."""
        tokens = collapse(log_probs.argmax(dim=-1).tolist(), self.tokenizer.blank_id)
        words = words_from_tokens(tokens, log_probs, self.tokenizer, frame_shift)
        units = self.tokenizer.unit_string(t for t, _ in tokens)
        return Hypothesis(text=" ".join(w.word for w in words), words=words, units=units)

    def decode_batch(self, log_probs: torch.Tensor, lengths: torch.Tensor, frame_shift: float) -> list[Hypothesis]:
        return [self.decode(log_probs[i, : int(lengths[i])], frame_shift) for i in range(log_probs.shape[0])]
