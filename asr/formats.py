"""Transcripts as text: plain text, JSON, SRT and WebVTT subtitles, TSV word tables.

Pure functions of a :class:`~asr.decode.Hypothesis`: ``render(hyp, "srt")`` returns the file's text, and
:func:`write_transcript` writes it atomically. Subtitle cues are cut from the decoder's word times
(:func:`split_cues`): at pauses, when a cue's text would no longer fit its lines, and at a maximum length.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from asr.decode import Hypothesis, Word

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
EXTENSIONS = {"txt": ".txt", "json": ".json", "srt": ".srt", "vtt": ".vtt", "tsv": ".tsv"}
ALIASES = {"text": "txt"}  # the name `asr transcribe --format` used before there were other formats


@dataclass(frozen=True)
class CueOptions:
    """How words are grouped into subtitle cues."""

    max_chars: int = 42  # characters per line (42: the usual broadcast and Netflix limit)
    max_lines: int = 2  # lines per cue
    min_gap: float = 0.5  # a pause at least this long (seconds) between two words starts a new cue
    max_duration: float = 7.0  # seconds from a cue's first word's start to its last word's end

    def __post_init__(self) -> None:
        if self.max_chars < 1 or self.max_lines < 1:
            raise ValueError(f"max_chars and max_lines must be at least 1, got {self.max_chars}, {self.max_lines}")
        if self.min_gap < 0 or self.max_duration <= 0:
            raise ValueError(f"min_gap must be >= 0 and max_duration > 0, got {self.min_gap}, {self.max_duration}")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def wrap_words(words: list[str], max_chars: int) -> list[str]:
    """Greedy line filling: each line takes words while it stays within ``max_chars`` (a longer word stands alone)."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= max_chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def split_cues(words: list[Word], options: CueOptions | None = None) -> list[Cue]:
    """Group consecutive words into cues.

    A new cue starts at a pause of at least ``min_gap`` seconds, when the next word would make the cue's
    text need more than ``max_lines`` lines of ``max_chars``, or when it would make the cue last longer than
    ``max_duration``. A cue runs from its first word's start to its last word's end.
    """
    options = options or CueOptions()
    cues: list[Cue] = []
    group: list[Word] = []

    def flush() -> None:
        if group:
            end = max(group[-1].end, group[0].start)
            cues.append(Cue(group[0].start, end, tuple(wrap_words([w.word for w in group], options.max_chars))))
            group.clear()

    for word in words:
        if group:
            pause = word.start - group[-1].end >= options.min_gap
            too_long = word.end - group[0].start > options.max_duration
            too_wide = len(wrap_words([w.word for w in group] + [word.word], options.max_chars)) > options.max_lines
            if pause or too_long or too_wide:
                flush()
        group.append(word)
    flush()
    return cues


def timestamp(seconds: float, decimal: str = ".") -> str:
    """``HH:MM:SS.mmm`` (``decimal=","`` for SRT); hours keep counting past 99."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def to_txt(hyp: Hypothesis) -> str:
    return hyp.text + "\n"


def json_entry(hyp: Hypothesis, source: str | None = None) -> dict:
    """The JSON object of one transcript: file (if given), text, words with times and confidences, n-best."""
    entry: dict = {"file": source} if source is not None else {}
    entry["text"] = hyp.text
    entry["words"] = [{"word": w.word, "start": w.start, "end": w.end, "confidence": w.confidence} for w in hyp.words]
    if len(hyp.nbest) > 1:
        entry["nbest"] = [{"text": text, "score": round(score, 4)} for text, score in hyp.nbest]
    return entry


def to_json(hyp: Hypothesis, source: str | None = None, indent: int | None = None) -> str:
    return json.dumps(json_entry(hyp, source), ensure_ascii=False, indent=indent) + "\n"


def to_srt(hyp: Hypothesis, options: CueOptions | None = None) -> str:
    blocks = [
        f"{i}\n{timestamp(c.start, ',')} --> {timestamp(c.end, ',')}\n{c.text}\n"
        for i, c in enumerate(split_cues(hyp.words, options), 1)
    ]
    return "\n".join(blocks)


def to_vtt(hyp: Hypothesis, options: CueOptions | None = None) -> str:
    blocks = ["WEBVTT\n"] + [
        f"{timestamp(c.start)} --> {timestamp(c.end)}\n{c.text}\n" for c in split_cues(hyp.words, options)
    ]
    return "\n".join(blocks)


def to_tsv(hyp: Hypothesis) -> str:
    """One word per row: start and end in seconds, the word, its confidence; a header row first."""
    rows = ["start\tend\tword\tconfidence"]
    rows += [f"{w.start:.3f}\t{w.end:.3f}\t{w.word}\t{w.confidence:.4f}" for w in hyp.words]
    return "\n".join(rows) + "\n"


def format_name(name: str) -> str:
    """The canonical name of a format (``text`` -> ``txt``); ValueError for an unknown one."""
    name = ALIASES.get(name, name)
    if name not in FORMATS:
        raise ValueError(f"unknown transcript format {name!r}; known: {', '.join(FORMATS)}")
    return name


def render(hyp: Hypothesis, fmt: str, options: CueOptions | None = None, source: str | None = None,
           indent: int | None = None) -> str:
    """The text of a transcript file in format ``fmt`` (txt, json, srt, vtt, tsv)."""
    fmt = format_name(fmt)
    if fmt == "txt":
        return to_txt(hyp)
    if fmt == "json":
        return to_json(hyp, source, indent)
    if fmt == "srt":
        return to_srt(hyp, options)
    if fmt == "vtt":
        return to_vtt(hyp, options)
    return to_tsv(hyp)


def write_transcript(hyp: Hypothesis, path: str | os.PathLike, fmt: str | None = None,
                     options: CueOptions | None = None, source: str | None = None) -> Path:
    """Write ``hyp`` to ``path`` atomically; the format defaults to the one ``path``'s extension names."""
    from asr.io_utils import atomic_write

    path = Path(path)
    if fmt is None:
        by_extension = {ext: name for name, ext in EXTENSIONS.items()}
        if path.suffix.lower() not in by_extension:
            raise ValueError(f"{path}: cannot tell the format from the extension; give fmt ({', '.join(FORMATS)})")
        fmt = by_extension[path.suffix.lower()]
    text = render(hyp, fmt, options, source, indent=2)
    with atomic_write(path) as handle:
        handle.write(text)
    return path
