"""Import a Kaldi data directory (``wav.scp``, ``text``, optional ``utt2spk`` and ``segments``).

Only plain audio paths are supported in ``wav.scp``: piped commands and ``.ark`` offsets need Kaldi
itself to run, so they are rejected with the file and line rather than guessed at.

Inconsistent directories are common (a recipe filtered ``text`` but not ``wav.scp``), so an utterance
present in only one of the files is skipped, counted and logged, as is an utterance whose audio cannot
be read. Only if nothing usable is left is it an error. Malformed lines and duplicate ids are errors:
they mean the file itself is broken, and skipping would hide it.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path

from asr.data.manifest import Utterance
from asr.data.scan import readable_duration
from asr.errors import ManifestError
from asr.limits import MAX_SECONDS, file_kind, short

log = logging.getLogger(__name__)

# How many ids a warning or error quotes; the rest are only counted.
_SHOW = 5
# Segment ends may overshoot the recording by rounding in the tool that wrote them; Kaldi tolerates this too.
_END_TOLERANCE = 0.05
_ARK_OFFSET = re.compile(r"\.ark:\d+$")


def _first(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOW])
    return shown + (", ..." if len(ids) > _SHOW else "")


def read_kaldi_table(path: Path, require_value: bool = True) -> dict[str, tuple[str, int]]:
    """Read a ``key value...`` file into ``{key: (value, line_no)}``; errors name the file and line."""
    table: dict[str, tuple[str, int]] = {}
    try:
        # utf-8-sig: files edited on Windows often start with a byte-order mark that would join the first id.
        with open(path, encoding="utf-8-sig") as handle:
            for line_no, raw in enumerate(handle, start=1):
                line = raw.strip()
                if not line:
                    continue
                parts = line.split(maxsplit=1)
                key = parts[0]
                value = parts[1].strip() if len(parts) > 1 else ""
                if require_value and not value:
                    raise ManifestError(f"{path}:{line_no}: malformed line, expected '<id> <value>', got {short(line)}")
                if key in table:
                    raise ManifestError(f"{path}:{line_no}: duplicate id '{key}' (first on line {table[key][1]})")
                table[key] = (value, line_no)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return table


def _audio_path(value: str, line_no: int, scp: Path, audio_root: Path) -> str:
    where = f"{scp}:{line_no}"
    if value.endswith("|"):
        raise ManifestError(f"{where}: piped commands in wav.scp are unsupported; convert the audio to files first")
    if _ARK_OFFSET.search(value):
        raise ManifestError(f"{where}: archive offsets (.ark:N) in wav.scp are unsupported; use plain audio files")
    path = Path(value)
    if not path.is_absolute():
        path = audio_root / path
    # normpath rather than resolve(): resolving every path would stat thousands of files for nothing.
    return os.path.normpath(path)


def _segments(path: Path) -> dict[str, tuple[str, float, float, int]]:
    """``{utt: (recording, start, end, line_no)}``; ``end`` is -1 for 'to the end of the recording'."""
    segments: dict[str, tuple[str, float, float, int]] = {}
    for utt, (value, line_no) in read_kaldi_table(path).items():
        where = f"{path}:{line_no}"
        fields = value.split()
        if len(fields) != 3:
            raise ManifestError(f"{where}: malformed line, expected '<utt> <recording> <start> <end>'")
        try:
            start, end = float(fields[1]), float(fields[2])
        except ValueError:
            raise ManifestError(f"{where}: start and end must be numbers, got {short(fields[1])} "
                                f"{short(fields[2])}") from None
        # float() reads "nan" and "inf": a NaN start passed every comparison and reached the manifest.
        if not (math.isfinite(start) and math.isfinite(end)) or max(start, end) > MAX_SECONDS or start < 0 or \
                (end != -1 and end <= start):
            raise ManifestError(f"{where}: invalid segment times start={start} end={end}")
        segments[utt] = (fields[0], start, end, line_no)
    return segments


def import_kaldi_dir(data_dir: str | os.PathLike, audio_root: str | os.PathLike | None = None) -> list[Utterance]:
    """Read a Kaldi data directory into utterances, in the order of its ``text`` file.

    Relative paths in ``wav.scp`` are resolved against ``audio_root``, which defaults to the data
    directory itself (some corpora, like the original speechocean762, use paths relative to the corpus root).
    """
    data_dir = Path(data_dir).absolute()
    if not data_dir.is_dir():
        raise ManifestError(f"{data_dir}: Kaldi data directory not found")
    root = Path(audio_root).absolute() if audio_root is not None else data_dir
    for name in ("wav.scp", "text", "utt2spk", "segments"):
        kind = file_kind(data_dir / name)  # os.stat only: a FIFO named wav.scp is never opened
        if kind is not None and not kind.startswith("not found"):
            raise ManifestError(f"{data_dir / name}: is {kind}, expected a regular file")
    for name in ("wav.scp", "text"):
        if not (data_dir / name).is_file():
            raise ManifestError(f"{data_dir}: missing '{name}' (a Kaldi data directory needs wav.scp and text)")

    scp_path = data_dir / "wav.scp"
    recordings = {
        rec: _audio_path(value, line_no, scp_path, root) for rec, (value, line_no) in read_kaldi_table(scp_path).items()
    }
    # An empty transcript is legal in Kaldi (a silence-only utterance).
    texts = read_kaldi_table(data_dir / "text", require_value=False)
    speakers = {}
    if (data_dir / "utt2spk").is_file():
        speakers = {utt: spk for utt, (spk, _) in read_kaldi_table(data_dir / "utt2spk").items()}
    segments = _segments(data_dir / "segments") if (data_dir / "segments").is_file() else None

    orphans: list[str] = []
    if segments is None:
        keyed = "wav.scp"
        utt_keys = set(recordings)
    else:
        keyed = "segments"
        utt_keys = set(segments)
        orphans = sorted(utt for utt, seg in segments.items() if seg[0] not in recordings)
        if orphans:
            log.warning(
                "%s: %d segments name a recording missing from wav.scp, skipped (first: %s)",
                data_dir / "segments",
                len(orphans),
                _first(orphans),
            )
            utt_keys -= set(orphans)

    # Orphaned segments were reported above; counting them again as 'missing' would mislead.
    orphan_set = set(orphans)
    only_text = [utt for utt in texts if utt not in utt_keys and utt not in orphan_set]
    only_audio = sorted(utt_keys - set(texts))
    if only_text:
        log.warning(
            "%s: %d utterances in text are missing from %s, skipped (first: %s)",
            data_dir,
            len(only_text),
            keyed,
            _first(only_text),
        )
    if only_audio:
        log.warning(
            "%s: %d utterances in %s have no transcript in text, skipped (first: %s)",
            data_dir,
            len(only_audio),
            keyed,
            _first(only_audio),
        )

    durations: dict[str, float | None] = {}  # per recording: several segments share one header read

    def duration_of(rec: str) -> float | None:
        if rec not in durations:
            durations[rec] = readable_duration(recordings[rec], where=f"{scp_path}: recording '{rec}'")
        return durations[rec]

    utterances: list[Utterance] = []
    unreadable: list[str] = []
    out_of_range: list[str] = []
    for utt, (text, _) in texts.items():
        if utt not in utt_keys:
            continue
        rec, start, end = (utt, 0.0, -1.0) if segments is None else segments[utt][:3]
        total = duration_of(rec)
        if total is None:
            unreadable.append(utt)
            continue
        if end == -1:
            end = total
        elif end > total:
            if end > total + _END_TOLERANCE:
                out_of_range.append(utt)
                continue
            end = total
        if start >= end:
            out_of_range.append(utt)
            continue
        utterances.append(
            Utterance(
                id=utt,
                audio=recordings[rec],
                duration=end - start,
                text=text,
                speaker=speakers.get(utt),
                offset=start,
            )
        )

    if unreadable:
        log.warning(
            "%s: %d utterances skipped because their audio is unreadable (first: %s)",
            data_dir,
            len(unreadable),
            _first(unreadable),
        )
    if out_of_range:
        log.warning(
            "%s: %d segments extend past the end of their recording, skipped (first: %s)",
            data_dir / "segments",
            len(out_of_range),
            _first(out_of_range),
        )
    if not utterances:
        raise ManifestError(
            f"{data_dir}: no usable utterances ({len(texts)} in text, {len(utt_keys)} in {keyed}, "
            f"{len(only_text)} without audio entry, {len(only_audio)} without transcript, "
            f"{len(unreadable)} with unreadable audio)"
        )
    return utterances
