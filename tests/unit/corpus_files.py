"""Small files in corpus layouts, shared by the importer and corpus-preparation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 8000


def write_audio(path: Path, seconds: float = 0.3, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), rate)
    return path


def write_lines(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
