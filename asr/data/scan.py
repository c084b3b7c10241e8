"""Shared by importers and corpus preparation: one unreadable file inside a corpus is a logged skip."""

from __future__ import annotations

import logging
import os

from asr.audio import audio_info
from asr.errors import AudioError

log = logging.getLogger("asr.data")


def readable_duration(path: str | os.PathLike, where: str = "") -> float | None:
    """Duration from the file header, or None (with a warning naming the file) if it cannot be read."""
    try:
        return audio_info(path)[2]
    except AudioError as exc:
        log.warning("%sskipping unreadable audio: %s", f"{where}: " if where else "", exc)
        return None
