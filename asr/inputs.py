"""What ``asr transcribe`` reads: files, folders (recursive), glob patterns and ``-`` for standard input.

:func:`expand_inputs` turns the command-line arguments into a list of :class:`AudioInput`, each with the
name of the transcript file it gets under ``--output-dir`` (relative, without extension). Standard input is
copied to a temporary file that lives as long as the ``with`` block of :func:`expand_inputs`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import BinaryIO

from asr.data.importers.folder import AUDIO_EXTENSIONS as _FOLDER_EXTENSIONS
from asr.errors import AsrError, AudioError

# The extensions `asr prepare folder` imports, which folders and patterns are searched for. soundfile tells
# the format from the content, so a file named explicitly (or standard input) may have any name.
AUDIO_EXTENSIONS = tuple(sorted(_FOLDER_EXTENSIONS))
STDIN = "-"
STDIN_NAME = "<stdin>"


@dataclass(frozen=True)
class AudioInput:
    path: Path  # the file to read
    name: str  # how messages name it: the path as found, or <stdin>
    output: PurePath  # its transcript's path under --output-dir, without extension


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def _folder_files(root: Path) -> list[Path]:
    """Audio files under ``root``, recursively, sorted; hidden files and folders (``._a.wav``) skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if not f.startswith(".") and _is_audio(Path(f))]
    return sorted(found)


def _has_magic(arg: str) -> bool:
    return glob.has_magic(arg)


def _from_folder(root: Path) -> list[AudioInput]:
    files = _folder_files(root)
    if not files:
        raise AsrError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder or below")
    return [AudioInput(f, str(f), f.relative_to(root).with_suffix("")) for f in files]


def _from_glob(pattern: str) -> list[AudioInput]:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise AsrError(f"{pattern}: no file matches this pattern")
    inputs: list[AudioInput] = []
    for match in map(Path, matches):
        if match.is_dir():
            with contextlib.suppress(AsrError):  # a matched folder without audio is not an error of the pattern
                inputs += _from_folder(match)
        elif _is_audio(match):
            inputs.append(AudioInput(match, str(match), PurePath(match.stem)))
    if not inputs:
        raise AsrError(f"{pattern}: the pattern matches no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return inputs


def _disambiguate(inputs: list[AudioInput]) -> list[AudioInput]:
    """Give inputs that would share a transcript name distinct ones.

    Files from different folders get their path relative to the folders' common ancestor (``a/x``, ``b/x``);
    files of one folder that differ only by extension keep it (``x.wav``, ``x.flac``).
    """
    groups: dict[PurePath, list[int]] = {}
    for i, item in enumerate(inputs):
        groups.setdefault(item.output, []).append(i)
    out = list(inputs)
    for indices in groups.values():
        if len(indices) < 2:
            continue
        paths = [inputs[i].path.absolute() for i in indices]
        common = Path(os.path.commonpath([p.parent for p in paths]))
        for i, path in zip(indices, paths):
            rel = path.relative_to(common)
            same_stem = sum(1 for p in paths if p.parent == path.parent and p.stem == path.stem) > 1
            out[i] = replace(inputs[i], output=rel if same_stem else rel.with_suffix(""))
    owners: dict[PurePath, AudioInput] = {}
    for item in out:
        if item.output in owners:  # only a contrived mix of folders and files gets here
            raise AsrError(f"{item.name}: its transcript would be named like that of {owners[item.output].name} "
                           f"({item.output}); transcribe them in separate runs")
        owners[item.output] = item
    return out


def _copy_stdin(stream: BinaryIO, stack: contextlib.ExitStack) -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="asr-stdin-", delete=False)
    path = Path(handle.name)
    stack.callback(lambda: path.unlink(missing_ok=True))
    with handle:
        shutil.copyfileobj(stream, handle)
    if path.stat().st_size == 0:
        raise AudioError(f"{STDIN_NAME}: standard input is empty, expected audio")
    return path


@contextlib.contextmanager
def expand_inputs(args: Sequence[str], stdin: BinaryIO | None = None) -> Iterator[list[AudioInput]]:
    """The audio files that ``args`` name, in order, each once; temporary files are removed on exit.

    An argument is an existing file (any name), a folder (its audio files, recursively; their transcript
    names mirror the folder's layout), a glob pattern (expanded here too, for shells that do not) or ``-``
    (standard input, read once). A missing file, a pattern without matches and a folder without audio are
    :class:`AsrError` naming the argument.
    """
    with contextlib.ExitStack() as stack:
        inputs: list[AudioInput] = []
        stdin_path: Path | None = None
        for arg in args:
            path = Path(arg)
            if arg == STDIN:
                if stdin_path is None:
                    stdin_path = _copy_stdin(stdin if stdin is not None else sys.stdin.buffer, stack)
                    inputs.append(AudioInput(stdin_path, STDIN_NAME, PurePath("stdin")))
            elif path.is_dir():
                inputs += _from_folder(path)
            elif path.exists():
                inputs.append(AudioInput(path, arg, PurePath(path.stem)))
            elif _has_magic(arg):
                inputs += _from_glob(arg)
            else:
                raise AudioError(f"{arg}: audio file not found")
        seen: set[Path] = set()
        unique = []
        for item in inputs:
            key = item.path.resolve()
            if key not in seen:
                seen.add(key)
                unique.append(item)
        yield _disambiguate(unique)
