"""Corpus-specific preparation: turn a known corpus layout into train/dev/test manifests with its standard splits.

``CORPORA`` is the registry ``asr prepare NAME`` and ``asr download NAME`` look names up in, as
``asr.data.importers.IMPORTERS`` is for generic formats. Each entry imports its module only when used
(the demo generator pulls in eSpeak NG).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asr.errors import AsrError


@dataclass(frozen=True)
class Corpus:
    prepare: Callable[..., dict[str, Path]]  # (source or None, out_dir, **options) -> {split: manifest}
    needs_source: bool = True
    description: str = ""


def _yesno(source: Path, out_dir: Path, **_) -> dict[str, Path]:
    from asr.data.corpora.yesno import prepare_yesno

    return prepare_yesno(source, out_dir)


def _fsdd(source: Path, out_dir: Path, held_out_speaker: str = "theo", dev_speaker: str | None = None,
          **_) -> dict[str, Path]:
    from asr.data.corpora.fsdd import prepare_fsdd

    return prepare_fsdd(source, out_dir, held_out_speaker=held_out_speaker, dev_speaker=dev_speaker)


def _speechocean762(source: Path, out_dir: Path, **_) -> dict[str, Path]:
    from asr.data.corpora.speechocean762 import prepare_speechocean762

    return prepare_speechocean762(source, out_dir)


def _librispeech(source: Path, out_dir: Path, **_) -> dict[str, Path]:
    from asr.data.corpora.librispeech import prepare_librispeech

    return prepare_librispeech(source, out_dir)


def _an4(source: Path, out_dir: Path, **_) -> dict[str, Path]:
    from asr.data.corpora.an4 import prepare_an4

    return prepare_an4(source, out_dir)


def _demo(source: Path | None, out_dir: Path, seed: int = 0, **_) -> dict[str, Path]:
    from asr.data.corpora.demo import generate_demo_corpus

    return generate_demo_corpus(out_dir, seed=seed)


CORPORA: dict[str, Corpus] = {
    "yesno": Corpus(_yesno, description="Kaldi yes/no (OpenSLR 1)"),
    "fsdd": Corpus(_fsdd, description="Free Spoken Digit Dataset"),
    "speechocean762": Corpus(_speechocean762, description="non-native read English (OpenSLR 101)"),
    "librispeech": Corpus(_librispeech, description="LibriSpeech (OpenSLR 12): every part found, plus train-960"),
    "an4": Corpus(_an4, description="CMU AN4 alphanumeric census speech (SPHERE release)"),
    "demo": Corpus(_demo, needs_source=False, description="the built-in eSpeak NG corpus, generated"),
}


def prepare_corpus(name: str, source: str | os.PathLike | None, out_dir: str | os.PathLike,
                   **options) -> dict[str, Path]:
    """Write the manifests of corpus ``name`` (found in ``source``) into ``out_dir``; returns {split: path}."""
    corpus = CORPORA.get(name)
    if corpus is None:
        raise AsrError(f"unknown corpus '{name}'; known corpora: {', '.join(sorted(CORPORA))}")
    if corpus.needs_source and source is None:
        raise AsrError(f"asr prepare {name}: give the corpus folder")
    return corpus.prepare(Path(source) if source is not None else None, Path(out_dir), **options)
