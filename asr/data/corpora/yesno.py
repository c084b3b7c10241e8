"""Kaldi's yes/no corpus (OpenSLR 1): ``waves_yesno/<labels>.wav``, the file name is the transcript.

``0_1_1_0_0_1_0_1.wav`` says "no yes yes no no yes no yes". Kaldi's ``egs/yesno`` split is kept:
names starting with ``0`` are training data (31 files), names starting with ``1`` are test data (29).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from asr.data.manifest import Utterance, write_manifest
from asr.data.scan import readable_duration
from asr.errors import ManifestError

log = logging.getLogger(__name__)

_LABELS = re.compile(r"^[01](_[01])*$")
_WORDS = {"0": "no", "1": "yes"}


def find_yesno_waves(corpus_dir: str | os.PathLike) -> Path:
    """Accept either ``waves_yesno/`` itself or the folder holding it."""
    corpus_dir = Path(corpus_dir).absolute()
    for candidate in (corpus_dir / "waves_yesno", corpus_dir):
        if candidate.is_dir() and any(candidate.glob("*.wav")):
            return candidate
    raise ManifestError(f"{corpus_dir}: not a yesno corpus (expected waves_yesno/ with <labels>.wav files)")


def yesno_transcript(name: str) -> str:
    """``'0_1_1'`` (a file stem) -> ``'no yes yes'``."""
    if not _LABELS.match(name):
        raise ManifestError(f"'{name}' is not a yesno file name (0/1 labels joined by '_')")
    return " ".join(_WORDS[label] for label in name.split("_"))


def prepare_yesno(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike, dev_count: int = 5) -> dict[str, Path]:
    """Write ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl`` to ``out_dir``.

    Kaldi's split has no dev set; the last ``dev_count`` training files (by name) become one, so that
    model selection never looks at the test half. ``train_all.jsonl`` keeps all 31 training files.
    """
    waves = find_yesno_waves(corpus_dir)
    splits: dict[str, list[Utterance]] = {"train": [], "test": []}
    for wav in sorted(waves.glob("*.wav")):
        if not _LABELS.match(wav.stem):
            log.warning("%s: not a yesno recording (the name is not a 0/1 label sequence), skipped", wav)
            continue
        duration = readable_duration(wav)
        if duration is None:
            continue
        split = "train" if wav.stem.startswith("0") else "test"
        splits[split].append(Utterance(id=wav.stem, audio=str(wav), duration=duration, text=yesno_transcript(wav.stem)))
    for split, utterances in splits.items():
        if not utterances:
            raise ManifestError(
                f"{waves}: no usable {split} recordings (names starting with {'0' if split == 'train' else '1'})"
            )
    out_dir = Path(out_dir)
    train_all = splits["train"]
    if 0 < dev_count < len(train_all):
        splits["train_all"] = train_all
        splits["train"], splits["dev"] = train_all[:-dev_count], train_all[-dev_count:]
    return {split: write_manifest(out_dir / f"{split}.jsonl", utterances) for split, utterances in splits.items()}
