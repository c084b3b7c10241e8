"""Linear interpolation of back-off n-gram LMs (SRILM's ``-mix-lm`` static interpolation) and perplexity.

A general-English LM and a small in-domain one are mixed as ``p(w|h) = sum_i l_i p_i(w|h)``. The mixture
is written back as one back-off ARPA model: every n-gram of any component gets the mixed probability, and
each context's back-off weight is recomputed so that its distribution still sums to one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asr.lm.arpa import BOS, EOS, UNK, ArpaModel, LmError, format_float, write_arpa

LOG10 = math.log(10)


def _prob(model: ArpaModel, word: str, context: Sequence[str]) -> float:
    """p(word | context) in probability space; 0 for a word outside the model's vocabulary (its mass is in
    ``<unk>``, which is mixed as a word of its own), so the mixture of normalised models stays normalised."""
    if word not in _vocab(model) and word != UNK:
        return 0.0
    return 10.0 ** model.score(word, context)


def _vocab(model: ArpaModel) -> frozenset[str]:
    cached = getattr(model, "_mix_vocab", None)
    if cached is None:
        cached = model._mix_vocab = frozenset(model.vocab)
    return cached


def mixed_prob(models: Sequence[ArpaModel], weights: Sequence[float], word: str, context: Sequence[str]) -> float:
    return sum(w * _prob(m, word, context) for m, w in zip(models, weights) if w)


@dataclass
class Perplexity:
    perplexity: float
    tokens: int  # words + </s> scored
    oov: int  # words outside the vocabulary (not scored)
    words: int

    @property
    def oov_rate(self) -> float:
        return self.oov / max(1, self.words)


def perplexity(prob, vocab: set[str], sentences: Iterable[str], order: int) -> Perplexity:
    """Perplexity over in-vocabulary words and ``</s>``; OOV words are counted and skipped (SRILM's
    convention), and the context restarts after them. ``prob(word, context) -> probability``."""
    total, tokens, oov, words = 0.0, 0, 0, 0
    for sentence in sentences:
        context = [BOS]
        for word in [*sentence.split(), EOS]:
            if word != EOS:
                words += 1
                if word not in vocab:
                    oov += 1
                    context = [BOS]  # SRILM resets after an OOV; keeps unknown histories out of the score
                    continue
            p = prob(word, context[-(order - 1):] if order > 1 else [])
            total += math.log(max(p, 1e-300))
            tokens += 1
            context.append(word)
    return Perplexity(math.exp(-total / max(1, tokens)), tokens, oov, words)


def model_perplexity(model: ArpaModel, sentences: Iterable[str]) -> Perplexity:
    vocab = _vocab(model) - {UNK, BOS}
    return perplexity(lambda w, c: _prob(model, w, c), vocab, sentences, model.order)


def tune_weights(models: Sequence[ArpaModel], sentences: list[str], steps: int = 19) -> tuple[list[float], float]:
    """Two models: the weight of the first on a grid (0.05 .. 0.95) minimising the mixture's perplexity on
    ``sentences`` over the union vocabulary. Returns (weights, perplexity)."""
    if len(models) != 2:
        raise LmError("weight tuning takes exactly two LMs")
    vocab = set().union(*(_vocab(m) for m in models)) - {UNK, BOS}
    order = max(m.order for m in models)
    best = None
    for i in range(1, steps + 1):
        lam = i / (steps + 1)
        weights = [lam, 1 - lam]
        ppl = perplexity(lambda w, c, ws=weights: mixed_prob(models, ws, w, c), vocab, sentences, order).perplexity
        if best is None or ppl < best[1]:
            best = (weights, ppl)
    return best


def interpolate(models: Sequence[ArpaModel], weights: Sequence[float], path: str | os.PathLike) -> list[int]:
    """Write the mixture of ``models`` as an ARPA file; returns its n-gram counts per order."""
    if len(models) != len(weights) or len(models) < 2:
        raise LmError("interpolation needs two or more LMs and one weight each")
    if any(not (w >= 0) or math.isinf(w) for w in weights) or not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
        raise LmError(f"mixture weights must be non-negative and sum to 1, got {list(weights)}")
    order = max(m.order for m in models)
    grams: list[set[tuple[str, ...]]] = [set() for _ in range(order)]
    for m in models:
        for k, table in enumerate(m._entries):
            grams[k].update(table)
    grams[0].add((UNK,))
    # Every prefix context of an n-gram must exist for the back-off chain; ARPA files guarantee it per model.
    probs: list[dict[tuple[str, ...], float]] = []
    for k in range(order):
        table = {}
        for gram in grams[k]:
            # <s> is never predicted (probability 0, written as ARPA's -99), only a context.
            table[gram] = 0.0 if gram == (BOS,) else mixed_prob(models, weights, gram[-1], gram[:-1])
        probs.append(table)
    backoffs: list[dict[tuple[str, ...], float]] = [dict() for _ in range(order)]
    children: list[dict[tuple[str, ...], list[str]]] = [dict() for _ in range(order)]
    for k in range(1, order):
        for gram in grams[k]:
            children[k - 1].setdefault(gram[:-1], []).append(gram[-1])
    for k in range(order - 1):
        for context, words in children[k].items():
            if context not in probs[k]:
                continue
            numerator = 1.0 - sum(probs[k + 1][(*context, w)] for w in words)
            denominator = 1.0 - sum(_lower(probs, context[1:], w) for w in words)
            if numerator > 0 and denominator > 0:
                backoffs[k][context] = math.log10(numerator / denominator)
    counts = [len(t) for t in probs]

    def section(k: int) -> Iterable[str]:
        for gram in sorted(probs[k]):
            p = probs[k][gram]
            logp = -99.0 if p <= 0 else math.log10(p)
            line = f"{format_float(logp)}\t{' '.join(gram)}"
            if k < order - 1 and gram in backoffs[k]:
                line += f"\t{format_float(backoffs[k][gram])}"
            yield line + "\n"

    write_arpa(path, counts, (section(k) for k in range(order)))
    return counts


def _lower(probs: list[dict[tuple[str, ...], float]], context: tuple[str, ...], word: str) -> float:
    """The mixed probability of ``word`` after ``context`` from the explicit entries (each suffix of a stored
    n-gram is stored too, so the lower-order entry exists)."""
    return probs[len(context)].get((*context, word), 0.0)
