"""LibriSpeech (OpenSLR 12): ``LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac``.

Each chapter folder holds ``<speaker>-<chapter>.trans.txt``, one ``<utterance-id> TRANSCRIPT`` line per
recording (upper case, apostrophes kept). Every part present (``train-clean-100``, ``train-clean-360``,
``train-other-500``, ``dev-clean``, ``dev-other``, ``test-clean``, ``test-other``) becomes
``<part>.jsonl``; ``train-960.jsonl`` joins the three training parts when all are there, and
``train-100.jsonl`` is ``train-clean-100`` under the name the recipe uses.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from asr.data.manifest import Utterance, write_manifest
from asr.data.scan import readable_duration
from asr.errors import ManifestError

log = logging.getLogger(__name__)

PARTS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean",
         "test-other")
TRAIN_960 = PARTS[:3]


def find_librispeech(corpus_dir: str | os.PathLike) -> Path:
    """Accept the ``LibriSpeech`` folder itself or the folder holding it."""
    corpus_dir = Path(corpus_dir).absolute()
    for candidate in (corpus_dir / "LibriSpeech", corpus_dir):
        if candidate.is_dir() and any((candidate / part).is_dir() for part in PARTS):
            return candidate
    raise ManifestError(f"{corpus_dir}: not a LibriSpeech folder (expected LibriSpeech/<part>/ with one of "
                        f"{', '.join(PARTS)})")


def read_part(part_dir: Path) -> list[Utterance]:
    """Every utterance of one part, from its chapters' ``.trans.txt`` files, in id order."""
    utts: list[Utterance] = []
    for trans in sorted(part_dir.glob("*/*/*.trans.txt")):
        speaker = trans.parent.parent.name
        for line_no, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            uid, _, text = line.strip().partition(" ")
            if not uid.startswith(f"{speaker}-{trans.parent.name}-") or not text.strip():
                raise ManifestError(f"{trans}:{line_no}: expected '<speaker>-<chapter>-<n> TRANSCRIPT', "
                                    f"got {line.strip()[:80]!r}")
            flac = trans.parent / f"{uid}.flac"
            duration = readable_duration(flac, f"{trans}:{line_no}") if flac.is_file() else None
            if duration is None:
                if not flac.is_file():
                    log.warning("%s:%d: %s is missing, skipped", trans, line_no, flac.name)
                continue
            utts.append(Utterance(uid, str(flac), duration, text.strip(), speaker))
    return utts


def prepare_librispeech(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    root = find_librispeech(corpus_dir)
    out = Path(out_dir)
    written: dict[str, Path] = {}
    parts: dict[str, list[Utterance]] = {}
    for part in PARTS:
        if (root / part).is_dir():
            parts[part] = read_part(root / part)
            if not parts[part]:
                raise ManifestError(f"{root / part}: no transcribed recordings")
            written[part] = write_manifest(out / f"{part}.jsonl", parts[part])
    if "train-clean-100" in parts:
        written["train-100"] = write_manifest(out / "train-100.jsonl", parts["train-clean-100"])
    if all(p in parts for p in TRAIN_960):
        written["train-960"] = write_manifest(out / "train-960.jsonl", [u for p in TRAIN_960 for u in parts[p]])
    return written
