"""Downloads and extraction, without the network: ``file://`` URLs to local files stand in for servers."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from asr.data import download
from asr.data.download import CORPUS_URLS, CorpusSource, download_corpus, download_file, extract_archive
from asr.errors import AsrError

PAYLOAD = b"RIFF pretend this is a corpus archive" * 100


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "server" / "data.bin"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_file_copies_and_verifies(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dl" / "data.bin"
    result = download_file(
        source.as_uri(),
        dest,
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        md5=hashlib.md5(PAYLOAD).hexdigest().upper(),  # case of a published checksum must not matter
    )
    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["data.bin"]  # the temporary file was renamed, not copied


@pytest.mark.parametrize("kind", ["sha256", "md5"])
def test_checksum_mismatch_raises_and_leaves_nothing(source: Path, tmp_path: Path, kind: str) -> None:
    dest = tmp_path / "dl" / "data.bin"
    wrong = "0" * (64 if kind == "sha256" else 32)
    with pytest.raises(AsrError, match=f"checksum mismatch, got {kind} {getattr(hashlib, kind)(PAYLOAD).hexdigest()}"):
        download_file(source.as_uri(), dest, **{kind: wrong})
    assert _leftovers(dest.parent) == []


def test_existing_verified_file_is_reused_without_downloading(tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    dest.write_bytes(PAYLOAD)
    gone = (tmp_path / "no-such-file").as_uri()  # any download attempt would fail
    assert download_file(gone, dest, md5=hashlib.md5(PAYLOAD).hexdigest()) == dest
    assert download_file(gone, dest) == dest  # no checksum: an existing file is complete by construction
    assert dest.read_bytes() == PAYLOAD


def test_existing_file_with_wrong_checksum_is_downloaded_again(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"truncated")
    download_file(source.as_uri(), dest, sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert dest.read_bytes() == PAYLOAD


def test_failed_download_raises_asr_error_and_leaves_nothing(tmp_path: Path) -> None:
    url = (tmp_path / "missing.tar.gz").as_uri()
    with pytest.raises(AsrError, match=re.escape(url) + ": download failed"):
        download_file(url, tmp_path / "dl" / "x.tar.gz")
    assert _leftovers(tmp_path / "dl") == []


def test_unsupported_url_scheme(tmp_path: Path) -> None:
    with pytest.raises(AsrError, match="unsupported URL scheme 'gopher'"):
        download_file("gopher://example.org/x", tmp_path / "x")


# --- extraction ------------------------------------------------------------------------------------


def _tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extract_tar_returns_the_single_top_folder(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "c.tar.gz", {"waves/a.wav": b"a", "waves/sub/b.wav": b"b"})
    folder = extract_archive(archive, tmp_path / "out")
    assert folder == tmp_path / "out" / "waves"
    assert (folder / "sub" / "b.wav").read_bytes() == b"b"


def test_extract_zip_with_several_top_entries_returns_dest(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "c.zip", {"a/x.txt": b"x", "README": b"r"})
    assert extract_archive(archive, tmp_path / "out") == tmp_path / "out"
    assert (tmp_path / "out" / "a" / "x.txt").read_bytes() == b"x"


@pytest.mark.parametrize("make", [_tar, _zip])
@pytest.mark.parametrize("evil", ["../evil", "ok/../../evil", "/tmp/evil-abs"])
def test_extraction_guard_rejects_paths_leading_outside(tmp_path: Path, make, evil: str) -> None:
    archive = make(tmp_path / "bad.archive", {"ok/fine.txt": b"fine", evil: b"pwned"})
    dest = tmp_path / "nested" / "out"
    with pytest.raises(AsrError, match="unsafe path"):
        extract_archive(archive, dest)
    assert not (tmp_path / "nested" / "evil").exists() and not (tmp_path / "evil").exists()
    assert _leftovers(dest) == []  # checked before anything is written: not even the harmless member


def test_extraction_guard_rejects_links_leading_outside(tmp_path: Path) -> None:
    ok = _tar(tmp_path / "ok.tar.gz", {"c/data/x": b"x"}, links={"c/link": "data/x"})
    assert (extract_archive(ok, tmp_path / "ok") / "link").read_bytes() == b"x"
    for i, target in enumerate(["../../etc/passwd", "/etc/passwd"]):
        bad = _tar(tmp_path / f"bad{i}.tar.gz", {"c/x": b"x"}, links={"c/link": target})
        with pytest.raises(AsrError, match="points outside the archive"):
            extract_archive(bad, tmp_path / f"bad{i}")
        assert _leftovers(tmp_path / f"bad{i}") == []


def test_extract_rejects_non_archives(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar.gz"
    plain.write_bytes(b"just bytes")
    with pytest.raises(AsrError, match="not a tar or zip archive"):
        extract_archive(plain, tmp_path / "out")


# --- corpora ---------------------------------------------------------------------------------------


def test_corpus_table_has_real_urls_and_well_formed_checksums() -> None:
    assert {"yesno", "speechocean762", "fsdd", "an4", "commonvoice", "librispeech-train-clean-100",
            "librispeech-lm-4gram"} <= set(CORPUS_URLS)
    assert CORPUS_URLS["yesno"].url == "https://www.openslr.org/resources/1/waves_yesno.tar.gz"
    assert CORPUS_URLS["yesno"].md5 == "962ff6e904d2df1126132ecec6978786"
    for name, entry in CORPUS_URLS.items():
        assert entry.url.startswith("https://") or (name == "commonvoice" and entry.url == ""), name
        assert entry.md5 is None or re.fullmatch(r"[0-9a-f]{32}", entry.md5), name
        assert entry.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.sha256), name


def test_download_corpus_downloads_extracts_and_then_reuses(tmp_path: Path, monkeypatch) -> None:
    archive = _tar(tmp_path / "toy.tar.gz", {"toy_corpus/a.wav": b"a", "toy_corpus/b.wav": b"b"})
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(download.CORPUS_URLS, "toy", CorpusSource(archive.as_uri(), md5=md5))
    folder = download_corpus("toy", tmp_path / "corpora")
    assert folder == tmp_path / "corpora" / "toy_corpus"
    assert sorted(p.name for p in folder.iterdir()) == ["a.wav", "b.wav"]
    archive.unlink()  # a second call must not need the source any more
    assert download_corpus("toy", tmp_path / "corpora") == folder


def test_download_corpus_redoes_an_interrupted_extraction(tmp_path: Path, monkeypatch) -> None:
    archive = _tar(tmp_path / "toy.tar.gz", {"toy_corpus/a.wav": b"a"})
    monkeypatch.setitem(download.CORPUS_URLS, "toy", CorpusSource(archive.as_uri()))
    (tmp_path / "corpora" / "toy_corpus").mkdir(parents=True)  # half-extracted: no marker written
    assert (download_corpus("toy", tmp_path / "corpora") / "a.wav").read_bytes() == b"a"


def test_download_corpus_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(AsrError, match="unknown corpus 'timit'; known corpora: an4, commonvoice, fsdd, librispeech-"):
        download_corpus("timit", tmp_path)


def test_asr_download_fetches_a_registered_corpus_and_prints_its_folder(tmp_path: Path, monkeypatch) -> None:
    """The CLI over download_corpus, with the corpus URL pointed at a local archive in the corpus's layout."""
    import tarfile

    from asr.cli import main
    from asr.data import download

    tree = tmp_path / "src" / "waves_yesno"
    tree.mkdir(parents=True)
    (tree / "0_0_1_1_0_0_1_1.wav").write_bytes(b"RIFF")
    archive = tmp_path / "waves_yesno.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="waves_yesno")
    monkeypatch.setitem(download.CORPUS_URLS, "yesno", download.CorpusSource(archive.as_uri()))
    out = tmp_path / "downloads"
    assert main(["download", "yesno", str(out)]) in (0, None)
    assert (out / "waves_yesno" / "0_0_1_1_0_0_1_1.wav").is_file()
    assert (out / ".yesno.extracted").is_file()  # a second call reuses the folder


def test_corpus_registry_names_and_errors(tmp_path: Path) -> None:
    from asr.data.corpora import CORPORA, prepare_corpus
    from asr.errors import AsrError

    assert {"yesno", "fsdd", "speechocean762", "demo"} <= set(CORPORA) and not CORPORA["demo"].needs_source
    with pytest.raises(AsrError, match="unknown corpus 'timit'"):
        prepare_corpus("timit", tmp_path, tmp_path / "out")
    with pytest.raises(AsrError, match="give the corpus folder"):
        prepare_corpus("yesno", None, tmp_path / "out")
