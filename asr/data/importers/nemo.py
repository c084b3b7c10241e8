"""Import a NeMo manifest: JSON lines with ``audio_filepath``, ``duration``, ``text`` and optional ``offset``.

NeMo manifests carry no utterance id, so one is made from the audio file's stem (plus the offset in
milliseconds when several utterances cut one recording), with ``-2``, ``-3``... added until it is unique.
The speaker, when given, is read from ``speaker`` or ``spk``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from asr.audio import audio_info
from asr.data.manifest import Utterance, parse_json_object
from asr.data.scan import finish_import, unique_id
from asr.errors import AudioError, ManifestError
from asr.limits import MAX_SECONDS, check_regular_file, short

log = logging.getLogger(__name__)


def _number(obj: dict, key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ManifestError(f"{where}: field '{key}' must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number) or abs(number) > MAX_SECONDS:  # json.loads accepts NaN and Infinity
        raise ManifestError(f"{where}: field '{key}' must be a number of seconds up to {MAX_SECONDS:g}, "
                            f"got {short(value)}")
    return number


def _parse_line(raw: str, where: str, folder: Path) -> tuple[str, str, float | None, float, str | None]:
    """Validate one line: ``(audio, text, duration or None, offset, speaker)``."""
    obj = parse_json_object(raw, where)
    for key in ("audio_filepath", "text"):
        if key not in obj:
            raise ManifestError(f"{where}: missing field '{key}'")
        if not isinstance(obj[key], str):
            raise ManifestError(f"{where}: field '{key}' must be a string, got {type(obj[key]).__name__}")
    if not obj["audio_filepath"]:
        raise ManifestError(f"{where}: field 'audio_filepath' is empty")
    offset = _number(obj, "offset", where) or 0.0
    duration = _number(obj, "duration", where)
    if offset < 0:
        raise ManifestError(f"{where}: offset must not be negative, got {offset}")
    if duration is not None and duration <= 0:
        raise ManifestError(f"{where}: duration must be positive, got {duration}")
    speaker = obj.get("speaker", obj.get("spk"))
    if speaker is not None and (isinstance(speaker, bool) or not isinstance(speaker, (str, int))):
        raise ManifestError(f"{where}: speaker must be a string or an integer, got {type(speaker).__name__}")
    audio = Path(obj["audio_filepath"])
    if not audio.is_absolute():
        audio = folder / audio  # the manifest's folder, never the current directory
    return os.path.normpath(audio), obj["text"], duration, offset, None if speaker is None else str(speaker)


def import_nemo_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Read a NeMo manifest; relative audio paths are resolved against the manifest's folder."""
    path = Path(path).absolute()
    check_regular_file(path, "NeMo manifest", ManifestError)  # never opens a FIFO or a device
    utterances: list[Utterance] = []
    taken: set[str] = set()
    skipped: list[str] = []
    try:
        with open(path, encoding="utf-8-sig") as handle:
            for line_no, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                where = f"{path}:{line_no}"
                audio, text, duration, offset, speaker = _parse_line(raw, where, path.parent)
                if duration is None:
                    # Only read the header when the manifest lacks the duration: it is the slow part.
                    try:
                        duration = audio_info(audio)[2] - offset
                    except AudioError as exc:
                        log.warning("%s: skipping utterance: %s", where, exc)
                        skipped.append(audio)
                        continue
                    if duration <= 0:
                        raise ManifestError(f"{where}: offset {offset}s is past the end of {audio}")
                elif not os.path.isfile(audio):
                    skipped.append(audio)
                    continue
                stem = Path(audio).stem
                base = f"{stem}-{round(offset * 1000)}" if offset else stem
                utterances.append(Utterance(unique_id(base, taken), audio, duration, text, speaker, offset))
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return finish_import(path, utterances, skipped)
