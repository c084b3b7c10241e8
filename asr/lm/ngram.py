"""Word n-gram estimation with interpolated modified Kneser-Ney smoothing, the model KenLM's lmplz builds.

Definitions (Chen & Goodman 1998, "An empirical study of smoothing techniques", section 3 and eq. 26; the
sentence-boundary and pruning details follow lmplz):

* Every sentence is ``<s> w1 .. wn </s>``. N-grams never cross sentences; ``<s>`` is only ever a first word.
* Adjusted counts ``a``: highest order and n-grams starting with ``<s>`` use raw counts (nothing can precede
  ``<s>``); other lower-order n-grams use continuation counts, the number of distinct words seen before them.
  The unigram ``<s>`` gets 0: it is never predicted.
* Per order, from the count-of-counts ``n1..n4`` of adjusted counts, ``Y = n1 / (n1 + 2 n2)`` and
  ``D1 = 1 - 2Y n2/n1``, ``D2 = 2 - 3Y n3/n2``, ``D3+ = 3 - 4Y n4/n3``.
* ``p(w | c) = (a(c w) - D(a(c w))) / sum_v a(c v) + gamma(c) p(w | c')`` where ``c'`` drops the oldest word and
  ``gamma(c) = sum_v D(a(c v)) / sum_v a(c v)`` is the mass taken away, written as the backoff of ``c``.
* Unigrams interpolate with the uniform distribution over the vocabulary without ``<s>`` (``<unk>`` and
  ``</s>`` included): ``p(w) = (a(w) - D(a(w))) / sum a + gamma / (|V| - 1)``. ``<unk>``, never seen unless
  ``vocab_limit`` maps words to it, thus gets ``gamma / (|V| - 1)``: the mass reserved for unseen words,
  spread evenly, as lmplz does by default (``--interpolate_unigrams``).

Zero count-of-counts: the closed form fails if n1, n2 or n3 is 0 (tiny or artificial text) or if a discount
falls outside ``[0, j]``. Rather than failing as plain lmplz does, that order falls back to fixed discounts
(0.5, 1, 1.5 by default), as ``lmplz --discount_fallback`` does, and a warning is logged.

Pruning (lmplz ``--prune``): an n-gram of order k >= 2 whose raw count is <= ``prune[k-1]`` is dropped after
the discounts and adjusted counts are computed on the full data. The mass of dropped n-grams goes to their
context's backoff, so every context still sums to 1. Thresholds must not decrease with the order, so every
kept n-gram keeps its prefix and suffix, as the ARPA format needs.

Where this differs from lmplz, on purpose: blank lines are skipped (lmplz counts ``<s> </s>``); ``<s>`` and
``</s>`` inside the text are dropped (lmplz ``--skip_symbols``); a literal ``<unk>`` in the text is the unknown
word (lmplz refuses it); the ``<s>`` unigram is written as -99, the SRILM convention for "never predicted"
(lmplz writes 0; neither value is ever used in scoring).

Memory: the text becomes one int32 array of word ids; each order is a sorted array of int64 keys
``prefix_id * |V| + word`` (``prefix_id`` indexes the sorted (k-1)-grams), so ids stay dense and any order fits
64 bits. Sorting is numpy's; Python only splits lines and writes the ARPA file.
"""

from __future__ import annotations

import itertools
import logging
import os
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from asr.errors import ConfigError
from asr.io_utils import open_text
from asr.lm.arpa import BOS, BOS_LOGPROB, EOS, UNK, LmError, format_float, sentence_logprob, write_arpa

log = logging.getLogger(__name__)

# Log10 floor for probabilities or backoffs that are exactly zero (possible only with a discount of 0).
LOG_ZERO = -99.0
_CHUNK_LINES = 65536


@dataclass
class LmConfig:
    order: int = 3
    # Raw-count thresholds per order: an n-gram seen <= prune[k-1] times is dropped; [0, 1, 1] drops bigrams and
    # trigrams seen once. The last value applies to higher orders; unigrams cannot be pruned (use vocab_limit).
    prune: list[int] = field(default_factory=list)
    # Keep the N most frequent words; the others become <unk>. 0 keeps every word.
    vocab_limit: int = 0
    # Include <unk> in the model. It gets the unigram interpolation mass of an unseen word (see module doc).
    unk: bool = True
    # Discounts (D1, D2, D3+) for an order whose count-of-counts make the closed form fail.
    discount_fallback: tuple[float, float, float] = (0.5, 1.0, 1.5)

    def validate(self) -> None:
        if not isinstance(self.order, int) or self.order < 1:
            raise ConfigError(f"lm order must be an integer >= 1, got {self.order!r}")
        if len(self.prune) > self.order:
            raise ConfigError(f"lm prune has {len(self.prune)} thresholds for an order-{self.order} model")
        if any(not isinstance(t, int) or t < 0 for t in self.prune):
            raise ConfigError(f"lm prune thresholds must be integers >= 0, got {self.prune!r}")
        if self.prune and self.prune[0] != 0:
            raise ConfigError("lm prune: unigrams cannot be pruned (prune[0] must be 0); use vocab_limit instead")
        if any(b < a for a, b in itertools.pairwise(self.prune)):
            raise ConfigError(f"lm prune thresholds must not decrease with the order, got {self.prune!r}")
        if not isinstance(self.vocab_limit, int) or self.vocab_limit < 0:
            raise ConfigError(f"lm vocab_limit must be an integer >= 0, got {self.vocab_limit!r}")
        if self.vocab_limit and not self.unk:
            raise ConfigError("lm vocab_limit needs unk=True: the words it removes become <unk>")
        if len(self.discount_fallback) != 3 or any(not 0 <= d <= j for j, d in enumerate(self.discount_fallback, 1)):
            got = self.discount_fallback
            raise ConfigError(f"lm discount_fallback must be (D1, D2, D3+) with 0 <= Dj <= j, got {got}")

    def thresholds(self) -> list[int]:
        """One threshold per order (the last given value repeats, as lmplz does)."""
        if not self.prune:
            return [0] * self.order
        return [self.prune[min(k, len(self.prune) - 1)] for k in range(self.order)]


def mkn_discounts(n1: int, n2: int, n3: int, n4: int) -> tuple[float, float, float] | None:
    """Chen & Goodman eq. 26; None where the count-of-counts cannot give discounts within [0, j]."""
    if n1 == 0 or n2 == 0 or n3 == 0:
        return None
    y = n1 / (n1 + 2.0 * n2)
    d = (1.0 - 2.0 * y * n2 / n1, 2.0 - 3.0 * y * n3 / n2, 3.0 - 4.0 * y * n4 / n3)
    if any(not 0.0 <= dj <= j for j, dj in enumerate(d, 1)):
        return None
    return d


def _discount(adjusted: np.ndarray, d: tuple[float, float, float]) -> np.ndarray:
    """D(a) per n-gram: 0 for a = 0, D1, D2, then D3+ for every a >= 3."""
    table = np.array([0.0, d[0], d[1], d[2]])
    return table[np.minimum(adjusted, 3)]


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        out = np.log10(values)
    return np.maximum(out, LOG_ZERO)


class NgramModel:
    """An estimated back-off model: per order, sorted n-gram keys with log10 probabilities and backoffs.

    ``vocab`` lists the words by id: ``<unk>`` (when present), ``<s>``, ``</s>``, then words by falling
    frequency. Scores (``logprob``) use the same back-off rule as an ARPA reader, so they equal what KenLM
    computes from the written file up to its 7 printed digits.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        keys: list[np.ndarray],
        logprobs: list[np.ndarray],
        backoffs: list[np.ndarray],
        discounts: list[tuple[float, float, float]],
        count_of_counts: list[tuple[int, int, int, int]],
    ):
        self.vocab: tuple[str, ...] = tuple(vocab)
        self.order = len(logprobs)
        self._ids = {w: i for i, w in enumerate(self.vocab)}
        self._size = len(self.vocab)
        # keys[k-1] for k >= 2: sorted int64 ``prefix_index * |V| + last_word``; keys[0] is unused (unigram = id).
        self._keys = keys
        self._logprobs = logprobs
        self._backoffs = backoffs
        self.discounts = discounts
        self.count_of_counts = count_of_counts
        self._unk_id = self._ids.get(UNK)

    @property
    def counts(self) -> list[int]:
        return [len(lp) for lp in self._logprobs]

    def _find(self, ids: Sequence[int]) -> int:
        """Index of the n-gram within its order, or -1."""
        index = ids[0]
        for k in range(1, len(ids)):
            keys = self._keys[k]
            key = index * self._size + ids[k]
            pos = int(np.searchsorted(keys, key))
            if pos >= len(keys) or int(keys[pos]) != key:
                return -1
            index = pos
        return index

    def _id(self, word: str) -> int | None:
        found = self._ids.get(word)
        return self._unk_id if found is None else found

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context), context oldest first; unknown words count as ``<unk>`` (-inf without it)."""
        target = self._id(word)
        if target is None:
            return float("-inf")
        history: list[int | None] = [self._id(w) for w in context[max(0, len(context) - self.order + 1) :]]
        if self.order == 1:
            history = []
        # A context word the model cannot name matches no n-gram: back off past it.
        while None in history:
            history = history[history.index(None) + 1 :]
        total = 0.0
        for start in range(len(history) + 1):
            hist: list[int] = history[start:]  # type: ignore[assignment]
            found = self._find([*hist, target])
            if found >= 0:
                return total + float(self._logprobs[len(hist)][found])
            if hist:
                ctx = self._find(hist)
                if ctx >= 0:
                    total += float(self._backoffs[len(hist) - 1][ctx])
        return float("-inf")

    def sentence_logprob(self, words: str | Sequence[str], bos: bool = True, eos: bool = True) -> float:
        return sentence_logprob(self.logprob, words, bos, eos)

    def ngram_words(self, order: int) -> np.ndarray:
        """(count, order) int32 matrix of word ids of every stored n-gram of that order, in stored order."""
        words = np.arange(self._size, dtype=np.int32)[:, None]
        for k in range(1, order):
            keys = self._keys[k]
            words = np.concatenate([words[keys // self._size], (keys % self._size).astype(np.int32)[:, None]], axis=1)
        return words

    def write_arpa(self, path: str | os.PathLike) -> None:
        """Write the model as an ARPA file (atomically: a failed write leaves no partial file)."""
        write_arpa(path, self.counts, (self._section(k) for k in range(1, self.order + 1)))

    def _section(self, order: int) -> Iterator[str]:
        """Formatted lines of one order, in chunks, so the text of a large model is never all in memory."""
        vocab = self.vocab
        logprobs = self._logprobs[order - 1]
        backoffs = None if order == self.order else self._backoffs[order - 1]
        keys = self._keys[order - 1]
        prefixes = self.ngram_words(order - 1) if order > 1 else None
        current, prefix_text = -1, ""
        for start in range(0, len(logprobs), _CHUNK_LINES):
            stop = start + _CHUNK_LINES
            probs = [format_float(x) for x in logprobs[start:stop].tolist()]
            if prefixes is None:
                names = list(vocab[start:stop])
            else:
                names = []
                # N-grams are sorted by prefix, so each prefix is spelled once and reused for all its extensions.
                for p, w in zip((keys[start:stop] // self._size).tolist(), (keys[start:stop] % self._size).tolist()):
                    if p != current:
                        current, prefix_text = p, " ".join(vocab[i] for i in prefixes[p].tolist()) + " "
                    names.append(prefix_text + vocab[w])
            if backoffs is None:
                yield "".join(f"{p}\t{n}\n" for p, n in zip(probs, names))
            else:
                backs = [format_float(x) for x in backoffs[start:stop].tolist()]
                yield "".join(f"{p}\t{n}\t{b}\n" for p, n, b in zip(probs, names, backs))


class _Corpus:
    """Collects sentences as one int32 stream ``<s> w.. </s> <s> ..`` of provisional ids (first-seen order)."""

    _PROVISIONAL = (UNK, BOS, EOS)

    def __init__(self) -> None:
        # A defaultdict handing out the next id makes the per-token lookup a C-level map() call.
        self.ids: defaultdict[str, int] = defaultdict(itertools.count().__next__)
        for word in self._PROVISIONAL:
            self.ids[word]  # noqa: B018 - inserting fixes the ids 0, 1, 2
        self.tokens = array("i")
        self.sentences = 0
        self._warned = False

    def add(self, sentence: str) -> None:
        words = sentence.split()
        if BOS in words or EOS in words:
            # lmplz treats sentence markers in the text as whitespace; so do we, once warned.
            if not self._warned:
                log.warning("sentence markers <s> and </s> in LM training text are ignored")
                self._warned = True
            words = [w for w in words if w != BOS and w != EOS]
        if not words:
            return
        self.sentences += 1
        self.tokens.append(1)
        self.tokens.extend(map(self.ids.__getitem__, words))
        self.tokens.append(2)


def _finalise_vocab(corpus: _Corpus, config: LmConfig) -> tuple[list[str], np.ndarray]:
    """Final vocabulary (specials, then by falling frequency) and the token stream in final ids."""
    if corpus.sentences == 0:
        raise LmError("no sentences to train the language model on (empty text)")
    tokens = np.frombuffer(corpus.tokens, dtype=np.int32)
    freq = np.bincount(tokens, minlength=len(corpus.ids))
    if freq[0] and not config.unk:
        raise LmError("the LM training text contains <unk> but the config has unk=False")
    names = list(corpus.ids)  # insertion order == provisional id
    counts = freq.tolist()
    words = sorted(range(3, len(names)), key=lambda i: (-counts[i], names[i]))
    kept = words[: config.vocab_limit] if config.vocab_limit else words
    specials = [UNK, BOS, EOS] if config.unk else [BOS, EOS]
    vocab = specials + [names[i] for i in kept]
    unk_id = 0 if config.unk else -1
    remap = np.full(len(names), unk_id, dtype=np.int32)
    remap[1], remap[2] = vocab.index(BOS), vocab.index(EOS)
    remap[np.asarray(kept, dtype=np.int64)] = np.arange(len(specials), len(vocab), dtype=np.int32)
    if config.vocab_limit and len(words) > len(kept):
        log.info("LM vocabulary limited to %d of %d words; the rest become <unk>", len(kept), len(words))
    return vocab, remap[tokens]


def _estimate(vocab: list[str], tokens: np.ndarray, config: LmConfig) -> NgramModel:
    size = len(vocab)
    bos = vocab.index(BOS)
    order = config.order
    thresholds = config.thresholds()

    # --- Count: per order, sorted unique keys, raw counts, and the suffix (k-1)-gram of each n-gram. ---
    not_bos = tokens != bos
    raw: list[np.ndarray] = [np.bincount(tokens, minlength=size).astype(np.int32)]
    keys: list[np.ndarray] = [np.arange(size, dtype=np.int64)]
    suffix: list[np.ndarray | None] = [None]
    window = tokens  # id of the (k-1)-gram ending at each position, -1 where none
    for k in range(2, order + 1):
        if len(keys[-1]) * size >= 2**63:
            raise LmError(f"{len(keys[-1])} distinct {k - 1}-grams x {size} words overflow 64-bit {k}-gram keys")
        # A k-gram ends at i when a (k-1)-gram ends at i-1 and word i is no <s> (which would start a sentence).
        valid = np.zeros(len(tokens), dtype=bool)
        valid[1:] = (window[:-1] >= 0) & not_bos[1:]
        ends = valid[1:]
        packed = window[:-1][ends].astype(np.int64)
        packed *= size
        packed += tokens[1:][ends]
        del ends
        # np.unique(return_inverse=True) would hold five text-sized int64 arrays at once; this holds three.
        by_key = np.argsort(packed)
        packed = packed[by_key]
        first = np.ones(len(packed), dtype=bool)
        np.not_equal(packed[1:], packed[:-1], out=first[1:])
        uniq = packed[first]
        del packed
        ids = np.cumsum(first, dtype=np.int32)
        ids -= 1
        del first
        inverse = np.empty(len(ids), dtype=np.int32)
        inverse[by_key] = ids
        del by_key, ids
        suf = np.empty(len(uniq), dtype=np.int32)
        suf[inverse] = window[valid]  # the (k-1)-gram ending at the same position
        nxt = np.full(len(tokens), -1, dtype=np.int32)
        nxt[valid] = inverse
        del valid
        raw.append(np.bincount(inverse, minlength=len(uniq)).astype(np.int32))
        del inverse
        keys.append(uniq)
        suffix.append(suf)
        window = nxt
    del window, not_bos

    # --- Adjusted counts. ---
    adjusted: list[np.ndarray] = []
    starts_bos = np.arange(size) == bos
    for k in range(order):
        if k == order - 1:
            adj = raw[k].copy()
        else:
            adj = np.bincount(suffix[k + 1], minlength=len(keys[k])).astype(np.int32)  # continuation counts
            if k > 0:
                adj = np.where(starts_bos, raw[k], adj)
        if k == 0:
            adj[bos] = 0
        adjusted.append(adj)
        if k + 1 < order:
            starts_bos = starts_bos[keys[k + 1] // size]

    # --- Discounts from count-of-counts. ---
    discounts: list[tuple[float, float, float]] = []
    count_of_counts: list[tuple[int, int, int, int]] = []
    for k, adj in enumerate(adjusted, 1):
        coc = np.bincount(np.minimum(adj, 5), minlength=6)
        n = (int(coc[1]), int(coc[2]), int(coc[3]), int(coc[4]))
        d = mkn_discounts(*n)
        if d is None:
            d = tuple(config.discount_fallback)  # type: ignore[assignment]
            log.warning(
                "%d-gram count-of-counts n1..n4=%s give no valid Kneser-Ney discounts; using fallback D=%s",
                k,
                n,
                d,
            )
        count_of_counts.append(n)
        discounts.append(d)  # type: ignore[arg-type]

    # --- Probabilities, lowest order first, interpolating each with the one below; then compact that order. ---
    # One order at a time, dropping its working arrays as soon as the next order has used them: the peak is set
    # by the largest order, not the sum of all.
    a = adjusted[0].astype(np.float64)
    d = _discount(adjusted[0], discounts[0])
    total = a.sum()
    lower = (a - d) / total + (d.sum() / total) / (size - 1)  # p of each (k-1)-gram, unpruned indexing
    lower[bos] = 0.0
    lower_kept = np.ones(size, dtype=bool)
    new_index = np.arange(size, dtype=np.int64)  # unpruned -> stored index of each (k-1)-gram
    out_keys: list[np.ndarray] = [keys[0]]
    out_logprobs: list[np.ndarray] = []
    out_backoffs: list[np.ndarray] = []
    unigram_logp = np.minimum(_log10(lower), 0.0)
    unigram_logp[bos] = BOS_LOGPROB
    out_logprobs.append(unigram_logp)
    for k in range(1, order):
        adj, ngram_keys, suf = adjusted[k], keys[k], suffix[k]
        kept = raw[k] > thresholds[k]
        adjusted[k] = keys[k] = suffix[k] = raw[k] = None  # type: ignore[call-overload]
        a = adj.astype(np.float64)
        d = _discount(adj, discounts[k])
        del adj
        prefix = ngram_keys // size
        n_lower = len(lower)
        denominator = np.bincount(prefix, weights=a, minlength=n_lower)
        # Pruned n-grams give their whole count to the context's backoff mass, kept ones their discount.
        removed = np.bincount(prefix, weights=np.where(kept, d, a), minlength=n_lower)
        gamma = np.ones(n_lower)  # 1 = log10 backoff 0 for (k-1)-grams that are no context
        np.divide(removed, denominator, out=gamma, where=denominator > 0)
        del removed
        p = a  # in place from here on: this order's arrays are the largest of the whole estimation
        p -= d
        del a, d
        p /= denominator[prefix]
        del denominator
        interpolated = gamma[prefix]
        interpolated *= lower[suf]
        p += interpolated
        del interpolated
        if not lower_kept[prefix[kept]].all() or not lower_kept[suf[kept]].all():
            raise RuntimeError("pruning left an n-gram without its prefix or suffix")  # thresholds are validated
        out_backoffs.append(_log10(gamma[lower_kept]))
        del gamma, suf
        out_keys.append(new_index[prefix[kept]] * size + ngram_keys[kept] % size)
        del prefix, ngram_keys
        new_index = np.cumsum(kept) - 1
        out_logprobs.append(np.minimum(_log10(p[kept]), 0.0))
        lower, lower_kept = p, kept
    return NgramModel(vocab, out_keys, out_logprobs, out_backoffs, discounts, count_of_counts)


def build_lm(sentences: Iterable[str], config: LmConfig) -> NgramModel:
    """Estimate a modified Kneser-Ney model from normalised sentences (words separated by whitespace)."""
    config.validate()
    corpus = _Corpus()
    for sentence in sentences:
        corpus.add(sentence)
    vocab, tokens = _finalise_vocab(corpus, config)
    del corpus
    return _estimate(vocab, tokens, config)


def build_lm_from_file(
    text_path: str | os.PathLike, config: LmConfig, normalizer: Callable[[str], str] | None = None
) -> NgramModel:
    """Like ``build_lm`` over a UTF-8 text file (or .gz) with one sentence per line, read as a stream."""
    config.validate()
    corpus = _Corpus()
    lineno = 0
    try:
        with open_text(text_path) as handle:
            for lineno, line in enumerate(handle, 1):  # noqa: B007 - lineno is reported on a decoding error
                corpus.add(normalizer(line) if normalizer is not None else line)
    except FileNotFoundError:
        raise LmError(f"{text_path}: LM training text not found") from None
    except UnicodeDecodeError as exc:
        raise LmError(f"{text_path}:{lineno + 1}: not valid UTF-8 ({exc.reason})") from None
    except (OSError, EOFError) as exc:  # a damaged .gz
        raise LmError(f"{text_path}:{lineno + 1}: unreadable ({exc})") from None
    vocab, tokens = _finalise_vocab(corpus, config)
    del corpus
    return _estimate(vocab, tokens, config)
