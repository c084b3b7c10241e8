"""Import CSV and TSV transcript tables: a generic ``audio,text`` table with a header, and Common Voice.

Generic (``asr prepare csv``): a header row names the columns; the audio column is ``audio`` (or ``path``,
``file``, ``filename``, ``wav``, ``audio_filepath``), the text column ``text`` (or ``sentence``,
``transcript``, ``transcription``); ``id``, ``duration`` (seconds), ``offset`` and ``speaker`` are optional.
A ``.tsv`` file is tab-separated, any other comma-separated (RFC 4180 quoting). Relative audio paths are
relative to the table's folder.

Common Voice (``asr prepare commonvoice``): a release's ``validated.tsv`` (or ``train.tsv``, ``dev.tsv``...,
or the release folder, meaning its ``validated.tsv``): tab-separated with ``client_id``, ``path`` and
``sentence`` columns, audio in ``clips/`` beside it; the speaker is ``client_id``, the id the clip's name.
Its TSVs are written without quoting (a sentence may hold a lone ``"``), so they are read that way. Durations
come from the release's ``clip_durations.tsv`` (milliseconds) when it is there, else from each clip's header.

Rows whose audio file is missing or unreadable are skipped and counted (a partial download); a row that
cannot be an utterance (wrong field count, empty path, a duration that is not a positive number) is an
error naming the file and line.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from asr.data.manifest import Utterance
from asr.data.scan import finish_import, readable_duration, unique_id
from asr.errors import ManifestError
from asr.limits import MAX_SECONDS, check_regular_file, short

AUDIO_COLUMNS = ("audio", "path", "file", "filename", "wav", "audio_filepath")
TEXT_COLUMNS = ("text", "sentence", "transcript", "transcription")
SPEAKER_COLUMNS = ("speaker", "client_id", "spk")


def _read_text(path: Path, what: str) -> str:
    check_regular_file(path, what, ManifestError)  # never opens a FIFO or a device
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ManifestError(f"{path}:{line}: not valid UTF-8 ({exc.reason})") from None


def _rows(path: Path, delimiter: str, quoting: int, what: str):
    """``(line number, {column: value})`` per data row, after checking each row's field count."""
    text = _read_text(path, what)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter, quoting=quoting, strict=True)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise ManifestError(f"{path}: empty {what} (the first line must name the columns)")
        header = [h.strip().lower() for h in header]
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            if not row or not any(field.strip() for field in row):
                continue
            if len(row) != len(header):
                raise ManifestError(f"{path}:{start}: {len(row)} fields, but the header has {len(header)}"
                                    f" ({'tab' if delimiter == chr(9) else repr(delimiter)}-separated)")
            yield start, dict(zip(header, row))
    except csv.Error as exc:
        raise ManifestError(f"{path}:{reader.line_num}: not a readable {what} row ({exc})") from None


def _column(header: set[str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in header), None)


def _seconds(value: str, column: str, where: str, positive: bool) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ManifestError(f"{where}: {column} must be a number of seconds, got {short(value)}") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0) or number > MAX_SECONDS:
        kind = "positive" if positive else "non-negative"
        raise ManifestError(f"{where}: {column} must be a {kind} number of seconds up to {MAX_SECONDS:g}, "
                            f"got {short(value)}")
    return number


def _clip_durations(folder: Path) -> dict[str, float]:
    """Common Voice's ``clip_durations.tsv`` (``clip``, ``duration[ms]``), if the release has one."""
    path = folder / "clip_durations.tsv"
    if not path.is_file():
        return {}
    out: dict[str, float] = {}
    for line_no, row in _rows(path, "\t", csv.QUOTE_NONE, "clip durations table"):
        ms = row.get("duration[ms]", row.get("duration"))
        if "clip" not in row or ms is None:
            raise ManifestError(f"{path}:1: expected columns 'clip' and 'duration[ms]'")
        out[row["clip"]] = _seconds(ms, "duration[ms]", f"{path}:{line_no}", positive=True) / 1000.0
    return out


def import_table(path: str | os.PathLike, common_voice: bool = False) -> list[Utterance]:
    """Utterances of a CSV/TSV table with a header (see the module notes); ``common_voice``: a CV release TSV."""
    path = Path(path).absolute()
    if common_voice and path.is_dir():
        path = path / "validated.tsv"
    what = "Common Voice TSV" if common_voice else "CSV/TSV table"
    tsv = common_voice or path.suffix.lower() == ".tsv"
    # Common Voice never quotes; a generic CSV may ("a, b" in a transcript).
    rows = _rows(path, "\t" if tsv else ",", csv.QUOTE_NONE if common_voice else csv.QUOTE_MINIMAL, what)
    clips = path.parent / "clips" if common_voice else path.parent
    durations = _clip_durations(path.parent) if common_voice else {}

    utterances: list[Utterance] = []
    taken: set[str] = set()
    skipped: list[str] = []
    columns = None
    for line_no, row in rows:
        where = f"{path}:{line_no}"
        if columns is None:
            header = set(row)
            audio_col = "path" if common_voice else _column(header, AUDIO_COLUMNS)
            text_col = "sentence" if common_voice else _column(header, TEXT_COLUMNS)
            for col, names in ((audio_col, AUDIO_COLUMNS), (text_col, TEXT_COLUMNS)):
                if col is None or col not in header:
                    wanted = repr(col) if col else " or ".join(repr(n) for n in names)
                    found = short(", ".join(sorted(header)), 200)
                    raise ManifestError(f"{path}:1: no {wanted} column (header: {found})")
            columns = (audio_col, text_col, _column(header, SPEAKER_COLUMNS))
        audio_col, text_col, speaker_col = columns
        name = row[audio_col].strip()
        if not name:
            raise ManifestError(f"{where}: empty '{audio_col}' field")
        audio = Path(os.path.normpath(clips / name))
        offset = _seconds(row["offset"], "offset", where, positive=False) if row.get("offset", "").strip() else 0.0
        if row.get("duration", "").strip():
            duration = _seconds(row["duration"], "duration", where, positive=True)
            if not audio.is_file():
                skipped.append(name)
                continue
        elif name in durations and audio.is_file():
            duration = durations[name]
        else:
            duration = readable_duration(audio, where) if audio.is_file() else None
            if duration is None:
                skipped.append(name)
                continue
            duration -= offset
            if duration <= 0:
                raise ManifestError(f"{where}: offset {offset}s is past the end of {audio}")
        base = row.get("id", "").strip() or Path(name).stem
        speaker = row.get(speaker_col, "").strip() if speaker_col else ""
        utterances.append(Utterance(unique_id(base, taken), str(audio), duration, row[text_col].strip(),
                                    speaker or None, offset))
    return finish_import(path, utterances, skipped, unit="rows")


def import_csv(path: str | os.PathLike) -> list[Utterance]:
    """A generic CSV (or ``.tsv``) table with a header naming an audio and a text column."""
    return import_table(path)


def import_common_voice(path: str | os.PathLike) -> list[Utterance]:
    """A Common Voice TSV (``validated.tsv`` by default when given the release folder); audio in ``clips/``."""
    return import_table(path, common_voice=True)
