"""CMU AN4 (alphanumeric census data), the ``an4_sphere.tar.gz`` release: NIST SPHERE audio at 16 kHz.

``an4/etc/an4_train.transcription`` and ``an4_test.transcription`` hold one ``<s> TEXT </s> (recording)``
line per utterance (``<s>``/``</s>`` are optional); recording ``an251-fash-b`` is spoken by ``fash`` and
lives at ``an4/wav/an4_clstk/fash/an251-fash-b.sph`` (test: ``an4test_clstk``). libsndfile reads SPHERE
directly, so no conversion is needed. Splits: ``train`` (948 utterances) less a ``dev`` part of
``dev_count`` utterances (the first 100 by recording name; ESPnet also holds out 100), and ``test`` (130).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from asr.data.manifest import Utterance, write_manifest
from asr.data.scan import readable_duration
from asr.errors import ManifestError

_LINE = re.compile(r"^(?:<s>\s*)?(.*?)\s*(?:</s>)?\s*\(([^()\s]+)\)$")
_SPLITS = {"train": "an4_clstk", "test": "an4test_clstk"}


def find_an4(corpus_dir: str | os.PathLike) -> Path:
    corpus_dir = Path(corpus_dir).absolute()
    for candidate in (corpus_dir / "an4", corpus_dir):
        if (candidate / "etc" / "an4_train.transcription").is_file():
            return candidate
    raise ManifestError(f"{corpus_dir}: not an AN4 corpus (expected an4/etc/an4_train.transcription)")


def read_split(root: Path, split: str) -> list[Utterance]:
    transcription = root / "etc" / f"an4_{split}.transcription"
    if not transcription.is_file():
        raise ManifestError(f"{transcription}: missing")
    utts = []
    for line_no, line in enumerate(transcription.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if not match or match.group(2).count("-") != 2:
            raise ManifestError(f"{transcription}:{line_no}: expected '<s> TEXT </s> (name-speaker-x)', "
                                f"got {line.strip()[:80]!r}")
        text, recording = match.groups()
        speaker = recording.split("-")[1]
        audio = root / "wav" / _SPLITS[split] / speaker / f"{recording}.sph"
        duration = readable_duration(audio, f"{transcription}:{line_no}")
        if duration is not None and text.strip():
            utts.append(Utterance(recording, str(audio), duration, text.strip(), speaker))
    if not utts:
        raise ManifestError(f"{transcription}: no usable utterances")
    return sorted(utts, key=lambda u: u.id)


def prepare_an4(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike, dev_count: int = 100) -> dict[str, Path]:
    root = find_an4(corpus_dir)
    train, test = read_split(root, "train"), read_split(root, "test")
    if not 0 < dev_count < len(train):
        raise ManifestError(f"{root}: {len(train)} training utterances cannot give a dev set of {dev_count}")
    out = Path(out_dir)
    splits = {"train": train[dev_count:], "dev": train[:dev_count], "train_all": train, "test": test}
    return {name: write_manifest(out / f"{name}.jsonl", utts) for name, utts in splits.items()}
