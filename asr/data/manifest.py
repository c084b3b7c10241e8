"""JSON-lines manifests: one utterance per line, simple enough to write by hand.

Each line is an object with ``id``, ``audio`` (path relative to the manifest's folder, or absolute),
``duration`` (seconds) and ``text``; ``speaker`` and ``offset`` (seconds) are optional.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asr.errors import ManifestError
from asr.io_utils import atomic_write
from asr.limits import MAX_SECONDS, check_regular_file, short

_REQUIRED = {"id": str, "audio": str, "duration": (int, float), "text": str}
_OPTIONAL = {"speaker": str, "offset": (int, float)}


@dataclass(frozen=True)
class Utterance:
    """One manifest entry. ``audio`` is always an absolute path once read from a manifest."""

    id: str
    audio: str
    duration: float
    text: str
    speaker: str | None = None
    offset: float = 0.0

    def to_json(self, relative_to: Path | None = None) -> dict:
        audio = self.audio
        if relative_to is not None:
            try:
                audio = os.path.relpath(self.audio, relative_to)
            except ValueError:  # different drive on Windows
                pass
        entry: dict = {"id": self.id, "audio": audio, "duration": round(float(self.duration), 4), "text": self.text}
        if self.speaker is not None:
            entry["speaker"] = self.speaker
        if self.offset:
            entry["offset"] = self.offset
        return entry


def parse_json_object(raw: str, where: str) -> dict:
    """One JSON-lines record; ``where`` (file:line) prefixes every error."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # an integer beyond Python's digit limit; [[[[... nested deep
        raise ManifestError(f"{where}: not a usable JSON value ({short(str(exc), 100)[1:-1]})") from None
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _finite(value: float) -> bool:
    """Finite and at most MAX_SECONDS (a year): beyond, sums and products of times overflow."""
    try:
        return math.isfinite(value) and abs(value) <= MAX_SECONDS
    except OverflowError:  # an integer too large for a float
        return False


def _parse_line(raw: str, path: Path, line_no: int) -> Utterance:
    where = f"{path}:{line_no}"
    obj = parse_json_object(raw, where)
    for key, kind in _REQUIRED.items():
        if key not in obj:
            raise ManifestError(f"{where}: missing field '{key}'")
        if not isinstance(obj[key], kind) or isinstance(obj[key], bool):
            raise ManifestError(f"{where}: field '{key}' has the wrong type ({type(obj[key]).__name__})")
    for key, kind in _OPTIONAL.items():
        if key in obj and obj[key] is not None and not isinstance(obj[key], kind):
            raise ManifestError(f"{where}: field '{key}' has the wrong type ({type(obj[key]).__name__})")
    for key in ("id", "audio"):
        if not obj[key].strip():
            raise ManifestError(f"{where}: field '{key}' is empty")
    # json.loads accepts NaN and Infinity; either would poison the length buckets and batch sizes.
    # (An integer too large for a float, 1 followed by 400 zeros, counts as infinite.)
    if not _finite(obj["duration"]) or obj["duration"] <= 0:
        raise ManifestError(f"{where}: duration must be a positive number of seconds up to {MAX_SECONDS:g}, "
                            f"got {short(obj['duration'])}")
    offset = obj.get("offset")
    if offset is not None and (not _finite(offset) or offset < 0):
        raise ManifestError(f"{where}: offset must be a number of seconds >= 0, got {short(offset)}")
    audio = Path(obj["audio"])
    if not audio.is_absolute():
        audio = path.parent / audio  # relative to the manifest, never the current directory
    return Utterance(
        id=obj["id"],
        audio=str(audio.resolve()),
        duration=float(obj["duration"]),
        text=obj["text"],
        speaker=obj.get("speaker"),
        offset=float(obj.get("offset") or 0.0),
    )


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Read and validate a manifest; errors name the file and line."""
    path = Path(path).absolute()
    check_regular_file(path, "manifest", ManifestError)  # never opens a FIFO or a device
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    try:
        with open(path, "rb") as handle:
            for line_no, raw_bytes in enumerate(handle, start=1):
                try:
                    # utf-8-sig on the first line: editors on Windows often start a file with a byte-order mark.
                    raw = raw_bytes.decode("utf-8-sig" if line_no == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise ManifestError(
                        f"{path}:{line_no}: not valid UTF-8 ({exc.reason} at byte {exc.start} of the line)"
                    ) from None
                if not raw.strip():
                    continue
                utt = _parse_line(raw, path, line_no)
                if utt.id in seen:
                    raise ManifestError(f"{path}:{line_no}: duplicate id '{utt.id}' (first on line {seen[utt.id]})")
                seen[utt.id] = line_no
                utterances.append(utt)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not utterances:
        raise ManifestError(f"{path}: manifest is empty")
    return utterances


def write_manifest(path: str | os.PathLike, utterances: Iterable[Utterance]) -> Path:
    """Write a manifest atomically, with audio paths relative to its folder."""
    path = Path(path).absolute()
    with atomic_write(path) as handle:
        for utt in utterances:
            _check_writable(utt, path)
            handle.write(json.dumps(utt.to_json(relative_to=path.parent), ensure_ascii=False) + "\n")
    return path


def _check_writable(utt: Utterance, path: Path) -> None:
    """What ``read_manifest`` would refuse is never written: an importer's manifest always reads back."""
    problem = None
    if not isinstance(utt.duration, (int, float)) or not _finite(utt.duration) or utt.duration <= 0:
        problem = f"duration must be a positive number, got {short(utt.duration)}"
    elif not isinstance(utt.offset, (int, float)) or not _finite(utt.offset) or utt.offset < 0:
        problem = f"offset must be a number of seconds >= 0, got {short(utt.offset)}"
    elif not str(utt.id).strip() or not str(utt.audio).strip():
        problem = "empty id or audio path"
    else:
        try:
            for field_ in (utt.id, utt.audio, utt.text, utt.speaker or ""):
                field_.encode("utf-8")
        except UnicodeEncodeError:
            problem = "text is not valid Unicode (a lone surrogate, from a \\udXXX escape?)"
    if problem is not None:
        raise ManifestError(f"{path}: cannot write utterance {short(utt.id)}: {problem}")


def total_hours(utterances: Iterable[Utterance]) -> float:
    return sum(u.duration for u in utterances) / 3600.0
