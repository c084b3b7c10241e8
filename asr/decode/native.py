"""The compiled beam search of character models (``asr/decode/_wordlm.cpp``); its results carry torchaudio's
hypothesis fields (``tokens``, ``timesteps``, ``score``), so :class:`asr.decode.beam.BeamDecoder` reads both
searches' results the same way.

It replaces flashlight's lexicon-free search and the Python ``WordLmAdapter`` (lexicon-free, with or without a
word LM and hotwords) and flashlight's lexicon search for a character lexicon: the adapter's word scores, a
prefix beam search (paths of one prefix summed) instead of flashlight's best-path search, and no Python call
per (hypothesis, token) pair (tests/unit/test_wordlm_native.py). Phone lexicons stay with flashlight.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np

from asr.decode.lexicon import LM_SPECIAL
from asr.lm.arpa import LmError

try:
    from asr.decode import _wordlm
except ImportError as exc:  # a source checkout whose extension was never built
    _wordlm = None
    _IMPORT_ERROR = str(exc)

log = logging.getLogger(__name__)
_warned = False

# The C++ search keeps an n-gram's words in a fixed buffer of 64.
MAX_ORDER = 63


def available() -> bool:
    """True when the extension is built; otherwise says once (with the fix) that decoding will be slower."""
    global _warned
    if _wordlm is None and not _warned:
        _warned = True
        log.warning("the compiled beam search is not built (%s): character models decode through flashlight "
                    "and the slower Python LM; 'pip install -e .' builds it", _IMPORT_ERROR)
    return _wordlm is not None


def spelled_by_letters(lexicon: dict[str, list[str]], tokenizer) -> bool:
    """True when every word is spelled by its own characters, as the compiled search assumes (a phone
    model's lexicon, or a character lexicon with other spellings, goes to flashlight's lexicon decoder)."""
    return tokenizer.unit_metric != "per" and all("".join(spelling) == word for word, spelling in lexicon.items())


def known_words(arpa, hotword_words: Iterable[str]) -> set[str]:
    """Words whose prefixes are not charged as unknown partial words: the LM's and the hotwords'."""
    words = {w for w in arpa.vocab if w not in LM_SPECIAL}
    words.update(hotword_words)
    return words


def ngram_lm(arpa):
    """The ARPA model's n-grams as the extension's table (a word no unigram names never matches: id -2)."""
    vocab = list(arpa.vocab)
    ids = {w: i for i, w in enumerate(vocab)}
    lm = _wordlm.NgramLm(arpa.order, vocab)
    for k in range(1, arpa.order + 1):
        table = arpa.ngrams(k)
        keys = np.fromiter((ids.get(w, -2) for key in table for w in key), dtype=np.int32, count=len(table) * k)
        values = np.fromiter((v for pair in table.values() for v in pair), dtype=np.float64, count=2 * len(table))
        lm.add(k, keys, np.ascontiguousarray(values[0::2]), np.ascontiguousarray(values[1::2]))
    return lm


class NativeWordLmSearch:
    """``decode_frames(frames)`` for one utterance's (frames, tokens) log-probabilities -> results, best first."""

    def __init__(self, arpa, tokenizer, hotwords, config, lexicon: Iterable[str] | None = None):
        """``lexicon``: the only words to write (a character model's, spelled by their letters); None:
        lexicon-free."""
        if arpa is not None and arpa.order > MAX_ORDER:
            raise LmError(f"{config.lm}: a {arpa.order}-gram model; the beam search takes at most {MAX_ORDER}-grams")
        self.search = _wordlm.WordLmSearch(
            list(tokenizer.symbols), tokenizer.blank_id, tokenizer.word_sep_id,
            ngram_lm(arpa) if arpa is not None else None, config.lm_weight, config.word_score,
            config.unk_prefix_score, [(list(hw.words), hw.boost) for hw in hotwords], config.beam_size,
            config.beam_size_token or len(tokenizer.symbols), config.beam_threshold, config.sil_score,
            max(1, config.nbest))
        self.token_min_logp = config.token_min_logp
        self.search.set_token_min_logp(config.token_min_logp)
        if lexicon is not None:
            self.search.set_lexicon(sorted(lexicon), config.unk_score)
        else:
            if arpa is not None and config.unk_prefix_score:
                self.search.set_known_words(sorted(known_words(arpa, (w for hw in hotwords for w in hw.words))))

    def decode_frames(self, frames: np.ndarray) -> list:
        """One utterance's (frames, tokens) float32 log-probabilities -> the extension's results, best first
        (``score``, ``tokens`` and ``timesteps``, which count a virtual frame before the first)."""
        if not np.isfinite(frames).all():
            # NaN (a broken model) or +inf: such a token is impossible here, and NaN must never reach the
            # C++ sorts (their comparisons need an order NaN does not have).
            frames = np.where(np.isneginf(frames) | np.isfinite(frames), frames, -np.inf).astype(np.float32)
        results = self.search.decode(frames)
        if not results or not math.isfinite(results[0].score):
            # A lexicon word may need a letter the model all but ruled out: pruning it can leave no word at
            # all, so such an utterance is searched again with every token (as flashlight's search would).
            self.search.set_token_min_logp(-math.inf)
            results = self.search.decode(frames)
            self.search.set_token_min_logp(self.token_min_logp)
        return results
