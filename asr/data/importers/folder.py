"""Import a folder tree of audio files, each with a same-named ``.txt`` transcript beside it.

``root/alice/001.wav`` + ``root/alice/001.txt`` becomes id ``alice-001`` with speaker ``alice``; files
directly in ``root`` have no speaker. Audio without a transcript, or whose header cannot be read, is
skipped, counted and logged: a folder of recordings is often only partly transcribed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from asr.data.manifest import Utterance
from asr.data.scan import readable_duration
from asr.errors import ManifestError

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3"})


def _read_transcript(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    # A transcript wrapped over several lines is still one utterance.
    return " ".join(text.split())


def import_audio_folder(root: str | os.PathLike) -> list[Utterance]:
    """Find audio files under ``root`` (recursively) that have a transcript; sorted by path."""
    root = Path(root).absolute()
    if not root.is_dir():
        raise ManifestError(f"{root}: audio folder not found")
    audio_files = sorted(
        p
        for p in root.rglob("*")
        # Hidden files include macOS '._name.wav' resource forks, which look like audio but are not.
        if p.suffix.lower() in AUDIO_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.is_file()
    )
    if not audio_files:
        raise ManifestError(f"{root}: no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) found")

    utterances: list[Utterance] = []
    sources: dict[str, Path] = {}
    untranscribed: list[Path] = []
    unreadable: list[Path] = []
    for audio in audio_files:
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            untranscribed.append(audio)
            continue
        rel = audio.relative_to(root).with_suffix("")
        utt_id = "-".join(rel.parts)
        if utt_id in sources:
            # Two files map to one id ('a.wav' and 'a.flac', or 'x/y.wav' and 'x-y.wav'): which is meant is a guess.
            raise ManifestError(f"{audio}: id '{utt_id}' is also the id of {sources[utt_id]}; rename one of them")
        sources[utt_id] = audio
        duration = readable_duration(audio)
        if duration is None:
            unreadable.append(audio)
            continue
        utterances.append(
            Utterance(
                id=utt_id,
                audio=str(audio),
                duration=duration,
                text=_read_transcript(transcript),
                speaker=rel.parent.name if len(rel.parts) > 1 else None,
            )
        )

    if untranscribed:
        shown = ", ".join(str(p.relative_to(root)) for p in untranscribed[:5])
        log.warning(
            "%s: %d audio files without a .txt transcript beside them were skipped (first: %s)",
            root,
            len(untranscribed),
            shown + (", ..." if len(untranscribed) > 5 else ""),
        )
    if unreadable:
        log.warning("%s: %d unreadable audio files were skipped", root, len(unreadable))
    if not utterances:
        raise ManifestError(
            f"{root}: no usable utterances ({len(audio_files)} audio files, {len(untranscribed)} without transcript, "
            f"{len(unreadable)} unreadable)"
        )
    return utterances
