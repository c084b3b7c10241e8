"""speechocean762 (OpenSLR 101): Kaldi data directories, imported with :func:`import_kaldi_dir`.

Two layouts are accepted:

- the shared copy: ``train/ dev/ audio/``, ``wav.scp`` paths relative to the data directory (``../audio/...``);
- the original download: ``train/ test/ WAVE/``, ``wav.scp`` paths relative to the corpus root (``WAVE/...``).

Transcripts are kept as they are (upper case); normalisation is the text normaliser's job.
"""

from __future__ import annotations

import os
from pathlib import Path

from asr.data.importers.kaldi import import_kaldi_dir
from asr.data.manifest import write_manifest
from asr.errors import ManifestError

SPLITS = ("train", "dev", "test")
_EXPECTED = "train/, dev/ or test/, and audio/ (shared copy) or WAVE/ (original download)"


def check_speechocean762_layout(corpus_dir: str | os.PathLike) -> tuple[Path, Path | None, dict[str, Path]]:
    """Validate the layout: ``(corpus root, audio root for wav.scp paths or None, {split: data dir})``.

    ``corpus_dir`` may be the corpus folder or the folder the archive was extracted into.
    """
    corpus_dir = Path(corpus_dir).absolute()
    if not corpus_dir.is_dir():
        raise ManifestError(f"{corpus_dir}: speechocean762 corpus folder not found")
    root = corpus_dir
    if not (root / "train").is_dir() and (root / "speechocean762" / "train").is_dir():
        root = root / "speechocean762"
    if not (root / "train").is_dir():
        raise ManifestError(f"{root}: missing train/ (a speechocean762 corpus has {_EXPECTED})")
    splits = {name: root / name for name in SPLITS if (root / name).is_dir()}
    if len(splits) == 1:
        raise ManifestError(f"{root}: missing dev/ and test/ (a speechocean762 corpus has {_EXPECTED})")
    for name, data_dir in splits.items():
        for required in ("wav.scp", "text"):
            if not (data_dir / required).is_file():
                raise ManifestError(f"{data_dir}: missing {required} in the speechocean762 {name} directory")
    if (root / "WAVE").is_dir():
        audio_root: Path | None = root  # original release: 'WAVE/SPEAKERxxxx/<utt>.WAV', relative to the root
    elif (root / "audio").is_dir():
        audio_root = None
    else:
        raise ManifestError(f"{root}: missing audio/ or WAVE/ (a speechocean762 corpus has {_EXPECTED})")
    return root, audio_root, splits


def prepare_speechocean762(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``<split>.jsonl`` for each split present (train, dev, test); returns ``{split: path}``."""
    _, audio_root, splits = check_speechocean762_layout(corpus_dir)
    out_dir = Path(out_dir)
    return {
        name: write_manifest(out_dir / f"{name}.jsonl", import_kaldi_dir(data_dir, audio_root=audio_root))
        for name, data_dir in splits.items()
    }
