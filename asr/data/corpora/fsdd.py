"""Free Spoken Digit Dataset: ``recordings/{digit}_{speaker}_{index}.wav``, the transcript is the digit's word.

Two splits are written, because they answer different questions:

- held-out speaker (``speaker_*``): train and dev on five speakers, test on all files of the sixth: does the
  model generalise to a voice it never heard?
- the dataset's own (``official_*``): index 0-4 of every speaker and digit is test, 5-49 train (with a dev part
  drawn from it): comparable with published FSDD numbers, but every test speaker is also a training speaker.

With a dev speaker (``dev_speaker``), a third split (``select_*``) is written for choosing a configuration
without looking at the held-out speaker: train and dev on the remaining four speakers, and ``select_test``
holds all files of the dev speaker. Neither the dev speaker nor the held-out speaker is in ``select_train``
or ``select_dev``; the held-out speaker is in no ``select_*`` file at all.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path

from asr.data.manifest import Utterance, write_manifest
from asr.data.scan import readable_duration
from asr.errors import AsrError, ManifestError

log = logging.getLogger(__name__)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
OFFICIAL_TEST_INDICES = range(0, 5)
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")


def find_fsdd_recordings(corpus_dir: str | os.PathLike) -> Path:
    """Accept ``recordings/`` itself or the folder holding it (this copy, or the extracted GitHub archive)."""
    corpus_dir = Path(corpus_dir).absolute()
    for candidate in (corpus_dir / "recordings", corpus_dir):
        if candidate.is_dir() and any(_NAME.match(p.stem) for p in candidate.glob("*.wav")):
            return candidate
    raise ManifestError(f"{corpus_dir}: not an FSDD corpus (expected recordings/ with <digit>_<speaker>_<index>.wav)")


def _read_recordings(recordings: Path) -> list[tuple[Utterance, int]]:
    """Every readable recording with its take index, sorted by file name."""
    found: list[tuple[Utterance, int]] = []
    for wav in sorted(recordings.glob("*.wav")):
        match = _NAME.match(wav.stem)
        if not match:
            log.warning("%s: not an FSDD recording name (<digit>_<speaker>_<index>.wav), skipped", wav)
            continue
        duration = readable_duration(wav)
        if duration is None:
            continue
        digit, speaker, index = match.groups()
        utt = Utterance(id=wav.stem, audio=str(wav), duration=duration, text=DIGIT_WORDS[int(digit)], speaker=speaker)
        found.append((utt, int(index)))
    if not found:
        raise ManifestError(f"{recordings}: no readable FSDD recordings")
    return found


def _split_dev(pool: list[Utterance], fraction: float, seed: int) -> tuple[list[Utterance], list[Utterance]]:
    # Sampling from the sorted pool with a private generator makes the split depend only on (files, seed).
    n_dev = max(1, round(len(pool) * fraction))
    if n_dev >= len(pool):
        raise AsrError(f"dev_fraction {fraction} leaves no training data out of {len(pool)} files")
    dev_ids = {u.id for u in random.Random(seed).sample(pool, n_dev)}
    return [u for u in pool if u.id not in dev_ids], [u for u in pool if u.id in dev_ids]


def prepare_fsdd(
    corpus_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    held_out_speaker: str = "theo",
    dev_fraction: float = 0.1,
    seed: int = 0,
    dev_speaker: str | None = None,
) -> dict[str, Path]:
    """Write the held-out-speaker and official splits (and the ``select_*`` split with a ``dev_speaker``);
    returns ``{"speaker_train": path, ...}``."""
    if not 0.0 < dev_fraction < 1.0:
        raise AsrError(f"dev_fraction must be between 0 and 1 (exclusive), got {dev_fraction}")
    recordings = find_fsdd_recordings(corpus_dir)
    found = _read_recordings(recordings)
    speakers = sorted({u.speaker for u, _ in found if u.speaker})
    if held_out_speaker not in speakers:
        raise AsrError(f"held-out speaker '{held_out_speaker}' is not in {recordings}; speakers: {', '.join(speakers)}")
    if dev_speaker is not None:
        if dev_speaker == held_out_speaker:
            raise AsrError(f"the dev speaker must differ from the held-out speaker ('{held_out_speaker}')")
        if dev_speaker not in speakers:
            raise AsrError(f"dev speaker '{dev_speaker}' is not in {recordings}; speakers: {', '.join(speakers)}")

    others = [u for u, _ in found if u.speaker != held_out_speaker]
    if not others:
        raise AsrError(f"{recordings}: only speaker '{held_out_speaker}' is present, nothing left to train on")
    speaker_train, speaker_dev = _split_dev(others, dev_fraction, seed)
    official_pool = [u for u, index in found if index not in OFFICIAL_TEST_INDICES]
    official_test = [u for u, index in found if index in OFFICIAL_TEST_INDICES]
    if not official_pool or not official_test:
        raise ManifestError(f"{recordings}: the official split needs takes 0-4 (test) and 5-49 (train)")
    official_train, official_dev = _split_dev(official_pool, dev_fraction, seed)

    splits = {
        "speaker_train": speaker_train,
        "speaker_dev": speaker_dev,
        "speaker_test": [u for u, _ in found if u.speaker == held_out_speaker],
        "official_train": official_train,
        "official_dev": official_dev,
        "official_test": official_test,
    }
    if dev_speaker is not None:
        rest = [u for u in others if u.speaker != dev_speaker]
        if not rest:
            raise AsrError(f"{recordings}: no speaker is left to train on besides the held-out speaker "
                           f"'{held_out_speaker}' and the dev speaker '{dev_speaker}'")
        splits["select_train"], splits["select_dev"] = _split_dev(rest, dev_fraction, seed)
        splits["select_test"] = [u for u in others if u.speaker == dev_speaker]
    out_dir = Path(out_dir)
    return {name: write_manifest(out_dir / f"{name}.jsonl", utterances) for name, utterances in splits.items()}
