"""Shared by importers and corpus preparation: one unreadable file inside a corpus is a logged skip."""

from __future__ import annotations

import logging
import os

from asr.audio import audio_info
from asr.errors import AudioError, ManifestError

log = logging.getLogger("asr.data")


def readable_duration(path: str | os.PathLike, where: str = "") -> float | None:
    """Duration from the file header, or None (with a warning naming the file) if it cannot be read."""
    try:
        return audio_info(path)[2]
    except AudioError as exc:
        log.warning("%sskipping unreadable audio: %s", f"{where}: " if where else "", exc)
        return None


def unique_id(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... the first not in ``taken`` (which it joins)."""
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate)
    return candidate


def finish_import(path, utterances: list, skipped: list[str], unit: str = "utterances") -> list:
    """Log the entries skipped for missing or unreadable audio; an error if nothing usable is left."""
    if skipped:
        shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        log.warning("%s: %d %s skipped: audio missing or unreadable (%s)", path, len(skipped), unit, shown)
    if not utterances:
        detail = f" ({len(skipped)} {'' if unit == 'utterances' else unit + ' '}with missing or unreadable audio)"
        raise ManifestError(f"{path}: no usable utterances{detail if skipped else ''}")
    return utterances
