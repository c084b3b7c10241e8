"""Download and unpack corpora: streamed to a temporary file, checksum-verified, then renamed into place.

A file at the destination is therefore always complete, and one whose checksum matches is reused
instead of downloaded again. Archives are checked member by member before anything is written, so a
malicious path (``../x``, ``/etc/x``, a link pointing outside) leaves the destination untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from asr.errors import AsrError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class CorpusSource:
    url: str  # "": the user supplies it (asr download NAME --url URL), e.g. a Common Voice release link
    md5: str | None = None
    sha256: str | None = None
    extract: bool = True  # False: a single file (an LM, a word list), kept as downloaded


_LIBRISPEECH_SHA256 = {
    # As published with torchaudio's LIBRISPEECH dataset (the same archives OpenSLR 12 serves).
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
}


CORPUS_URLS: dict[str, CorpusSource] = {
    # md5 as published by OpenSLR for resource 1.
    "yesno": CorpusSource(
        "https://www.openslr.org/resources/1/waves_yesno.tar.gz", md5="962ff6e904d2df1126132ecec6978786"
    ),
    # Checksum unknown offline (no published value was at hand when this was written): the download is not verified.
    "speechocean762": CorpusSource("https://www.openslr.org/resources/101/speechocean762.tar.gz"),
    # Checksum unknown offline; GitHub also does not promise byte-stable archives of a tag.
    "fsdd": CorpusSource("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"),
    **{f"librispeech-{part}": CorpusSource(f"https://www.openslr.org/resources/12/{part}.tar.gz", sha256=sha)
       for part, sha in _LIBRISPEECH_SHA256.items()},
    # OpenSLR 11, LibriSpeech's official LM resources: checksums unknown offline, not verified.
    **{f"librispeech-lm-{name}": CorpusSource(f"https://www.openslr.org/resources/11/{file}", extract=False)
       for name, file in (("4gram", "4-gram.arpa.gz"), ("3gram", "3-gram.arpa.gz"),
                          ("3gram-pruned", "3-gram.pruned.1e-7.arpa.gz"),
                          ("text", "librispeech-lm-norm.txt.gz"), ("vocab", "librispeech-vocab.txt"),
                          ("lexicon", "librispeech-lexicon.txt"))},
    # The SPHERE release deepspeech.pytorch and NeMo use; CMU's server is often down, Hugging Face mirrors it.
    # Checksum unknown offline: not verified.
    "an4": CorpusSource("https://huggingface.co/datasets/espnet/an4/resolve/main/an4_sphere.tar.gz"),
    # Mozilla gives each user a signed download link for a release: pass it with --url.
    "commonvoice": CorpusSource(""),
}


def _hashers(sha256: str | None, md5: str | None) -> dict[str, tuple[str, hashlib._Hash]]:
    expected = {"sha256": sha256, "md5": md5}
    return {name: (value.lower(), hashlib.new(name)) for name, value in expected.items() if value}


def _mismatch(hashers: dict[str, tuple[str, hashlib._Hash]]) -> str | None:
    """Describe the first checksum that does not match, or None if all match."""
    for name, (expected, hasher) in hashers.items():
        if hasher.hexdigest() != expected:
            return f"{name} {hasher.hexdigest()}, expected {expected}"
    return None


def _file_mismatch(path: Path, sha256: str | None, md5: str | None) -> str | None:
    hashers = _hashers(sha256, md5)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            for _, hasher in hashers.values():
                hasher.update(chunk)
    return _mismatch(hashers)


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, verifying ``sha256``/``md5`` when given; a verified existing file is reused.

    Without a checksum an existing file is reused as is: it can only be there complete, since it was renamed
    into place after the download finished.
    """
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "ftp", "file"):
        raise AsrError(f"{url}: unsupported URL scheme '{scheme}' (use http, https, ftp or file)")
    dest = Path(dest).absolute()
    if dest.is_file():
        if not (sha256 or md5):
            log.info("%s exists, reusing it (no checksum to verify)", dest)
            return dest
        problem = _file_mismatch(dest, sha256, md5)
        if problem is None:
            log.info("%s exists and its checksum matches, reusing it", dest)
            return dest
        log.warning("%s exists but its checksum does not match (%s); downloading again", dest, problem)

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    hashers = _hashers(sha256, md5)
    try:
        log.info("downloading %s to %s", url, dest)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                for _, hasher in hashers.values():
                    hasher.update(chunk)
        problem = _mismatch(hashers)
        if problem is not None:
            raise AsrError(f"{url}: checksum mismatch, got {problem}; the download is corrupt or the file changed")
        os.replace(tmp_name, dest)
    except urllib.error.URLError as exc:
        raise AsrError(f"{url}: download failed ({exc.reason})") from None
    except (OSError, TimeoutError) as exc:
        raise AsrError(f"{url}: download failed ({exc})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    return dest


def _check_member(name: str, archive: Path) -> str:
    """The member's first path component; raises if the member would land outside the destination."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and ":" in path.parts[0]) or ".." in path.parts:
        raise AsrError(f"{archive}: unsafe path '{name}' in archive (absolute or leading outside); not extracted")
    parts = [p for p in path.parts if p != "."]
    return parts[0] if parts else ""


def _check_tar(tar: tarfile.TarFile, archive: Path) -> set[str]:
    top: set[str] = set()
    for member in tar.getmembers():
        top.add(_check_member(member.name, archive))
        if member.issym() or member.islnk():
            # A link is resolved from its own folder (symlink) or the archive root (hard link).
            base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
            target = PurePosixPath(member.linkname)
            depth = 0
            for part in () if target.is_absolute() else (base / target).parts:
                depth += -1 if part == ".." else (0 if part == "." else 1)
                if depth < 0:
                    break
            if target.is_absolute() or depth < 0:
                raise AsrError(f"{archive}: link '{member.name}' points outside the archive; not extracted")
        elif not (member.isfile() or member.isdir()):
            raise AsrError(f"{archive}: special file '{member.name}' (device or FIFO) in archive; not extracted")
    return top


def extract_archive(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> Path:
    """Extract a tar (optionally gz/bz2/xz compressed) or zip archive into ``dest_dir``.

    Returns the archive's single top-level folder when it has one (as corpus archives do), else ``dest_dir``.
    """
    archive = Path(archive).absolute()
    dest = Path(dest_dir).absolute()
    if not archive.is_file():
        raise AsrError(f"{archive}: archive not found")
    try:
        # Detected from the content, not the name: download URLs do not always end in the right extension.
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                top = {_check_member(name, archive) for name in zf.namelist()}
                dest.mkdir(parents=True, exist_ok=True)
                zf.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                top = _check_tar(tar, archive)
                dest.mkdir(parents=True, exist_ok=True)
                if hasattr(tarfile, "data_filter"):
                    # The standard library's own guard as well; it also drops setuid bits and odd permissions.
                    tar.extractall(dest, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    tar.extractall(dest)
        else:
            raise AsrError(f"{archive}: not a tar or zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise AsrError(f"{archive}: corrupt archive ({exc})") from None
    except OSError as exc:
        raise AsrError(f"{archive}: extraction into {dest} failed ({exc})") from None
    top.discard("")
    if len(top) == 1 and (dest / next(iter(top))).is_dir():
        return dest / next(iter(top))
    return dest


def download_corpus(name: str, dest_dir: str | os.PathLike, url: str | None = None,
                    sha256: str | None = None) -> Path:
    """Download and extract a corpus from :data:`CORPUS_URLS`; returns its folder (a single file: the file).
    Done once, then reused. ``url`` (and its ``sha256``) replaces the registered address."""
    if name not in CORPUS_URLS:
        raise AsrError(f"unknown corpus '{name}'; known corpora: {', '.join(sorted(CORPUS_URLS))}")
    source = CORPUS_URLS[name]
    if url:
        source = CorpusSource(url, sha256=sha256, extract=source.extract)
    elif not source.url:
        raise AsrError(f"asr download {name}: give the download link with --url (the corpus site issues one "
                       "per user)")
    dest = Path(dest_dir).absolute()
    if not source.extract:
        file_name = PurePosixPath(urllib.parse.urlparse(source.url).path).name
        return download_file(source.url, dest / file_name, sha256=source.sha256, md5=source.md5)
    # The marker is written last, so an interrupted extraction is redone rather than trusted.
    marker = dest / f".{name}.extracted"
    if marker.is_file():
        folder = dest / marker.read_text(encoding="utf-8").strip()
        if folder.is_dir():
            log.info("%s already extracted in %s", name, folder)
            return folder
    archive_name = PurePosixPath(urllib.parse.urlparse(source.url).path).name
    archive = download_file(source.url, dest / f"{name}-{archive_name}", sha256=source.sha256, md5=source.md5)
    folder = extract_archive(archive, dest)
    marker.write_text(os.path.relpath(folder, dest) + "\n", encoding="utf-8")
    return folder
