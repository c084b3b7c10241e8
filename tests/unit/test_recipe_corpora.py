"""Downloaders and importers of the large public corpora, on fixture trees in each corpus's true layout.

Each fixture is packed the way the corpus is published (top folder, file names, transcript format, audio
format), served from a file:// URL, downloaded with its checksum, extracted and prepared.
"""

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.data.corpora import prepare_corpus
from asr.data.download import CORPUS_URLS, download_corpus
from asr.data.manifest import read_manifest
from asr.errors import AsrError, ManifestError


def _tone(seconds, rate=16000):
    return (0.1 * np.sin(np.arange(int(seconds * rate)) * 0.05)).astype(np.float32)


def _pack(folder, top, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / top, arcname=top)
    return f"file://{archive}", hashlib.sha256(archive.read_bytes()).hexdigest()


def _librispeech_part(root, part, chapters):
    """LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-NNNN.flac + <speaker>-<chapter>.trans.txt."""
    base = root / "LibriSpeech"
    for name in ("README.TXT", "SPEAKERS.TXT", "CHAPTERS.TXT", "BOOKS.TXT", "LICENSE.TXT"):
        base.mkdir(parents=True, exist_ok=True)
        (base / name).write_text("; fixture\n")
    for (speaker, chapter), lines in chapters.items():
        folder = base / part / speaker / chapter
        folder.mkdir(parents=True)
        trans = []
        for n, text in enumerate(lines):
            uid = f"{speaker}-{chapter}-{n:04d}"
            sf.write(folder / f"{uid}.flac", _tone(0.2 + 0.1 * n), 16000, format="FLAC", subtype="PCM_16")
            trans.append(f"{uid} {text}")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(trans) + "\n")


def test_librispeech_parts_download_verify_extract_and_prepare(tmp_path):
    assert CORPUS_URLS["librispeech-train-clean-100"].url == "https://www.openslr.org/resources/12/train-clean-100.tar.gz"
    assert len(CORPUS_URLS["librispeech-train-clean-100"].sha256) == 64
    dest = tmp_path / "downloads"
    for part, chapters in {
        "dev-clean": {("84", "121123"): ["GO DO YOU HEAR", "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED"]},
        "train-clean-100": {("103", "1240"): ["CHAPTER ONE MISSUS RACHEL LYNDE IS SURPRISED"],
                            ("1034", "121119"): ["A", "THE BOY'S DOG"]},
    }.items():
        src = tmp_path / f"src-{part}"
        _librispeech_part(src, part, chapters)
        url, sha = _pack(src, "LibriSpeech", tmp_path / f"{part}.tar.gz")
        folder = download_corpus(f"librispeech-{part}", dest, url=url, sha256=sha)
        assert folder == dest / "LibriSpeech"  # every part lands in the one LibriSpeech folder
    written = prepare_corpus("librispeech", dest, tmp_path / "data")
    assert sorted(written) == ["dev-clean", "train-100", "train-clean-100"]
    dev = read_manifest(written["dev-clean"])
    assert [(u.id, u.text, u.speaker) for u in dev] == [
        ("84-121123-0000", "GO DO YOU HEAR", "84"),
        ("84-121123-0001", "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED", "84")]
    assert dev[1].duration == pytest.approx(0.3)
    train = read_manifest(written["train-100"])
    assert [u.id for u in train] == ["103-1240-0000", "1034-121119-0000", "1034-121119-0001"]
    assert train[2].text == "THE BOY'S DOG"

    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not the archive")
    with pytest.raises(AsrError, match="checksum mismatch"):
        download_corpus("librispeech-dev-other", tmp_path / "d2", url=f"file://{bad}", sha256="0" * 64)


def test_librispeech_lm_files_are_downloaded_as_they_are(tmp_path):
    assert CORPUS_URLS["librispeech-lm-4gram"].url == "https://www.openslr.org/resources/11/4-gram.arpa.gz"
    vocab = tmp_path / "librispeech-vocab.txt"
    vocab.write_text("A\nABBEY\n")
    path = download_corpus("librispeech-lm-vocab", tmp_path / "lm", url=f"file://{vocab}")
    assert path == tmp_path / "lm" / "librispeech-vocab.txt" and path.read_text() == "A\nABBEY\n"


def test_librispeech_transcript_line_without_its_chapter_prefix_is_a_one_line_error(tmp_path):
    _librispeech_part(tmp_path, "dev-clean", {("84", "121123"): ["HELLO"]})
    trans = tmp_path / "LibriSpeech/dev-clean/84/121123/84-121123.trans.txt"
    trans.write_text("84-999-0000 HELLO\n")
    with pytest.raises(ManifestError, match=r"84-121123.trans.txt:1: expected '<speaker>-<chapter>-<n> TRANSCRIPT'"):
        prepare_corpus("librispeech", tmp_path, tmp_path / "data")


def _an4_tree(root, train_count=103):
    """an4/etc/an4_{train,test}.transcription + an4/wav/an4_clstk/<speaker>/<recording>.sph (NIST SPHERE)."""
    base = root / "an4"
    (base / "etc").mkdir(parents=True)
    (base / "README").write_text("Census (AN4) fixture\n")
    for split, folder, count in (("train", "an4_clstk", train_count), ("test", "an4test_clstk", 3)):
        lines = []
        for i in range(count):
            speaker = ["fash", "mgah", "fcaw"][i % 3]
            recording = f"{'an' if i % 2 else 'cen'}{200 + i}-{speaker}-b"
            wav = base / "wav" / folder / speaker / f"{recording}.sph"
            wav.parent.mkdir(parents=True, exist_ok=True)
            sf.write(wav, (_tone(0.1) * 3000).astype(np.int16), 16000, format="NIST", subtype="PCM_16")
            text = "RUBOUT G M E F THREE NINE" if i % 2 else "ENTER SIX TWO FOUR"
            lines.append(f"<s> {text} </s> ({recording})" if split == "train" else f"{text} ({recording})")
        (base / "etc" / f"an4_{split}.transcription").write_text("\n".join(lines) + "\n")
        (base / "etc" / f"an4_{split}.fileids").write_text("\n".join(f"x/{i}" for i in range(count)) + "\n")


def test_an4_sphere_release_downloads_and_prepares(tmp_path, capsys):
    assert CORPUS_URLS["an4"].url.endswith("/an4_sphere.tar.gz")
    _an4_tree(tmp_path / "src")
    url, sha = _pack(tmp_path / "src", "an4", tmp_path / "an4_sphere.tar.gz")
    assert main(["download", "an4", str(tmp_path / "downloads"), "--url", url, "--sha256", sha]) == 0
    folder = capsys.readouterr().out.strip()
    assert folder == str(tmp_path / "downloads" / "an4")
    assert main(["prepare", "an4", folder, "-o", str(tmp_path / "data")]) == 0
    train, dev, test = (read_manifest(tmp_path / "data" / f"{s}.jsonl") for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (3, 100, 3)
    assert not {u.id for u in train} & {u.id for u in dev}
    first = min(train + dev, key=lambda u: u.id)
    assert dev[0] == first and first.id == "an201-mgah-b" and first.text == "RUBOUT G M E F THREE NINE"
    assert first.speaker == "mgah" and first.duration == pytest.approx(0.1)
    cen = {u.id: u for u in test}["cen200-fash-b"]
    assert cen.audio.endswith("an4/wav/an4test_clstk/fash/cen200-fash-b.sph") and cen.text == "ENTER SIX TWO FOUR"


def test_an4_malformed_transcription_line_is_a_one_line_error(tmp_path):
    _an4_tree(tmp_path, train_count=4)
    (tmp_path / "an4/etc/an4_test.transcription").write_text("ENTER SIX (no-closing-paren\n")
    with pytest.raises(ManifestError, match=r"an4_test.transcription:1: expected"):
        prepare_corpus("an4", tmp_path, tmp_path / "data")


def test_common_voice_release_downloads_from_the_given_link_and_imports(tmp_path, capsys):
    """cv-corpus-<version>/<lang>/{train,dev,test,validated}.tsv, clips/*.mp3, clip_durations.tsv."""
    release = tmp_path / "src" / "cv-corpus-17.0-2024-03-15"
    lang = release / "en"
    (lang / "clips").mkdir(parents=True)
    header = "\t".join(["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
                        "age", "gender", "accents", "variant", "locale", "segment"])  # release 17's columns
    durations = ["clip\tduration[ms]"]
    rows = {"train": [], "dev": [], "test": []}
    for i, split in enumerate(["train", "train", "dev", "test"]):
        name = f"common_voice_en_{1000 + i}.mp3"
        sf.write(lang / "clips" / name, _tone(0.5), 16000, format="MP3")
        durations.append(f"{name}\t{500 + i}")
        rows[split].append(f"c{i}ab\t{name}\ts{i}\tHello \"world\" number {i}.\t\t2\t0\t\t\t\t\ten\t")
    for split, lines in rows.items():
        (lang / f"{split}.tsv").write_text("\n".join([header] + lines) + "\n")
    (lang / "validated.tsv").write_text("\n".join([header] + rows["train"] + rows["dev"] + rows["test"]) + "\n")
    (lang / "clip_durations.tsv").write_text("\n".join(durations) + "\n")
    url, sha = _pack(tmp_path / "src", release.name, tmp_path / "cv-corpus-17.0-2024-03-15-en.tar.gz")

    assert main(["download", "commonvoice", str(tmp_path / "dl")]) == 2
    assert "give the download link with --url" in capsys.readouterr().err
    assert main(["download", "commonvoice", str(tmp_path / "dl"), "--url", url, "--sha256", sha]) == 0
    folder = capsys.readouterr().out.strip()
    assert folder == str(tmp_path / "dl" / release.name)
    for split in ("train", "dev", "test"):
        assert main(["prepare", "commonvoice", f"{folder}/en/{split}.tsv", "-o", str(tmp_path / f"{split}.jsonl")]) == 0
    train = read_manifest(tmp_path / "train.jsonl")
    assert [(u.id, u.text, u.speaker, u.duration) for u in train] == [
        ("common_voice_en_1000", 'Hello "world" number 0.', "c0ab", 0.5),
        ("common_voice_en_1001", 'Hello "world" number 1.', "c1ab", 0.501)]
    assert [u.id for u in read_manifest(tmp_path / "test.jsonl")] == ["common_voice_en_1003"]
    assert json.loads((tmp_path / "dev.jsonl").read_text())["audio"].endswith("clips/common_voice_en_1002.mp3")


ROOT = Path(__file__).resolve().parents[2]


def _recipe_copy(tmp_path, name):
    """The recipe's run.sh beside a copy of recipes/common.sh, so its data/ and downloads/ land in tmp_path."""
    (tmp_path / "recipes" / name).mkdir(parents=True)
    shutil.copy(ROOT / "recipes" / "common.sh", tmp_path / "recipes" / "common.sh")
    shutil.copy(ROOT / "recipes" / name / "run.sh", tmp_path / "recipes" / name / "run.sh")
    return tmp_path / "recipes" / name


def _run(script, *args):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_an4_recipe_stages_0_and_1_run_on_the_fixture_archive(tmp_path):
    _an4_tree(tmp_path / "src")
    url, _ = _pack(tmp_path / "src", "an4", tmp_path / "an4_sphere.tar.gz")
    recipe = _recipe_copy(tmp_path, "an4")
    _run(recipe / "run.sh", "--stop-stage", "1", "--url", url)
    assert len(read_manifest(recipe / "data" / "dev.jsonl")) == 100
    assert len(read_manifest(recipe / "data" / "test.jsonl")) == 3


def test_librispeech_recipe_stages_1_and_2_write_manifests_shards_and_lower_case_lms(tmp_path):
    recipe = _recipe_copy(tmp_path, "librispeech")
    _librispeech_part(recipe / "downloads", "train-clean-100", {("19", "198"): ["NORTHANGER ABBEY", "CHAPTER ONE"]})
    (recipe / "downloads" / "lm").mkdir()
    for lm in ("4-gram", "3-gram.pruned.1e-7"):
        with gzip.open(recipe / "downloads" / "lm" / f"{lm}.arpa.gz", "wt") as handle:
            handle.write("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\tABBEY\n\n\\end\\\n")
    _run(recipe / "run.sh", "--stage", "1", "--stop-stage", "2")
    assert [u.text for u in read_manifest(recipe / "data" / "train-100.jsonl")] == ["NORTHANGER ABBEY", "CHAPTER ONE"]
    index = json.loads((recipe / "data" / "shards" / "train-100" / "index.json").read_text())
    assert index["utterances"] == 2
    assert "-1.0\tabbey" in (recipe / "data" / "lm" / "4-gram.arpa").read_text()
