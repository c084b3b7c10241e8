"""Importers turn an existing corpus layout into utterances, ready for :func:`asr.data.manifest.write_manifest`.

``kaldi``: a Kaldi data directory; ``nemo``: a NeMo JSON-lines manifest; ``folder``: audio files with
same-named ``.txt`` transcripts; ``csv``: a CSV/TSV table with a header (audio and text columns);
``commonvoice``: a Common Voice release TSV with ``clips/``; ``lhotse``: lhotse cuts, or supervisions
with their recordings (JSONL, gzipped or not); ``manifest``: our own JSON-lines manifest (to convert it,
e.g. to lhotse cuts with :func:`write_lhotse_cuts`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from asr.data.importers.folder import import_audio_folder
from asr.data.importers.kaldi import import_kaldi_dir
from asr.data.importers.lhotse_jsonl import import_lhotse, write_lhotse_cuts
from asr.data.importers.nemo import import_nemo_manifest
from asr.data.importers.tabular import import_common_voice, import_csv
from asr.data.manifest import Utterance, read_manifest
from asr.errors import AsrError

IMPORTERS: dict[str, Callable[[Path], list[Utterance]]] = {
    "kaldi": import_kaldi_dir,
    "nemo": import_nemo_manifest,
    "folder": import_audio_folder,
    "csv": import_csv,
    "commonvoice": import_common_voice,
    "lhotse": import_lhotse,
    "manifest": read_manifest,
}


def import_corpus(kind: str, source: str | os.PathLike) -> list[Utterance]:
    """Import ``source`` with the importer registered as ``kind``."""
    try:
        importer = IMPORTERS[kind]
    except KeyError:
        raise AsrError(f"unknown corpus format '{kind}'; known formats: {', '.join(sorted(IMPORTERS))}") from None
    return importer(Path(source))


__all__ = ["IMPORTERS", "import_audio_folder", "import_common_voice", "import_corpus", "import_csv",
           "import_kaldi_dir", "import_lhotse", "import_nemo_manifest", "write_lhotse_cuts"]
