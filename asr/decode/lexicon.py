"""Lexicons for constrained decoding: each word spelled with the model's units (characters or phones).

Spellings carry no trailing ``|``: our tokenizer emits ``|`` only between words, never after the last one,
so a spelling that demanded it would make the decoder steal the final character's frame for it. The
decoder treats ``|`` as the silence token between words instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from asr.errors import AsrError
from asr.io_utils import atomic_write
from asr.limits import check_regular_file
from asr.text import WORD_SEP

log = logging.getLogger(__name__)

# Words an n-gram LM carries that are not words: they never go into a lexicon.
LM_SPECIAL = {"<s>", "</s>", "<unk>"}


class LexiconError(AsrError):
    pass


def lexicon_from_words(
    words: Iterable[str], tokenizer, source: str = "", required: bool = True
) -> dict[str, list[str]]:
    """Spell every word; words the model cannot spell (characters it lacks, no pronunciation) are skipped
    with one warning. ``required``: an empty result is an error."""
    lexicon: dict[str, list[str]] = {}
    skipped: list[str] = []
    for word in words:
        if word in LM_SPECIAL or word in lexicon:
            continue
        spelling = tokenizer.spell(word)
        if spelling is None:
            skipped.append(word)
        else:
            lexicon[word] = spelling
    if skipped:
        log.warning("%s: %d word(s) the model cannot spell were left out of the lexicon: %s",
                    source or "lexicon", len(skipped), ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else ""))
    if not lexicon and required:
        raise LexiconError(f"{source or 'lexicon'}: no word can be spelled with the model's units")
    return lexicon


def read_lexicon(path: str | os.PathLike, tokenizer) -> dict[str, list[str]]:
    """Read ``word`` lines (a word list) or ``word t1 t2 ...`` lines (a lexicon; a trailing ``|`` is dropped).

    Spellings are checked against the model's tokens; a line that does not fit is reported with its file
    and line number and left out, so a typo cannot reach the C++ decoder.
    """
    path = Path(path)
    check_regular_file(path, "lexicon", LexiconError)  # never opens a FIFO or a device
    lexicon: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line_no, raw in enumerate(handle, start=1):
                parts = raw.split()
                if not parts:
                    continue
                word, spelling = parts[0], parts[1:]
                if not spelling:
                    spelled = tokenizer.spell(word)
                    if spelled is None:
                        log.warning("%s:%d: the model cannot spell %r, skipped", path, line_no, word)
                        continue
                    spelling = spelled
                else:
                    bad = [t for t in spelling if t not in tokenizer.symbols or t == tokenizer.symbols[0]]
                    if bad:
                        log.warning("%s:%d: tokens %s are not in the model's vocabulary, %r skipped",
                                    path, line_no, bad, word)
                        continue
                    while spelling and spelling[-1] == WORD_SEP:
                        spelling = spelling[:-1]
                    if not spelling or WORD_SEP in spelling:
                        log.warning("%s:%d: %r has no spelling besides the word separator, skipped",
                                    path, line_no, word)
                        continue
                lexicon.setdefault(word, spelling)
    except UnicodeDecodeError as exc:
        raise LexiconError(f"{path}: not valid UTF-8 text ({exc.reason} at byte {exc.start} of a line)") from None
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not lexicon:
        raise LexiconError(f"{path}: no usable entries")
    return lexicon


def write_lexicon(lexicon: dict[str, list[str]], path: str | os.PathLike) -> Path:
    with atomic_write(path) as handle:
        for word, spelling in lexicon.items():
            handle.write(f"{word}\t{' '.join(spelling)}\n")
    return Path(path)
