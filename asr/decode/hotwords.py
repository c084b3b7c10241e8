"""Hotwords: user words and phrases whose score is raised during beam search."""

from __future__ import annotations

import os
from dataclasses import dataclass

from asr.errors import AsrError
from asr.limits import check_regular_file, short


class HotwordError(AsrError):
    pass


@dataclass(frozen=True)
class Hotword:
    words: tuple[str, ...]
    boost: float


def parse_hotword(spec: str, default_boost: float, where: str = "--hotword") -> Hotword:
    """``"word"``, ``"two words"`` or ``"word:2.5"`` -> Hotword (text is normalised by the caller)."""
    text, boost = spec, default_boost
    if ":" in spec:
        text, _, raw = spec.rpartition(":")
        try:
            boost = float(raw)
        except ValueError:
            raise HotwordError(f"{where}: boost in {short(spec)} is not a number") from None
        if not -1000 <= boost <= 1000:  # NaN fails too: a non-finite boost makes every beam score NaN
            raise HotwordError(f"{where}: boost in {short(spec)} must be a number in [-1000, 1000]")
    words = tuple(text.split())
    if not words:
        raise HotwordError(f"{where}: empty hotword in {short(spec)}")
    return Hotword(words, boost)


def read_hotwords(path: str | os.PathLike, default_boost: float) -> list[Hotword]:
    path = check_regular_file(path, "hotword file", HotwordError)
    hotwords = []
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise HotwordError(f"{path}: hotword file is not readable UTF-8 text ({short(str(exc))[1:-1]})") from None
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            hotwords.append(parse_hotword(line, default_boost, where=f"{path}:{line_no}"))
    if not hotwords:
        raise HotwordError(f"{path}: no hotwords in the file")
    return hotwords
