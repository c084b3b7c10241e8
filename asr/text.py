"""Text normalisation and the character tokenizer (blank + characters + word separator)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from asr.errors import TextError

BLANK = "<blank>"
WORD_SEP = "|"


@dataclass
class NormalizerConfig:
    lowercase: bool = True
    strip_punctuation: bool = True
    # Apostrophes carry meaning in English ("don't"), so they survive punctuation stripping by default.
    keep_chars: str = "'"
    unicode_form: str = "NFKC"


@dataclass
class TextNormalizer:
    config: NormalizerConfig = field(default_factory=NormalizerConfig)

    def __call__(self, text: str) -> str:
        cfg = self.config
        text = unicodedata.normalize(cfg.unicode_form, text)
        if cfg.lowercase:
            text = text.lower()
        if cfg.strip_punctuation:
            text = "".join(
                ch if (ch in cfg.keep_chars or not unicodedata.category(ch).startswith(("P", "S"))) else " "
                for ch in text
            )
        return re.sub(r"\s+", " ", text).strip()


class CharTokenizer:
    """Maps normalised text to ids: 0 is the CTC blank, ``|`` separates words."""

    unit_metric = "cer"

    def __init__(self, symbols: list[str]):
        if not symbols or symbols[0] != BLANK or WORD_SEP not in symbols:
            raise TextError(f"tokenizer symbols must start with {BLANK} and contain {WORD_SEP!r}")
        if len(set(symbols)) != len(symbols):
            raise TextError("tokenizer symbols must be unique")
        self.symbols = list(symbols)
        self._index = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def build(cls, texts: Iterable[str]) -> CharTokenizer:
        """Vocabulary from (already normalised) training transcripts, sorted for reproducibility."""
        chars = set()
        for text in texts:
            chars.update(text.replace(" ", ""))
        chars.discard(WORD_SEP)
        return cls([BLANK, WORD_SEP, *sorted(chars)])

    @property
    def blank_id(self) -> int:
        return 0

    @property
    def word_sep_id(self) -> int:
        return self._index[WORD_SEP]

    def __len__(self) -> int:
        return len(self.symbols)

    def unknown_chars(self, text: str) -> set[str]:
        return {ch for ch in text if ch != " " and ch not in self._index}

    unknown = unknown_chars

    def spell(self, word: str) -> list[str] | None:
        """The token spelling of ``word`` (its characters), or None if the model cannot spell it."""
        if not word or self.unknown_chars(word) or WORD_SEP in word:
            return None
        return list(word)

    def unit_string(self, ids: Iterable[int]) -> str:
        """Characters of ``ids`` (spaces between words): the string CER is computed on."""
        return self.decode(ids)

    def encode(self, text: str) -> list[int]:
        """Encode normalised text; characters the tokenizer does not know raise a TextError."""
        unknown = self.unknown_chars(text)
        if unknown:
            raise TextError(f"characters not in the tokenizer: {''.join(sorted(unknown))!r} in {text!r}")
        return [self._index[WORD_SEP if ch == " " else ch] for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids (already collapsed, without blanks) back to text with single spaces."""
        symbols, blank = self.symbols, self.blank_id
        return " ".join("".join([symbols[i] for i in ids if i != blank]).replace(WORD_SEP, " ").split())

    def to_dict(self) -> dict:
        return {"type": "char", "symbols": self.symbols}

    @classmethod
    def from_dict(cls, data: dict) -> CharTokenizer:
        if data.get("type") != "char":
            raise TextError(f"unknown tokenizer type {data.get('type')!r}")
        return cls(list(data["symbols"]))
