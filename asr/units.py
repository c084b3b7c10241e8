"""Output units of a model: characters (``CharTokenizer`` in asr.text) or ARPAbet phones (``PhoneTokenizer``).

Both share one interface: ``symbols`` (blank first, ``|`` between words), ``encode``/``decode``, ``spell``
(a word's token spelling for lexicon decoding), ``unknown`` (what in a text cannot be encoded) and
``unit_string`` (units of an id sequence, for the unit error rate: CER or PER).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from asr.errors import TextError
from asr.pronounce import Pronouncer, cmudict_entries, strip_stress
from asr.text import BLANK, WORD_SEP, CharTokenizer

log = logging.getLogger(__name__)

# A model file's stored lexicon is untrusted input: bounded before anything is built from it.
MAX_STORED_WORDS = 200_000
MAX_SYMBOLS = 10_000


@dataclass
class TokenizerConfig:
    # "char": the characters of the training transcripts; "phone": ARPAbet phones from CMUdict (+ lexicon).
    units: Literal["char", "phone"] = "char"
    # Phone units: an extra pronunciation lexicon (WORD PH1 PH2 ... lines) consulted before CMUdict, for
    # training words only; the model keeps the pronunciations of its training words, never the file.
    lexicon: str = ""
    stress: bool = False  # keep ARPAbet stress digits (0/1/2) on vowels


class PhoneTokenizer:
    """Phones of each word, words separated by ``|``; ``lexicon`` holds the training words' pronunciations."""

    unit_metric = "per"

    def __init__(self, symbols: list[str], lexicon: dict[str, list[str]], stress: bool = False):
        if not symbols or symbols[0] != BLANK or WORD_SEP not in symbols or len(set(symbols)) != len(symbols):
            raise TextError(f"phone symbols must be unique, start with {BLANK} and contain {WORD_SEP!r}")
        self.symbols = list(symbols)
        self._index = {s: i for i, s in enumerate(self.symbols)}
        self.stress = stress
        self.lexicon = {w: list(p) for w, p in lexicon.items()}
        self.pronouncer = Pronouncer(extra=self.lexicon, stress=stress)
        self._words_of: dict[tuple[str, ...], str] | None = None

    blank_id = 0

    @property
    def word_sep_id(self) -> int:
        return self._index[WORD_SEP]

    def __len__(self) -> int:
        return len(self.symbols)

    def spell(self, word: str) -> list[str] | None:
        phones = self.pronouncer(word)
        if phones is None or any(p not in self._index for p in phones):
            return None
        return phones

    def unknown(self, text: str) -> set[str]:
        return {w for w in text.split() if self.spell(w) is None}

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for i, word in enumerate(text.split()):
            phones = self.spell(word)
            if phones is None:
                raise TextError(f"no pronunciation for {word!r} in {text!r}")
            if i:
                ids.append(self.word_sep_id)
            ids.extend(self._index[p] for p in phones)
        return ids

    def _word_for(self, phones: tuple[str, ...]) -> str:
        if self._words_of is None:
            # Training words first, so a homophone comes out as the spelling the model was trained on.
            words_of: dict[tuple[str, ...], str] = {}
            for word, prons in cmudict_entries().items():
                for pron in prons:
                    words_of.setdefault(tuple(pron if self.stress else strip_stress(pron)), word)
            for word, pron in self.lexicon.items():
                words_of[tuple(pron)] = word
            self._words_of = words_of
        # A phone string that spells no known word is shown as its phones run together (one token).
        return self._words_of.get(phones) or "".join(phones).lower()

    def decode(self, ids: Iterable[int]) -> str:
        """Ids (collapsed) -> words: each ``|``-separated phone group becomes the word it spells."""
        words, current = [], []
        for i in ids:
            if i == self.blank_id:
                continue
            if i == self.word_sep_id:
                if current:
                    words.append(self._word_for(tuple(current)))
                current = []
            else:
                current.append(self.symbols[i])
        if current:
            words.append(self._word_for(tuple(current)))
        return " ".join(words)

    def unit_string(self, ids: Iterable[int]) -> str:
        return " ".join(self.symbols[i] for i in ids if i not in (self.blank_id, self.word_sep_id))

    def to_dict(self) -> dict:
        return {"type": "phone", "symbols": self.symbols, "stress": self.stress,
                "lexicon": {w: " ".join(p) for w, p in self.lexicon.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> PhoneTokenizer:
        symbols, lexicon = data.get("symbols"), data.get("lexicon", {})
        if not isinstance(symbols, list) or not isinstance(lexicon, dict):
            raise TextError("phone tokenizer: symbols must be a list and lexicon a mapping")
        if len(symbols) > MAX_SYMBOLS or len(lexicon) > MAX_STORED_WORDS:
            raise TextError(f"phone tokenizer: {len(symbols)} symbols / {len(lexicon)} words exceed the limits")
        known = set(symbols)
        parsed = {}
        for word, phones in lexicon.items():
            if not isinstance(word, str) or not isinstance(phones, str) or not set(phones.split()) <= known:
                raise TextError(f"phone tokenizer: bad lexicon entry {str(word)[:40]!r}")
            parsed[word] = phones.split()
        return cls([str(s) for s in symbols], parsed, bool(data.get("stress", False)))


def build_tokenizer(config: TokenizerConfig, texts: list[str],
                    base: CharTokenizer | PhoneTokenizer | None = None) -> CharTokenizer | PhoneTokenizer:
    """The tokenizer for (normalised) training transcripts.

    With ``base`` (the tokenizer of a model being fine-tuned) the result keeps ``base``'s symbols, in its
    order, and appends the units the transcripts need that it lacks; a phone tokenizer also keeps
    ``base``'s lexicon entries (and its stress setting) and adds the new training words.
    """
    if config.units == "char":
        if config.lexicon:
            raise TextError("tokenizer.lexicon is for phone units (tokenizer.units=phone)")
        if isinstance(base, PhoneTokenizer):
            raise TextError("tokenizer.units is 'char' but the base tokenizer is a phone tokenizer")
        built = CharTokenizer.build(texts)
        if base is None:
            return built
        return CharTokenizer([*base.symbols, *(s for s in built.symbols if s not in base.symbols)])
    if config.units != "phone":
        raise TextError(f"tokenizer.units must be 'char' or 'phone', got {config.units!r}")
    if base is not None and not isinstance(base, PhoneTokenizer):
        raise TextError("tokenizer.units is 'phone' but the base tokenizer is a character tokenizer")
    stress = base.stress if base is not None else config.stress
    # The base model's pronunciations come first, so the words it was trained on keep them.
    pronouncer = Pronouncer([config.lexicon] if config.lexicon else [], stress=stress,
                            extra=base.lexicon if base is not None else None)
    counts = Counter(w for t in texts for w in t.split())
    lexicon, missing = {}, Counter()
    for word, n in counts.most_common():
        phones = pronouncer(word)
        if phones is None:
            missing[word] = n
        else:
            lexicon[word] = phones
    if missing:
        log.warning("%d training word(s) (%d tokens) have no pronunciation in %s; utterances holding them are "
                    "skipped: %s", len(missing), sum(missing.values()),
                    " or ".join(filter(None, [config.lexicon, "CMUdict"])),
                    ", ".join(w for w, _ in missing.most_common(10)) + (" ..." if len(missing) > 10 else ""))
    if base is None:
        return PhoneTokenizer([BLANK, WORD_SEP, *pronouncer.phone_set()], lexicon, stress)
    lexicon = {**base.lexicon, **lexicon}
    used = {p for phones in lexicon.values() for p in phones}
    new = sorted(used - set(base.symbols))
    return PhoneTokenizer([*base.symbols, *new], lexicon, stress)


def tokenizer_from_dict(data: dict) -> CharTokenizer | PhoneTokenizer:
    if not isinstance(data, dict):
        raise TextError("tokenizer settings must be a mapping")
    if data.get("type") == "phone":
        return PhoneTokenizer.from_dict(data)
    return CharTokenizer.from_dict(data)


def count_unknown(tokenizer, texts: Iterable[str]) -> Counter:
    """How often each character (char models) or word (phone models) that cannot be encoded occurs."""
    counts: Counter = Counter()
    for text in texts:
        if isinstance(tokenizer, PhoneTokenizer):
            counts.update(w for w in text.split() if tokenizer.spell(w) is None)
        else:
            counts.update(ch for ch in text if ch != " " and ch not in tokenizer.symbols)
    return counts
