"""Atomic file writing: outputs appear complete or not at all, never half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from asr.errors import AsrError, OutputError


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``, if it is one or wraps one.

    torch.save turns a failed ``write`` into a RuntimeError ("unexpected pos") whose context is the
    OSError; other exceptions are left alone, so a bug inside the block is never reported as a full disk.
    """
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, RuntimeError):
        inner = exc.__cause__ or exc.__context__
        return inner if isinstance(inner, OSError) else None
    return None


def _output_error(target: Path, cause: OSError) -> OutputError:
    reason = cause.strerror or str(cause) or type(cause).__name__
    error = OutputError(f"{target}: cannot write ({reason}); the previous file, if any, is unchanged")
    error.errno = cause.errno  # str() stays the message above: OSError only reformats when strerror is set too
    return error


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it over ``path`` only if the block succeeds.

    A file-system failure (disk full, no permission, read-only folder) becomes an :class:`OutputError`
    naming ``path``; the previous ``path`` is left as it was and the temporary file is removed.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _output_error(target, exc) from exc
    if "b" in mode:
        encoding = None
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            # mkstemp creates 0600 files; outputs get the permissions a plain open() would give them.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_name, 0o666 & ~umask)
            yield handle
            handle.flush()
            # Without fsync a crash soon after the rename can leave an empty file under the new name.
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        cause = None if isinstance(exc, AsrError) else _os_error_in(exc)
        if cause is not None:
            raise _output_error(target, cause) from exc
        raise


def open_text(path: str | os.PathLike) -> IO[str]:
    """A UTF-8 text file for reading; ``.gz`` files are decompressed as they are read."""
    from asr.limits import file_kind

    kind = file_kind(path)  # os.stat only: a FIFO or a device is never opened (it would block or never end)
    if kind is not None and not kind.startswith("not found"):
        raise AsrError(f"{path}: text file is {kind}, expected a regular file")
    if str(path).endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """Lines of a (possibly gzipped) UTF-8 text; a missing or undecodable file is one AsrError naming it."""
    from asr.errors import AsrError

    try:
        with open_text(path) as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        raise AsrError(f"{path}: text file not found") from None
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise AsrError(f"{path}: not readable UTF-8 text ({exc})") from None
