"""ARPA n-gram files: a writer laid out as KenLM's lmplz writes them, and a reader that scores with backoff.

Format (one section per order, all log10)::

    \\data\\
    ngram 1=5
    ngram 2=7

    \\1-grams:
    -1.234567<TAB><unk><TAB>0
    -99<TAB><s><TAB>-0.3010300
    ...

    \\2-grams:
    -0.4771213<TAB><s> a
    ...

    \\end\\

Lower orders always carry a backoff column (``0`` when the n-gram is no context), the highest order never does.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from asr.errors import AsrError
from asr.io_utils import atomic_write
from asr.limits import check_regular_file, short

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"
# The conventional log10 probability of <s> as a unigram: it is a context, never a predicted word.
BOS_LOGPROB = -99.0

_COUNT_RE = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)")
_SECTION_RE = re.compile(r"\\(\d+)-grams:")


class LmError(AsrError):
    """An n-gram language model cannot be built or an ARPA file is malformed."""


def format_float(value: float) -> str:
    """Seven significant digits, as float32 holds (KenLM stores float32); no negative zero."""
    return "%.7g" % (value + 0.0)


def write_arpa(path: str | os.PathLike, counts: Sequence[int], sections: Iterable[Iterable[str]]) -> None:
    """Write an ARPA file atomically.

    ``sections`` yields, per order, chunks of already formatted entry lines (each ending in a newline); the
    number of lines must match ``counts`` so a header can never lie about its body.
    """
    with atomic_write(path) as handle:
        handle.write("\\data\\\n")
        for order, count in enumerate(counts, 1):
            handle.write(f"ngram {order}={count}\n")
        handle.write("\n")
        written_orders = 0
        for order, chunks in enumerate(sections, 1):
            handle.write(f"\\{order}-grams:\n")
            lines = 0
            for chunk in chunks:
                lines += chunk.count("\n")
                handle.write(chunk)
            if lines != counts[order - 1]:
                declared = counts[order - 1]
                raise RuntimeError(f"ARPA writer: {order}-gram section has {lines} lines, header says {declared}")
            handle.write("\n")
            written_orders = order
        if written_orders != len(counts):
            raise RuntimeError(f"ARPA writer: {written_orders} sections written for {len(counts)} orders")
        handle.write("\\end\\\n")


class _Lines:
    """Numbered, stripped lines of a text file with one line of push-back, remembering the last line number."""

    def __init__(self, handle: Iterable[str]):
        self._it: Iterator[tuple[int, str]] = enumerate(handle, 1)
        self._pushed: tuple[int, str] | None = None
        self.lineno = 0

    def next(self) -> tuple[int, str] | None:
        if self._pushed is not None:
            item, self._pushed = self._pushed, None
            return item
        item = next(self._it, None)
        if item is None:
            return None
        self.lineno = item[0]
        return item[0], item[1].strip()

    def next_nonblank(self) -> tuple[int, str] | None:
        while (item := self.next()) is not None and not item[1]:
            pass
        return item

    def push_back(self, item: tuple[int, str]) -> None:
        self._pushed = item


class ArpaModel:
    """A back-off n-gram model read from an ARPA file; scores are log10 probabilities.

    Meant for checking and small models: every n-gram becomes a dict entry, so memory is roughly 150 bytes
    per n-gram. Decoders should load ARPA files with KenLM.
    """

    def __init__(self, order: int, entries: list[dict[tuple[str, ...], tuple[float, float]]], vocab: Sequence[str]):
        self.order = order
        # entries[k-1][(w1, ..., wk)] = (log10 p(wk | w1..wk-1), log10 backoff of w1..wk)
        self._entries = entries
        self.vocab: tuple[str, ...] = tuple(vocab)
        self.counts = [len(table) for table in entries]
        self._unk = UNK if (UNK,) in entries[0] else None

    @classmethod
    def load(cls, path: str | os.PathLike) -> ArpaModel:
        path = check_regular_file(path, "ARPA file", LmError)  # never opens a FIFO, a device or a folder
        try:
            with open(path, encoding="utf-8") as handle:
                return cls._parse(path, _Lines(handle))
        except FileNotFoundError:
            raise LmError(f"{path}: ARPA file not found") from None
        except UnicodeDecodeError as exc:
            raise LmError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start} of a line)") from None

    @classmethod
    def _parse(cls, path: Path, lines: _Lines) -> ArpaModel:
        def fail(lineno: int, message: str) -> LmError:
            return LmError(f"{path}:{lineno}: {message}")

        # Tools put free text before \data\ (SRILM, KenLM's header comments), so skip up to it.
        while True:
            item = lines.next()
            if item is None:
                raise fail(max(lines.lineno, 1), "no \\data\\ header: not an ARPA file")
            if item[1] == "\\data\\":
                break

        declared: list[int] = []
        while (item := lines.next_nonblank()) is not None and not _SECTION_RE.fullmatch(item[1]):
            lineno, text = item
            match = _COUNT_RE.fullmatch(text)
            if match is None:
                raise fail(lineno, f"bad count line {short(text)}; expected 'ngram N=COUNT'")
            if max(len(match.group(1)), len(match.group(2))) > 18:  # int() refuses 4300+ digits with a ValueError
                raise fail(lineno, f"count out of range in {short(text)}")
            order, count = int(match.group(1)), int(match.group(2))
            if order != len(declared) + 1:
                raise fail(lineno, f"count for order {order} where order {len(declared) + 1} was expected")
            declared.append(count)
        if item is None:
            raise fail(max(lines.lineno, 1), "missing \\end\\: file ends before the first n-gram section")
        if not declared:
            raise fail(item[0], "no 'ngram N=COUNT' lines after \\data\\")
        lines.push_back(item)

        max_order = len(declared)
        entries: list[dict[tuple[str, ...], tuple[float, float]]] = []
        vocab: list[str] = []
        for order in range(1, max_order + 1):
            item = lines.next_nonblank()
            if item is None:
                raise fail(max(lines.lineno, 1), f"missing \\end\\: file ends before the \\{order}-grams: section")
            header_line, text = item
            if text != f"\\{order}-grams:":
                raise fail(header_line, f"expected '\\{order}-grams:', found {short(text)}")
            table: dict[tuple[str, ...], tuple[float, float]] = {}
            # The highest order never has a backoff; lower orders may leave a zero backoff out.
            allowed = (order + 1,) if order == max_order else (order + 1, order + 2)
            while True:
                item = lines.next()
                if item is None:
                    raise fail(max(lines.lineno, 1), f"missing \\end\\: file ends inside the \\{order}-grams: section")
                lineno, text = item
                if not text:
                    break
                if text.startswith("\\"):
                    lines.push_back(item)
                    break
                fields = text.split()
                if len(fields) not in allowed:
                    want = " or ".join(str(n) for n in allowed)
                    raise fail(lineno, f"wrong number of fields in a {order}-gram entry: {len(fields)}, want {want}")
                try:
                    logprob = float(fields[0])
                    backoff = float(fields[order + 1]) if len(fields) == order + 2 else 0.0
                except ValueError:
                    raise fail(lineno, f"not a number in {short(text)}") from None
                if math.isnan(logprob) or logprob > 0:
                    raise fail(lineno, f"log10 probability must be a number <= 0 in {short(text)}")
                if not math.isfinite(backoff):  # an infinite backoff makes every score through it infinite
                    raise fail(lineno, f"backoff weight must be a finite number in {short(text)}")
                key = tuple(fields[1 : order + 1])
                if key in table:
                    raise fail(lineno, f"duplicate {order}-gram {short(' '.join(key))}")
                table[key] = (logprob, backoff)
                if order == 1:
                    vocab.append(key[0])
            if len(table) != declared[order - 1]:
                raise fail(
                    header_line,
                    f"\\{order}-grams: section has {len(table)} entries, the header declares {declared[order - 1]}",
                )
            entries.append(table)

        item = lines.next_nonblank()
        if item is None:
            raise fail(max(lines.lineno, 1), "missing \\end\\ after the last n-gram section")
        if item[1] != "\\end\\":
            raise fail(item[0], f"expected \\end\\, found {short(item[1])}")
        return cls(max_order, entries, vocab)

    def ngrams(self, k: int) -> dict[tuple[str, ...], tuple[float, float]]:
        """The ``k``-grams (1-based order): words -> (log10 probability, log10 backoff). Do not modify."""
        return self._entries[k - 1]

    def _map(self, word: str) -> str | None:
        return word if (word,) in self._entries[0] else self._unk

    def score(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context), context oldest first; out-of-vocabulary words count as ``<unk>``.

        Returns -inf for an unknown word when the model has no ``<unk>``: the model gives it no mass.
        """
        target = self._map(word)
        if target is None:
            return float("-inf")
        recent = context[max(0, len(context) - self.order + 1) :] if self.order > 1 else ()
        history = tuple(self._map(w) for w in recent)
        total = 0.0
        # Standard back-off: the longest stored n-gram wins; each context skipped on the way adds its backoff.
        for start in range(len(history) + 1):
            hist = history[start:]
            found = self._entries[len(hist)].get((*hist, target))  # type: ignore[arg-type]
            if found is not None:
                return total + found[0]
            if hist:
                ctx = self._entries[len(hist) - 1].get(hist)  # type: ignore[arg-type]
                if ctx is not None:
                    total += ctx[1]
        return float("-inf")

    def sentence_logprob(self, words: str | Sequence[str], bos: bool = True, eos: bool = True) -> float:
        """Total log10 probability of a sentence; ``bos`` conditions on ``<s>`` first, ``eos`` adds ``</s>``."""
        return sentence_logprob(self.score, words, bos, eos)


def sentence_logprob(
    score: Callable[[str, Sequence[str]], float], words: str | Sequence[str], bos: bool = True, eos: bool = True
) -> float:
    """Sum of ``score(word, context)`` over a sentence, shared by ARPA files and in-memory models."""
    tokens = words.split() if isinstance(words, str) else list(words)
    context: list[str] = [BOS] if bos else []
    total = 0.0
    for word in tokens:
        total += score(word, context)
        context.append(word)
    if eos:
        total += score(EOS, context)
    return total
