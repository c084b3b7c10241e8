"""asr transcribe's inputs: files, folders (recursive), glob patterns, standard input."""

import io
from pathlib import Path, PurePath

import pytest

from asr.errors import AsrError, AudioError
from asr.inputs import expand_inputs


def touch(path: Path, data: bytes = b"RIFF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """rec/a.wav, rec/sub/b.flac, rec/sub/deep/c.MP3, plus files a folder search must skip."""
    monkeypatch.chdir(tmp_path)
    for name in ("rec/a.wav", "rec/sub/b.flac", "rec/sub/deep/c.MP3", "other/a.wav", "other/x.ogg"):
        touch(tmp_path / name)
    for name in ("rec/notes.txt", "rec/._a.wav", "rec/.hidden/d.wav", "rec/sub/e.wav.bak"):
        touch(tmp_path / name)
    return tmp_path


def expand(args, stdin=None):
    with expand_inputs(args, stdin) as inputs:
        return [(str(i.path), i.name, str(i.output)) for i in inputs]


def test_a_folder_is_searched_recursively_and_its_layout_kept(tree):
    assert expand(["rec"]) == [
        ("rec/a.wav", "rec/a.wav", "a"),
        ("rec/sub/b.flac", "rec/sub/b.flac", "sub/b"),
        ("rec/sub/deep/c.MP3", "rec/sub/deep/c.MP3", "sub/deep/c"),
    ]


def test_files_keep_their_stem_and_any_name(tree):
    touch(tree / "rec" / "noext")
    assert expand(["rec/sub/b.flac", "rec/noext"]) == [
        ("rec/sub/b.flac", "rec/sub/b.flac", "b"), ("rec/noext", "rec/noext", "noext")]


def test_globs_are_expanded_and_filtered_to_audio(tree):
    assert expand(["rec/*"]) == [  # a.wav, notes.txt (dropped) and sub/ (a folder: searched)
        ("rec/a.wav", "rec/a.wav", "a"),
        ("rec/sub/b.flac", "rec/sub/b.flac", "b"),
        ("rec/sub/deep/c.MP3", "rec/sub/deep/c.MP3", "deep/c"),
    ]
    assert [p for p, _, _ in expand(["rec/**/*.flac"])] == ["rec/sub/b.flac"]
    with pytest.raises(AsrError, match=r"^nothing\*\.wav: no file matches this pattern$"):
        expand(["nothing*.wav"])
    with pytest.raises(AsrError, match=r"^rec/\*\.txt: the pattern matches no audio files"):
        expand(["rec/*.txt"])


def test_same_stems_from_different_folders_get_distinct_names(tree):
    # two files named a.wav; a folder and a file both giving 'a'
    assert [o for _, _, o in expand(["rec/a.wav", "other/a.wav"])] == ["rec/a", "other/a"]
    assert [o for _, _, o in expand(["rec", "other"])] == ["rec/a", "sub/b", "sub/deep/c", "other/a", "x"]
    touch(tree / "rec" / "a.flac")
    assert [o for _, _, o in expand(["rec/a.wav", "rec/a.flac"])] == ["a.wav", "a.flac"]


def test_each_file_once(tree):
    assert [p for p, _, _ in expand(["rec/a.wav", "rec", "./rec/a.wav"])] == [
        "rec/a.wav", "rec/sub/b.flac", "rec/sub/deep/c.MP3"]


def test_missing_file_and_folder_without_audio_are_one_line_errors(tree):
    with pytest.raises(AudioError, match=r"^missing\.wav: audio file not found$"):
        expand(["rec/a.wav", "missing.wav"])
    (tree / "empty" / "deeper").mkdir(parents=True)
    touch(tree / "empty" / "deeper" / "readme.txt")
    with pytest.raises(AsrError, match=r"^empty: no audio files \(.flac, .mp3, .ogg, .opus, .wav\) in this folder"):
        expand(["empty"])


def test_stdin_is_copied_to_a_temporary_file_removed_afterwards(tree, monkeypatch):
    import tempfile

    temp_dir = tree / "tmp"
    temp_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_dir))
    data = b"RIFF....WAVEfmt some audio bytes"
    with expand_inputs(["rec/a.wav", "-", "-"], io.BytesIO(data)) as inputs:  # a second '-' reads nothing more
        assert [(i.name, i.output) for i in inputs] == [("rec/a.wav", PurePath("a")), ("<stdin>", PurePath("stdin"))]
        assert inputs[1].path.parent == temp_dir and inputs[1].path.read_bytes() == data
    assert list(temp_dir.iterdir()) == []
    with pytest.raises(AudioError, match=r"^<stdin>: standard input is empty"):
        expand(["-"], io.BytesIO(b""))
    with pytest.raises(AudioError, match="missing.wav"):  # an error after stdin was read still removes the copy
        expand(["-", "missing.wav"], io.BytesIO(data))
    assert list(temp_dir.iterdir()) == []
